// The transformer block shared by CLIP's vision and text towers (OpenAI's ResidualAttentionBlock):
//   x = x + out_proj(attention(ln_1(x)));  x = x + c_proj(QuickGELU(c_fc(ln_2(x))))
// with multi-head self-attention over 64-wide heads, LayerNorm eps 1e-5. All matrix products run on
// the flattened [B·T, width] rows so that one sgemm covers every cutout. Parameters are plain
// tensors: a model loaded with `requiresGrad: true` trains through every path here.

import Layers
import Tensors

/// PyTorch's `nn.MultiheadAttention` as CLIP uses it: q, k, v fused into `in_proj_weight`
/// [3·width, width] and `in_proj_bias`, then `out_proj`.
struct MultiheadAttention {
    let heads: Int
    let inProjWeight: Tensor    // [3W, W]
    let inProjBias: Tensor      // [3W]
    let outProj: Linear

    /// Reads `in_proj_weight`, `in_proj_bias` and `out_proj` under `w` (an `attn` module).
    init(_ w: WeightScope, width: Int, heads: Int) throws {
        self.heads = heads
        inProjWeight = try w.tensor("in_proj_weight", shape: [3 * width, width])
        inProjBias = try w.tensor("in_proj_bias", shape: [3 * width], initializer: .zeros)
        outProj = try Linear(w.scope("out_proj"), in: width, out: width)
    }

    var width: Int { inProjWeight.shape[1] }

    /// Self-attention x [B, T, W] → merged heads [B, T, W] (before out_proj).
    func attend(_ x: Tensor, causal: Bool) -> Tensor {
        // One GEMM for q|k|v, attention read from its column blocks: no head permutes.
        let qkv = Tensor.linear(x, weight: inProjWeight, bias: inProjBias)                 // [B, T, 3W]
        return Tensor.multiHeadSelfAttention(qkv, heads: heads, causal: causal)
    }

    /// Attention of the first token only: queries from row 0 of x [B, T, W], keys and values from
    /// every row → merged heads [B, 1, W]. The q/k/v thirds of in_proj are differentiable slices,
    /// so gradients reach in_proj when it is trained.
    func attendFirstToken(_ x: Tensor) -> Tensor {
        let b = x.shape[0], w = width
        func third(_ part: Int) -> (weight: Tensor, bias: Tensor) {
            let rows = (part * w)..<((part + 1) * w)
            return (Tensor.slice(inProjWeight, axis: 0, range: rows), Tensor.slice(inProjBias, axis: 0, range: rows))
        }
        let (qw, qb) = third(0), (kw, kb) = third(1), (vw, vb) = third(2)
        let x0 = gatherRows(x, at: [Int](repeating: 0, count: b)).reshaped([b, 1, w])
        let q = splitHeads(Tensor.linear(x0, weight: qw, bias: qb))   // [B, H, 1, W/H]
        let k = splitHeads(Tensor.linear(x, weight: kw, bias: kb))    // [B, H, T, W/H]
        let v = splitHeads(Tensor.linear(x, weight: vw, bias: vb))
        let attended = Tensor.scaledDotProductAttention(q, k, v)     // [B, H, 1, W/H]
        return attended.permuted([0, 2, 1, 3]).reshaped([b, 1, w])
    }

    /// [B, T, W] → [B, H, T, W/H]
    private func splitHeads(_ y: Tensor) -> Tensor {
        y.reshaped([y.shape[0], y.shape[1], heads, width / heads]).permuted([0, 2, 1, 3])
    }
}

/// CLIP's MLP: `c_fc` (width → 4·width), QuickGELU, `c_proj` (4·width → width).
struct MLP {
    let cFc: Linear
    let cProj: Linear

    /// Reads `c_fc` and `c_proj` under `w` (an `mlp` module).
    init(_ w: WeightScope, width: Int) throws {
        cFc = try Linear(w.scope("c_fc"), in: width, out: 4 * width)
        cProj = try Linear(w.scope("c_proj"), in: 4 * width, out: width)
    }

    func callAsFunction(_ x: Tensor) -> Tensor { cProj(consuming: cFc(x).quickGELU()) }
}

/// One ResidualAttentionBlock: `attn`, `ln_1`, `mlp`, `ln_2`.
struct ResidualAttentionBlock {
    let attn: MultiheadAttention
    let ln1: LayerNorm
    let mlp: MLP
    let ln2: LayerNorm

    /// Reads the block under `w`, e.g. `visual.transformer.resblocks.3`.
    init(_ w: WeightScope, width: Int, heads: Int) throws {
        attn = try MultiheadAttention(w.scope("attn"), width: width, heads: heads)
        ln1 = try LayerNorm(w.scope("ln_1"), features: width)
        mlp = try MLP(w.scope("mlp"), width: width)
        ln2 = try LayerNorm(w.scope("ln_2"), features: width)
    }

    /// x: [B, T, width] → [B, T, width]. `causal` forbids attending to later positions (text).
    func callAsFunction(_ x: Tensor, causal: Bool) -> Tensor {
        let normed = ln1(x)
        let merged = attn.attend(normed, causal: causal)
        release(normed, readBy: attn.inProjWeight)
        return feedForward(residual: x, merged: merged)
    }

    /// The block's output at token 0 only, x: [B, T, width] → [B, 1, width]: every token still
    /// serves as key and value, but the query, output projection and MLP run on one row. The
    /// vision tower's last block needs nothing else (ln_post reads the class token), which saves
    /// about 5/6 of that block's work. Non-causal only.
    func classToken(_ x: Tensor) -> Tensor {
        let b = x.shape[0], w = x.shape[2]
        let normed = ln1(x)
        let merged = attn.attendFirstToken(normed)
        release(normed, readBy: attn.inProjWeight)
        return feedForward(residual: gatherRows(x, at: [Int](repeating: 0, count: b)).reshaped([b, 1, w]), merged: merged)
    }

    /// Projects the merged heads [B, T, W], adds to `residual` [B, T, W], then the MLP half.
    /// Temporaries whose readers do not need them in backward (frozen products, sums) are
    /// released as soon as they are used: with frozen weights a block keeps only the residual
    /// stream, q|k|v, the attention weights, the LayerNorm inputs and c_fc's output.
    private func feedForward(residual x: Tensor, merged: Tensor) -> Tensor {
        let projected = attn.outProj(consuming: merged)
        let x1 = x + projected
        release(projected, readBy: nil)
        let normed = ln2(x1)
        let mlpOut = mlp(normed)
        release(normed, readBy: mlp.cFc.weight)
        let y = x1 + mlpOut
        release(mlpOut, readBy: nil)
        return y
    }
}

/// Row `index[i]` of each sequence: x [B, T, W] → [B, W]. Differentiable (a row gather whose
/// backward scatters into x).
func gatherRows(_ x: Tensor, at index: [Int]) -> Tensor {
    let b = x.shape[0], t = x.shape[1], w = x.shape[2]
    precondition(index.count == b, "gatherRows: \(index.count) indices for a batch of \(b)")
    return Tensor.embedding((0..<b).map { $0 * t + index[$0] }, weight: x.reshaped([b * t, w]))
}
