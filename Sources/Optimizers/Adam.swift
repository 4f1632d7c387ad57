// Adam (Kingma & Ba) and AdamW (Loshchilov & Hutter), with the same update order and bias
// correction as torch.optim.Adam / AdamW, so that learning rates and step counts carry over from
// the Python tools.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Tensors

/// Adam over a fixed list of leaf tensors that require gradients. Each ``step()`` reads every
/// parameter's accumulated `grad`, updates `data` in place and leaves the gradient alone; call
/// ``Optimizer/zeroGrad()`` before the next backward. Parameters without a gradient are skipped
/// (and do not advance their moment estimates), as in PyTorch.
public final class Adam: Optimizer {
    /// Step size (PyTorch `lr`).
    public var learningRate: Float
    /// Decay of the first-moment (mean) estimate.
    public let beta1: Float
    /// Decay of the second-moment (uncentred variance) estimate.
    public let beta2: Float
    /// Added to the denominator for stability.
    public let epsilon: Float
    /// Weight decay: an L2 penalty added to the gradient (PyTorch Adam), or with `decoupled` a
    /// shrink p ← p·(1 − lr·wd) before the update (PyTorch AdamW).
    public let weightDecay: Float
    /// True for AdamW's decoupled weight decay.
    public let decoupled: Bool
    /// The parameters being optimised.
    public let parameters: [Tensor]
    /// Number of updates taken per parameter.
    public private(set) var stepCounts: [Int]

    private var firstMoments: [[Float]]
    private var secondMoments: [[Float]]

    public init(parameters: [Tensor], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0, decoupled: Bool = false) {
        precondition(parameters.allSatisfy(\.requiresGrad), "Adam: every parameter must require a gradient")
        precondition((0..<1).contains(beta1) && (0..<1).contains(beta2), "Adam: betas must be in [0, 1)")
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupled = decoupled
        stepCounts = Array(repeating: 0, count: parameters.count)
        firstMoments = parameters.map { [Float](repeating: 0, count: $0.count) }
        secondMoments = parameters.map { [Float](repeating: 0, count: $0.count) }
    }

    /// AdamW with PyTorch's defaults (weight decay 0.01).
    public static func adamW(parameters: [Tensor], learningRate: Float = 1e-3, weightDecay: Float = 0.01) -> Adam {
        Adam(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay, decoupled: true)
    }

    /// Applies one update from the current gradients:
    /// m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²,
    /// p ← p − lr/(1−β1ᵗ) · m / (√v / √(1−β2ᵗ) + ε).
    public func step() {
        for (k, p) in parameters.enumerated() {
            guard let grad = p.gradData else { continue }
            stepCounts[k] += 1
            let t = Float(stepCounts[k])
            let stepSize = learningRate / (1 - powf(beta1, t))
            let rootCorrection = (1 - powf(beta2, t)).squareRoot()
            let (b1, b2, eps) = (beta1, beta2, epsilon)
            let l2: Float = decoupled ? 0 : weightDecay
            let shrink: Float = decoupled ? 1 - learningRate * weightDecay : 1
            firstMoments[k].withUnsafeMutableBufferPointer { m in
                secondMoments[k].withUnsafeMutableBufferPointer { v in
                    p.data.withUnsafeMutableBufferPointer { x in
                        for i in 0..<x.count {
                            let g = grad[i] + l2 * x[i]
                            x[i] *= shrink
                            m[i] = b1 * m[i] + (1 - b1) * g
                            v[i] = b2 * v[i] + (1 - b2) * g * g
                            x[i] -= stepSize * m[i] / (v[i].squareRoot() / rootCorrection + eps)
                        }
                    }
                }
            }
        }
    }

    private var kind: String { decoupled ? "adamw" : "adam" }

    public var state: OptimizerState {
        OptimizerState(kind: kind, stepCounts: stepCounts,
                       buffers: ["exp_avg": firstMoments, "exp_avg_sq": secondMoments])
    }

    public func restore(_ state: OptimizerState) throws {
        try state.validate(kind: kind, counts: parameters.map(\.count), names: ["exp_avg", "exp_avg_sq"])
        stepCounts = state.stepCounts
        firstMoments = state.buffers["exp_avg"]!
        secondMoments = state.buffers["exp_avg_sq"]!
    }
}
