// Activation functions: sigmoid, tanh, SiLU, GELU (erf and tanh forms), QuickGELU, ReLU, LeakyReLU.
//
// SiLU runs on every decoder feature map of the VQGAN (up to 256x256x128), so it has its own
// kernel with a polynomial exp that LLVM vectorises; the rest go through `unaryOp`.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// e^x without a libm call, branch-free so that loops over it vectorise. Relative error about
/// 2e-7 on the whole range; returns 0 below -87.3 (where e^x would be subnormal) and saturates
/// at e^88.3 instead of overflowing.
@inline(__always)
func fastExp(_ x: Float) -> Float {
    let hi: Float = 88.3, lo: Float = -87.3
    let xc = x > hi ? hi : (x < lo ? lo : x)
    // n = round(x / ln2) by the 1.5·2^23 trick; its low mantissa bits then hold n as an integer.
    let magic: Float = 12582912
    let t = xc * 1.44269504 + magic
    let n = t - magic
    let ni = Int32(bitPattern: t.bitPattern) &- 0x4B40_0000
    // r = x - n·ln2 in two parts (Cody-Waite) keeps r exact to Float precision; |r| <= ln2/2.
    let r = (xc - n * 0.693359375) - n * -2.12194440e-4
    // Taylor series of e^r to degree 7: truncation error < 1e-8 on |r| <= 0.347.
    var p: Float = 1.98412698e-4
    p = p * r + 1.38888889e-3
    p = p * r + 8.33333333e-3
    p = p * r + 4.16666667e-2
    p = p * r + 1.66666667e-1
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    let scale = Float(bitPattern: UInt32(bitPattern: (ni &+ 127) &<< 23))
    let y = p * scale
    return x < lo ? 0 : y
}

/// Logistic function 1/(1+e^-x), safe for any x (the exp saturates instead of overflowing).
@inline(__always)
func fastSigmoid(_ x: Float) -> Float { 1 / (1 + fastExp(-x)) }

/// An activation x·sigmoid(β·x): its value and derivative at x. A type rather than closures so
/// that ``sigmoidGated(_:_:)`` is specialised per activation and its loops stay vectorisable.
protocol SigmoidGate: Sendable {
    static func value(_ x: Float) -> Float
    static func derivative(_ x: Float) -> Float
}

/// SiLU, β = 1: d/dx x·s(x) = s·(1 + x·(1 − s)).
enum SiLUGate: SigmoidGate {
    @inline(__always) static func value(_ x: Float) -> Float { x * fastSigmoid(x) }
    @inline(__always) static func derivative(_ x: Float) -> Float {
        let s = fastSigmoid(x)
        return s * (1 + x * (1 - s))
    }
}

/// QuickGELU, β = 1.702: d/dx x·s(1.702x) = s + 1.702·x·s·(1 − s).
enum QuickGELUGate: SigmoidGate {
    @inline(__always) static func value(_ x: Float) -> Float { x * fastSigmoid(1.702 * x) }
    @inline(__always) static func derivative(_ x: Float) -> Float {
        let s = fastSigmoid(1.702 * x)
        return s + 1.702 * x * s * (1 - s)
    }
}

/// The elementwise kernel of a sigmoid-gated activation, x, y: any shape. Backward recomputes the
/// sigmoid rather than storing it (saves 4 bytes per element).
func sigmoidGated<Gate: SigmoidGate>(_ x: Tensor, _: Gate.Type) -> Tensor {
    let count = x.count
    var out = uninitializedFloats(count)
    x.data.withUnsafeBufferPointer { px in
        out.withUnsafeMutableBufferPointer { po in
            let X = SendableConstPointer(px.baseAddress!), O = SendablePointer(po.baseAddress!)
            Parallel.chunks(count, costPerItem: 8) { r in
                let xp = X.pointer, op = O.pointer
                for i in r { op[i] = Gate.value(xp[i]) }
            }
        }
    }
    return Tensor(shape: x.shape, data: out, parents: [x]) { g in
        x.accumulateGrad(overwritingFresh: { dst, fresh in
            x.data.withUnsafeBufferPointer { px in
                let X = SendableConstPointer(px.baseAddress!), G = SendableConstPointer(g.baseAddress!)
                let D = SendablePointer(dst.baseAddress!)
                Parallel.chunks(count, costPerItem: 10) { r in
                    let xp = X.pointer, gp = G.pointer, dp = D.pointer
                    if fresh {
                        for i in r { dp[i] = gp[i] * Gate.derivative(xp[i]) }
                    } else {
                        for i in r { dp[i] += gp[i] * Gate.derivative(xp[i]) }
                    }
                }
            }
        })
    }
}

extension Tensor {
    /// Logistic sigmoid 1/(1+e^-x).
    public func sigmoid() -> Tensor {
        unaryOp(self, { fastSigmoid($0) }, derivative: { _, y in y * (1 - y) })
    }

    /// Hyperbolic tangent.
    public func tanh() -> Tensor {
        unaryOp(self, { tanhf($0) }, derivative: { _, y in 1 - y * y })
    }

    /// SiLU (swish): x·sigmoid(x). Dedicated vectorisable kernel; finite for every finite x.
    public func silu() -> Tensor { sigmoidGated(self, SiLUGate.self) }

    /// Alias of ``silu()``.
    public func swish() -> Tensor { silu() }

    /// GELU. By default the exact form x·Φ(x) = x·(1 + erf(x/√2))/2 (PyTorch's default); with
    /// `approximateTanh` the tanh approximation 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))).
    public func gelu(approximateTanh: Bool = false) -> Tensor {
        if approximateTanh {
            let k: Float = 0.7978845608028654  // sqrt(2/pi)
            return unaryOp(self, { x in
                0.5 * x * (1 + tanhf(k * (x + 0.044715 * x * x * x)))
            }, derivative: { x, _ in
                let t = tanhf(k * (x + 0.044715 * x * x * x))
                return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
            })
        }
        return unaryOp(self, { x in
            0.5 * x * (1 + erff(x * 0.7071067811865476))
        }, derivative: { x, _ in
            // Φ(x) + x·φ(x)
            0.5 * (1 + erff(x * 0.7071067811865476)) + x * 0.3989422804014327 * expf(-0.5 * x * x)
        })
    }

    /// QuickGELU as used by OpenAI CLIP: x·sigmoid(1.702x). Dedicated vectorisable kernel (it runs
    /// on every CLIP MLP hidden layer, [cutouts·tokens, 4·width]).
    public func quickGELU() -> Tensor { sigmoidGated(self, QuickGELUGate.self) }

    /// max(x, 0). The gradient at exactly 0 is 0, as in PyTorch.
    public func relu() -> Tensor {
        unaryOp(self, { x in x > 0 ? x : 0 }, derivative: { x, _ in x > 0 ? 1 : 0 })
    }

    /// x for x > 0, otherwise slope·x (the PatchGAN discriminator uses slope 0.2).
    public func leakyReLU(_ slope: Float = 0.01) -> Tensor {
        unaryOp(self, { x in x > 0 ? x : slope * x }, derivative: { x, _ in x > 0 ? 1 : slope })
    }
}
