// Fused-projection multi-head self-attention against the split-heads path through
// scaledDotProductAttention, and its gradient by finite differences.

import Testing
@testable import Tensors

@Suite struct MultiHeadAttentionTests {
    /// Reference: slice q, k, v out of qkv, split heads, SDPA, merge heads.
    func reference(_ qkv: Tensor, heads: Int, causal: Bool) -> Tensor {
        let b = qkv.shape[0], t = qkv.shape[1], w = qkv.shape[2] / 3
        func split(_ part: Int) -> Tensor {
            Tensor.slice(qkv, axis: 2, range: (part * w)..<((part + 1) * w))
                .reshaped([b, t, heads, w / heads]).permuted([0, 2, 1, 3])
        }
        return Tensor.scaledDotProductAttention(split(0), split(1), split(2), causal: causal)
            .permuted([0, 2, 1, 3]).reshaped([b, t, w])
    }

    @Test(arguments: [false, true])
    func matchesSplitHeads(causal: Bool) {
        let qkv = param([3, 7, 3 * 12], seed: 21)
        let fused = Tensor.multiHeadSelfAttention(qkv, heads: 3, causal: causal)
        let split = reference(qkv, heads: 3, causal: causal)
        #expect(fused.shape == [3, 7, 12])
        for i in 0..<fused.count { #expect(abs(fused.data[i] - split.data[i]) < 1e-5) }
        // Gradients agree with the reference path's too.
        let seed = Tensor.randn(fused.shape, seed: 5).data
        fused.backward(seed: seed)
        let g1 = qkv.gradData!
        qkv.zeroGrad()
        split.backward(seed: seed)
        let g2 = qkv.gradData!
        for i in 0..<g1.count { #expect(abs(g1[i] - g2[i]) < 1e-5) }
    }

    @Test(arguments: [false, true])
    func gradients(causal: Bool) {
        let qkv = param([2, 5, 3 * 8], seed: 22)
        expectGradientsMatch([qkv]) { Tensor.multiHeadSelfAttention($0[0], heads: 2, causal: causal) }
        // Used twice: the second gradient accumulates.
        expectGradientsMatch([qkv]) {
            Tensor.multiHeadSelfAttention($0[0], heads: 2, causal: causal) + Tensor.multiHeadSelfAttention($0[0], heads: 4)
        }
    }
}
