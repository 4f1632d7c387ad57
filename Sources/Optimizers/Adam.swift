// Adam (Kingma & Ba), with the same update order and bias correction as torch.optim.Adam, so
// that learning rates and step counts carry over from the Python tools.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Tensors

/// Adam over a fixed list of leaf tensors that require gradients. Each ``step()`` reads every
/// parameter's accumulated `grad`, updates `data` in place and leaves the gradient alone; call
/// ``zeroGrad()`` before the next backward. Parameters without a gradient are skipped (and do not
/// advance their moment estimates), as in PyTorch.
public final class Adam {
    /// Step size (PyTorch `lr`).
    public var learningRate: Float
    /// Decay of the first-moment (mean) estimate.
    public let beta1: Float
    /// Decay of the second-moment (uncentred variance) estimate.
    public let beta2: Float
    /// Added to the denominator for stability.
    public let epsilon: Float
    /// L2 penalty added to the gradient (PyTorch Adam's `weight_decay`, not AdamW's decoupled form).
    public let weightDecay: Float
    /// The parameters being optimised.
    public let parameters: [Tensor]
    /// Number of updates taken per parameter.
    public private(set) var stepCounts: [Int]

    private var firstMoments: [[Float]]
    private var secondMoments: [[Float]]

    public init(parameters: [Tensor], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0) {
        precondition(parameters.allSatisfy(\.requiresGrad), "Adam: every parameter must require a gradient")
        precondition((0..<1).contains(beta1) && (0..<1).contains(beta2), "Adam: betas must be in [0, 1)")
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        stepCounts = Array(repeating: 0, count: parameters.count)
        firstMoments = parameters.map { [Float](repeating: 0, count: $0.count) }
        secondMoments = parameters.map { [Float](repeating: 0, count: $0.count) }
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
            let (b1, b2, eps, wd) = (beta1, beta2, epsilon, weightDecay)
            firstMoments[k].withUnsafeMutableBufferPointer { m in
                secondMoments[k].withUnsafeMutableBufferPointer { v in
                    p.data.withUnsafeMutableBufferPointer { x in
                        for i in 0..<x.count {
                            let g = grad[i] + wd * x[i]
                            m[i] = b1 * m[i] + (1 - b1) * g
                            v[i] = b2 * v[i] + (1 - b2) * g * g
                            x[i] -= stepSize * m[i] / (v[i].squareRoot() / rootCorrection + eps)
                        }
                    }
                }
            }
        }
    }

    /// Clears every parameter's accumulated gradient.
    public func zeroGrad() {
        for p in parameters { p.zeroGrad() }
    }
}
