// Elementwise math (pow, sqrt, clamp, arcsin, abs) and L2 normalisation along an axis
// (F.normalize), used by the CLIP feature and spherical-distance losses.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Tensor {
    /// x raised to a constant power. Integer powers of negative x behave as in PyTorch;
    /// non-integer powers of negative x give NaN.
    public func pow(_ exponent: Float) -> Tensor {
        if exponent == 2 { return unaryOp(self, { $0 * $0 }, derivative: { x, _ in 2 * x }) }
        return unaryOp(self, { powf($0, exponent) }, derivative: { x, _ in exponent * powf(x, exponent - 1) })
    }

    /// Square root (gradient 1/(2√x), infinite at 0).
    public func sqrt() -> Tensor {
        unaryOp(self, { $0.squareRoot() }, derivative: { _, y in 0.5 / y })
    }

    /// Limits values to [min, max]. The gradient passes where min < x < max and is zero outside
    /// (and at the bounds themselves).
    public func clamped(min lo: Float = -.infinity, max hi: Float = .infinity) -> Tensor {
        precondition(lo <= hi, "clamped: min \(lo) > max \(hi)")
        return unaryOp(self, { x in x < lo ? lo : (x > hi ? hi : x) },
                       derivative: { x, _ in x > lo && x < hi ? 1 : 0 })
    }

    /// Inverse sine for |x| < 1 (gradient 1/√(1 − x²)).
    public func arcsin() -> Tensor {
        unaryOp(self, { asinf($0) }, derivative: { x, _ in 1 / (1 - x * x).squareRoot() })
    }

    /// Absolute value; the gradient is sign(x), 0 at x = 0 as in PyTorch.
    public func abs() -> Tensor {
        unaryOp(self, { $0 < 0 ? -$0 : $0 }, derivative: { x, _ in x > 0 ? 1 : (x < 0 ? -1 : 0) })
    }

    /// x / max(‖x‖₂, eps) along `axis`, like `torch.nn.functional.normalize(x, dim: axis, eps:)`.
    public func l2Normalized(axis: Int = -1, eps: Float = 1e-12) -> Tensor {
        let a = normalizeAxis(axis, rank: rank)
        let (outer, n, inner) = splitAroundAxis(shape, a)
        let lines = outer * inner
        var out = [Float](repeating: 0, count: count)
        // Denominator max(‖x‖, eps) per line, and whether the norm was above eps (for backward).
        var denom = [Float](repeating: 0, count: lines)
        // x: [outer, n, inner]; the norm is taken over n.
        data.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                denom.withUnsafeMutableBufferPointer { pd in
                    let X = SendableConstPointer(px.baseAddress!), O = SendablePointer(po.baseAddress!)
                    let DN = SendablePointer(pd.baseAddress!)
                    Parallel.chunks(lines, costPerItem: 3 * n) { range in
                        for line in range {
                            let off = (line / inner) * n * inner + line % inner
                            var ss = 0.0
                            for j in 0..<n { let v = Double(X[off + j * inner]); ss += v * v }
                            let norm = Float(ss.squareRoot())
                            let dnm = norm > eps ? norm : eps
                            DN[line] = dnm
                            let inv = 1 / dnm
                            for j in 0..<n { O[off + j * inner] = X[off + j * inner] * inv }
                        }
                    }
                }
            }
        }
        let y = out, x = self
        return Tensor(shape: shape, data: out, parents: [self]) { g in
            // Above eps: dx = (g − y·Σ g·y) / ‖x‖. Clamped at eps the denominator is constant: dx = g / eps.
            x.accumulateGrad { dst in
                y.withUnsafeBufferPointer { py in
                    denom.withUnsafeBufferPointer { pd in
                        let Y = SendableConstPointer(py.baseAddress!), G = SendableConstPointer(g.baseAddress!)
                        let D = SendablePointer(dst.baseAddress!), DN = SendableConstPointer(pd.baseAddress!)
                        Parallel.chunks(lines, costPerItem: 4 * n) { range in
                            for line in range {
                                let off = (line / inner) * n * inner + line % inner
                                let dnm = DN[line], inv = 1 / dnm
                                var dot: Float = 0
                                if dnm > eps { for j in 0..<n { dot += G[off + j * inner] * Y[off + j * inner] } }
                                for j in 0..<n {
                                    let k = off + j * inner
                                    D[k] += (G[k] - Y[k] * dot) * inv
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
