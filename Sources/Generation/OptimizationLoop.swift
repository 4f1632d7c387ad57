// The optimisation loop every generator shares: parameter → image → loss → backward → optimiser
// step → projection. What the parameter is (a VQGAN latent, a small pixel grid) and what the loss
// scores (CLIP prompts, a target image) are values handed in; the loop knows nothing of files or
// printing.

import Optimizers
import Tensors

/// A loss value and its named parts (one per prompt, regulariser...), for reporting.
public struct LossReport: Sendable {
    public var total: Float
    public var terms: [(name: String, value: Float)]

    public init(total: Float, terms: [(name: String, value: Float)] = []) {
        self.total = total
        self.terms = terms
    }
}

/// A loss that is not a finite number: the run stops and keeps the last good parameter.
public struct NonFiniteLossError: Error, CustomStringConvertible, Sendable {
    public let step: Int
    public let loss: Float
    public var description: String {
        "the loss became \(loss) at step \(step); the image of step \(step - 1) was kept (try a lower learning rate)"
    }
}

/// Drives one parameter tensor through render → loss → update steps.
public final class OptimizationLoop {
    /// The optimised leaf tensor.
    public let parameter: Tensor
    public let optimizer: Optimizer
    /// parameter → image [1, 3, H, W] in [0, 1] (differentiable).
    private let render: (Tensor) -> Tensor
    /// (image, step index from 0) → scalar loss tensor and its parts.
    private let loss: (Tensor, Int) throws -> (Tensor, [(name: String, value: Float)])
    /// Applied to the parameter after each update, outside the graph (e.g. clamping a latent).
    private let project: ((Tensor) -> Void)?
    /// Updates taken so far.
    public var step: Int

    public init(parameter: Tensor, optimizer: Optimizer, startingAt step: Int = 0,
                render: @escaping (Tensor) -> Tensor,
                loss: @escaping (Tensor, Int) throws -> (Tensor, [(name: String, value: Float)]),
                project: ((Tensor) -> Void)? = nil) {
        precondition(parameter.requiresGrad, "the optimised parameter must require a gradient")
        self.parameter = parameter
        self.optimizer = optimizer
        self.step = step
        self.render = render
        self.loss = loss
        self.project = project
    }

    /// Takes one update. The loss is measured on the image before the update. A non-finite
    /// loss throws ``NonFiniteLossError`` before anything changes.
    @discardableResult
    public func takeStep() throws -> LossReport {
        optimizer.zeroGrad()
        let image = render(parameter)
        let (objective, terms) = try loss(image, step)
        let value = objective.item
        guard value.isFinite else { throw NonFiniteLossError(step: step + 1, loss: value) }
        objective.backward()
        if let grad = parameter.gradData, !grad.allSatisfy(\.isFinite) {
            parameter.zeroGrad()
            throw NonFiniteLossError(step: step + 1, loss: .nan)
        }
        optimizer.step()
        Autograd.withoutGrad { project?(parameter) }
        step += 1
        return LossReport(total: value, terms: terms)
    }

    /// The image the parameter currently gives, without recording a graph.
    public func currentImage() -> Tensor {
        Autograd.withoutGrad { render(parameter) }
    }
}
