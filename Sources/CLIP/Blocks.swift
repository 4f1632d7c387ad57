// The transformer block shared by CLIP's vision and text towers (OpenAI's ResidualAttentionBlock):
//   x = x + out_proj(attention(ln_1(x)));  x = x + c_proj(QuickGELU(c_fc(ln_2(x))))
// with multi-head self-attention over 64-wide heads, LayerNorm eps 1e-5. All matrix products run on
// the flattened [B·T, width] rows so that one sgemm covers every cutout.

import Tensors

/// Weights of one ResidualAttentionBlock (frozen: they never receive gradients).
struct ResidualAttentionBlock {
    let width: Int
    let heads: Int
    let ln1Weight: Tensor, ln1Bias: Tensor
    // OpenAI fuses q, k, v into in_proj [3·width, width]. The fused matrix serves the full blocks;
    // its row thirds serve classToken, where queries and keys come from different rows. Only a
    // block built with `classToken: true` keeps the thirds (a second copy of in_proj).
    let inWeight: Tensor, inBias: Tensor   // [3·width, width], [3·width]
    let qkv: [(weight: Tensor, bias: Tensor)]   // q, k, v: [width, width], [width]; or empty
    let outWeight: Tensor, outBias: Tensor
    let ln2Weight: Tensor, ln2Bias: Tensor
    let fcWeight: Tensor, fcBias: Tensor
    let projWeight: Tensor, projBias: Tensor

    /// Takes the block's weights from canonical (OpenAI) names under `prefix`
    /// (e.g. "visual.transformer.resblocks.3."). `classToken` prepares ``classToken(_:)``.
    init(weights: CLIPWeights, prefix: String, width: Int, heads: Int, classToken: Bool = false) throws {
        self.width = width
        self.heads = heads
        func w(_ name: String) throws -> Tensor { try weights.tensor(prefix + name) }
        ln1Weight = try w("ln_1.weight"); ln1Bias = try w("ln_1.bias")
        ln2Weight = try w("ln_2.weight"); ln2Bias = try w("ln_2.bias")
        let inW = try w("attn.in_proj_weight"), inB = try w("attn.in_proj_bias")
        inWeight = inW; inBias = inB
        func rows(_ t: Tensor, _ part: Int) -> Tensor {
            let n = t.count / 3
            let shape = t.rank == 2 ? [width, width] : [width]
            return Tensor(shape: shape, data: Array(t.data[(part * n)..<((part + 1) * n)]))
        }
        qkv = classToken ? (0..<3).map { (rows(inW, $0), rows(inB, $0)) } : []
        outWeight = try w("attn.out_proj.weight"); outBias = try w("attn.out_proj.bias")
        fcWeight = try w("mlp.c_fc.weight"); fcBias = try w("mlp.c_fc.bias")
        projWeight = try w("mlp.c_proj.weight"); projBias = try w("mlp.c_proj.bias")
    }

    /// x: [B, T, width] → [B, T, width]. `causal` forbids attending to later positions (text).
    func callAsFunction(_ x: Tensor, causal: Bool) -> Tensor {
        let h = Tensor.layerNorm(x, weight: ln1Weight, bias: ln1Bias, eps: 1e-5)
        // One GEMM for q|k|v, attention read from its column blocks: no head permutes.
        let qkv = Tensor.linear(h, weight: inWeight, bias: inBias)                 // [B, T, 3W]
        let attended = Tensor.multiHeadSelfAttention(qkv, heads: heads, causal: causal)   // [B, T, W]
        return feedForward(residual: x, merged: attended)
    }

    /// The block's output at token 0 only, x: [B, T, width] → [B, 1, width]: every token still
    /// serves as key and value, but the query, output projection and MLP run on one row. The
    /// vision tower's last block needs nothing else (ln_post reads the class token), which saves
    /// about 5/6 of that block's work. Non-causal only.
    func classToken(_ x: Tensor) -> Tensor {
        precondition(qkv.count == 3, "classToken: block was not built with classToken: true")
        let b = x.shape[0]
        let h = Tensor.layerNorm(x, weight: ln1Weight, bias: ln1Bias, eps: 1e-5)
        let first = [Int](repeating: 0, count: b)
        let h0 = gatherRows(h, at: first).reshaped([b, 1, width])
        let q = splitHeads(Tensor.linear(h0, weight: qkv[0].weight, bias: qkv[0].bias))   // [B, H, 1, W/H]
        let k = splitHeads(Tensor.linear(h, weight: qkv[1].weight, bias: qkv[1].bias))    // [B, H, T, W/H]
        let v = splitHeads(Tensor.linear(h, weight: qkv[2].weight, bias: qkv[2].bias))
        let attended = Tensor.scaledDotProductAttention(q, k, v)                    // [B, H, 1, W/H]
        return feedForward(residual: gatherRows(x, at: first).reshaped([b, 1, width]),
                           merged: attended.permuted([0, 2, 1, 3]).reshaped([b, 1, width]))
    }

    /// [B, T, W] → [B, H, T, W/H]
    private func splitHeads(_ y: Tensor) -> Tensor {
        y.reshaped([y.shape[0], y.shape[1], heads, width / heads]).permuted([0, 2, 1, 3])
    }

    /// Projects the merged heads [B, T, W], adds to `residual` [B, T, W], then the MLP half of
    /// the block.
    private func feedForward(residual x: Tensor, merged: Tensor) -> Tensor {
        let x1 = x + Tensor.linear(merged, weight: outWeight, bias: outBias)
        let h2 = Tensor.layerNorm(x1, weight: ln2Weight, bias: ln2Bias, eps: 1e-5)
        let mlp = Tensor.linear(Tensor.linear(h2, weight: fcWeight, bias: fcBias).quickGELU(),
                                weight: projWeight, bias: projBias)
        return x1 + mlp
    }
}

/// Row `index[i]` of each sequence: x [B, T, W] → [B, W]. Differentiable (a row gather whose
/// backward scatters into x).
func gatherRows(_ x: Tensor, at index: [Int]) -> Tensor {
    let b = x.shape[0], t = x.shape[1], w = x.shape[2]
    precondition(index.count == b, "gatherRows: \(index.count) indices for a batch of \(b)")
    return Tensor.embedding((0..<b).map { $0 * t + index[$0] }, weight: x.reshaped([b * t, w]))
}
