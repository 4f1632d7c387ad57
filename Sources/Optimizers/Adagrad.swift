// Adagrad (Duchi et al.) as torch.optim.Adagrad computes it (no learning-rate decay, no weight
// decay, accumulator starting at zero): sum ← sum + g², p ← p − lr · g / (√sum + ε).

import Tensors

/// Adagrad over a fixed list of leaf tensors; the VQGAN+CLIP tools use it for story and zoom runs.
public final class Adagrad: Optimizer {
    public var learningRate: Float
    /// Added to the denominator for stability (PyTorch's default 1e-10).
    public let epsilon: Float
    public let parameters: [Tensor]
    public private(set) var stepCounts: [Int]
    private var sums: [[Float]]

    public init(parameters: [Tensor], learningRate: Float = 1e-2, epsilon: Float = 1e-10) {
        precondition(parameters.allSatisfy(\.requiresGrad), "Adagrad: every parameter must require a gradient")
        self.parameters = parameters
        self.learningRate = learningRate
        self.epsilon = epsilon
        stepCounts = Array(repeating: 0, count: parameters.count)
        sums = parameters.map { [Float](repeating: 0, count: $0.count) }
    }

    public func step() {
        for (k, p) in parameters.enumerated() {
            guard let grad = p.gradData else { continue }
            stepCounts[k] += 1
            let (lr, eps) = (learningRate, epsilon)
            sums[k].withUnsafeMutableBufferPointer { s in
                p.data.withUnsafeMutableBufferPointer { x in
                    for i in 0..<x.count {
                        s[i] += grad[i] * grad[i]
                        x[i] -= lr * grad[i] / (s[i].squareRoot() + eps)
                    }
                }
            }
        }
    }

    public var state: OptimizerState { OptimizerState(kind: "adagrad", stepCounts: stepCounts, buffers: ["sum": sums]) }

    public func restore(_ state: OptimizerState) throws {
        try state.validate(kind: "adagrad", counts: parameters.map(\.count), names: ["sum"])
        stepCounts = state.stepCounts
        sums = state.buffers["sum"]!
    }
}
