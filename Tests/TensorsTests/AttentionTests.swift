// Softmax, log-softmax and scaled dot-product attention: forward against PyTorch, the fused op
// against a composition of matmul and softmax, and gradients for q, k, v.

import Testing
import TestSupport
@testable import Tensors

@Suite("Softmax")
struct SoftmaxTests {
    // s = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]])
    static var s: Tensor { Tensor(shape: [2, 3], data: [1, 2, 3, -1, 0.5, 0]) }

    @Test func forwardMatchesTorch() {
        // torch.softmax(s, 1)
        assertClose(Self.s.softmax(axis: 1).data, [0.090030573, 0.24472848, 0.66524094, 0.12195165, 0.54654938, 0.33149895],
                    atol: 1e-7, rtol: 2e-6)
        // torch.softmax(s, 0)
        assertClose(Self.s.softmax(axis: 0).data, [0.88079703, 0.81757444, 0.95257413, 0.11920292, 0.18242551, 0.047425874],
                    atol: 1e-7, rtol: 2e-6)
        // torch.log_softmax(s, 1)
        assertClose(Self.s.logSoftmax().data, [-2.4076059, -1.4076059, -0.40760595, -2.1041307, -0.60413063, -1.1041306],
                    atol: 1e-6, rtol: 2e-6)
    }

    @Test func stableForLargeLogits() {
        let big = Tensor(shape: [3], data: [1000, 1001, 1002]).softmax()
        let small = Tensor(shape: [3], data: [0, 1, 2]).softmax()
        assertClose(big.data, small.data, atol: 1e-7, rtol: 1e-6)
        let masked = Tensor(shape: [3], data: [-.infinity, 0, 0]).softmax()
        #expect(masked.data == [0, 0.5, 0.5])
        #expect(Tensor(shape: [2], data: [-1e4, 1e4]).logSoftmax().data.allSatisfy { $0.isFinite })
    }

    @Test func gradientsMatchFiniteDifferences() {
        let x = param([3, 4, 5], seed: 41, low: -2, high: 2)
        expectGradientsMatch([x]) { $0[0].softmax(axis: -1) }
        expectGradientsMatch([x]) { $0[0].softmax(axis: 1) }
        expectGradientsMatch([x]) { $0[0].softmax(axis: 0) }
        expectGradientsMatch([x]) { $0[0].logSoftmax(axis: -1) }
        expectGradientsMatch([x]) { $0[0].logSoftmax(axis: 1) }
    }
}

@Suite("Attention")
struct AttentionTests {
    // q = sin(arange(24)*0.7).reshape(1,2,3,4); k = cos(arange(32)*0.3).reshape(1,2,4,4)
    // v = sin(arange(16)*0.5+1).reshape(1,2,4,2)
    static var q: Tensor { Tensor(shape: [1, 2, 3, 4], data: sinSequence(24, step: 0.7)) }
    static var k: Tensor { Tensor(shape: [1, 2, 4, 4], data: cosSequence(32, step: 0.3)) }
    static var v: Tensor { Tensor(shape: [1, 2, 4, 2], data: sinSequence(16, step: 0.5, phase: 1)) }

    @Test func forwardMatchesTorch() {
        // Reference: torch.softmax(q @ k.transpose(-1,-2) * scale + mask, -1) @ v (torch 1.13 has no
        // F.scaled_dot_product_attention; this is its definition).
        let y = Tensor.scaledDotProductAttention(Self.q, Self.k, Self.v)
        #expect(y.shape == [1, 2, 3, 2])
        assertClose(y.data, [0.59182239, 0.57205766, 0.19095001, -0.13807598, 0.28452635, 0.14470389,
                             0.29513055, 0.4854807, 0.078636244, 0.23378752, -0.018576361, 0.29789978],
                    atol: 1e-6, rtol: 1e-5)

        // mask = [[0, -1, 0.5, -inf], [0.2, 0, -inf, 1], [0, 0, 0, 0]], scale 0.3
        let mask = Tensor(shape: [3, 4], data: [0, -1, 0.5, -.infinity, 0.2, 0, -.infinity, 1, 0, 0, 0, 0])
        let ym = Tensor.scaledDotProductAttention(Self.q, Self.k, Self.v, mask: mask, scale: 0.3)
        assertClose(ym.data, [0.65601611, 0.58476716, -0.11486098, -0.29909325, 0.28072309, 0.11015335,
                              0.15892833, 0.45773643, 0.28826857, 0.31607473, 0.019060791, 0.29771167],
                    atol: 1e-6, rtol: 1e-5)

        // q2 = sin(arange(24)*0.7).reshape(1,2,4,3); k2 = cos(arange(24)*0.3).reshape(1,2,4,3); causal
        // (scores above the diagonal filled with -inf before the softmax)
        let q2 = Tensor(shape: [1, 2, 4, 3], data: sinSequence(24, step: 0.7))
        let k2 = Tensor(shape: [1, 2, 4, 3], data: cosSequence(24, step: 0.3))
        let yc = Tensor.scaledDotProductAttention(q2, k2, Self.v, causal: true)
        assertClose(yc.data, [0.84147096, 0.997495, 0.87283802, 0.81296265, 0.36594686, -0.027971849,
                              0.63559133, 0.55414146, -0.95892429, -0.7055403, -0.79151905, -0.47872448,
                              0.16323441, 0.50469971, 0.36378464, 0.50809985],
                    atol: 1e-6, rtol: 1e-5)
    }

    /// The same attention written as matmul → scale → (+mask) → softmax → matmul.
    static func composed(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor?, scale: Float) -> Tensor {
        var s = Tensor.matmul(q, k, transposeB: true) * scale
        if let mask { s = s + mask }
        return Tensor.matmul(s.softmax(axis: -1), v)
    }

    @Test func fusedMatchesComposition() {
        // Multi-head, Lq != Lk, Dv != D, additive mask, explicit scale.
        let q = param([2, 3, 5, 4], seed: 51), k = param([2, 3, 6, 4], seed: 52), v = param([2, 3, 6, 3], seed: 53)
        let mask = Tensor.uniform([5, 6], low: -1, high: 1, seed: 54)
        let r = Tensor.randn([2, 3, 5, 3], seed: 55).data

        let fused = Tensor.scaledDotProductAttention(q, k, v, mask: mask, scale: 0.4)
        fused.backward(seed: r)
        let grads = [q, k, v].map { $0.gradData! }
        for t in [q, k, v] { t.zeroGrad() }
        let reference = Self.composed(q, k, v, mask: mask, scale: 0.4)
        reference.backward(seed: r)

        assertClose(fused.data, reference.data, atol: 1e-6, rtol: 1e-5)
        for (i, t) in [q, k, v].enumerated() { assertClose(grads[i], t.gradData!, atol: 1e-5, rtol: 1e-4) }

        // Causal flag against an explicit -inf upper-triangular mask.
        let causalMask = Tensor(shape: [5, 6], data: (0..<30).map { $0 % 6 > $0 / 6 ? -Float.infinity : 0 })
        assertClose(Tensor.scaledDotProductAttention(q, k, v, causal: true).data,
                    Self.composed(q, k, v, mask: causalMask, scale: 0.5).data, atol: 1e-6, rtol: 1e-5)
    }

    @Test func gradientsMatchFiniteDifferences() {
        let q = param([2, 2, 3, 4], seed: 61), k = param([2, 2, 5, 4], seed: 62), v = param([2, 2, 5, 3], seed: 63)
        let tol = GradTolerance(eps: 1e-2, rtol: 1e-2, atol: 1e-3)
        expectGradientsMatch([q, k, v], tolerance: tol) { Tensor.scaledDotProductAttention($0[0], $0[1], $0[2]) }
        expectGradientsMatch([q, k, v], tolerance: tol) {
            Tensor.scaledDotProductAttention($0[0], $0[1], $0[2], causal: true, scale: 0.8)
        }
        let mask = Tensor(shape: [3, 5], data: (0..<15).map { $0 % 4 == 3 ? -.infinity : Float($0 % 3) * 0.3 })
        expectGradientsMatch([q, k, v], tolerance: tol) {
            Tensor.scaledDotProductAttention($0[0], $0[1], $0[2], mask: mask)
        }
        // Frozen keys and values: only q gets a gradient.
        let kf = k.detached(), vf = v.detached()
        q.zeroGrad()
        Tensor.scaledDotProductAttention(q, kf, vf).sum().backward()
        #expect(q.gradData != nil && kf.gradData == nil && vf.gradData == nil)
    }
}
