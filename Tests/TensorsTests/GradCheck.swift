// Finite-difference gradient checking shared by every op test.
//
// The loss is L = Σ f(x)ᵢ·Rᵢ with a fixed random R, so every output element matters and errors
// cannot cancel. The analytic gradient comes from backward(seed: R); the numeric one from the
// central difference (L(x+ε) − L(x−ε)) / 2ε with L accumulated in Double. Tolerance: an element
// passes when |analytic − numeric| ≤ atol + rtol·max(|analytic|, |numeric|).

import Testing
import TestSupport
@testable import Tensors

struct GradTolerance {
    var eps: Float = 1e-2
    var rtol: Float = 1e-2
    var atol: Float = 1e-3
    static let standard = GradTolerance()
}

/// Checks ∂/∂input of `f` for every input that requires a gradient. At most `maxChecks` elements
/// per input are probed (evenly spread), which keeps large inputs cheap.
func expectGradientsMatch(_ inputs: [Tensor], tolerance: GradTolerance = .standard, maxChecks: Int = 48,
                          seed: UInt64 = 99, sourceLocation: SourceLocation = #_sourceLocation,
                          _ f: ([Tensor]) -> Tensor) {
    for x in inputs { x.zeroGrad() }
    let y = f(inputs)
    let r = Tensor.randn(y.shape, seed: seed).data
    y.backward(seed: r)

    func loss() -> Double {
        Autograd.withoutGrad {
            let out = f(inputs).data
            var acc = 0.0
            for i in 0..<out.count { acc += Double(out[i]) * Double(r[i]) }
            return acc
        }
    }

    for (k, x) in inputs.enumerated() where x.requiresGrad {
        guard let analytic = x.gradData else {
            Issue.record("input \(k) received no gradient", sourceLocation: sourceLocation)
            continue
        }
        let step = max(1, x.count / maxChecks)
        for i in stride(from: 0, to: x.count, by: step) {
            let saved = x.data[i]
            x.data[i] = saved + tolerance.eps
            let plus = loss()
            x.data[i] = saved - tolerance.eps
            let minus = loss()
            x.data[i] = saved
            let numeric = Float((plus - minus) / (2 * Double(tolerance.eps)))
            let err = abs(analytic[i] - numeric)
            let bound = tolerance.atol + tolerance.rtol * max(abs(analytic[i]), abs(numeric))
            if err > bound {
                Issue.record("input \(k) element \(i): analytic \(analytic[i]) numeric \(numeric)",
                             sourceLocation: sourceLocation)
                return
            }
        }
    }
}

/// A leaf that requires a gradient, filled with seeded uniform values in [low, high).
func param(_ shape: [Int], seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor {
    Tensor.uniform(shape, low: low, high: high, seed: seed, requiresGrad: true)
}
