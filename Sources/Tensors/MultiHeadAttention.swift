// Multi-head self-attention read straight from a fused q|k|v projection, in the token-major
// layout that linear layers produce: no head split or merge permutes, forward or backward. Each
// head's q, k and v are column blocks of the [B, T, 3W] input, addressed by sgemm's leading
// dimension; the output heads are written into their column blocks of [B, T, W]. Forward and
// backward are raw-buffer kernels side by side; the Tensor function wires them into autograd.

/// Where each (batch, head) pair p = batch·heads + head reads and writes: qkv is [B, T, 3W] with
/// row stride 3W, the output [B, T, W] with row stride W, each head d = W/heads columns wide.
struct AttentionLayout: Sendable {
    let batch: Int, tokens: Int, width: Int, heads: Int
    var headWidth: Int { width / heads }
    var pairs: Int { batch * heads }
    var inStride: Int { 3 * width }
    @inline(__always) func inOffset(_ p: Int) -> Int { (p / heads) * tokens * inStride + (p % heads) * headWidth }
    @inline(__always) func outOffset(_ p: Int) -> Int { (p / heads) * tokens * width + (p % heads) * headWidth }
}

/// qkv [B, T, 3W] → probs [B·H, T, T] = softmax(q·kᵀ·alpha) (kept for backward) and
/// out [B, T, W] = probs·v per head. Heads run on the cores in parallel, each with
/// single-threaded sgemm calls (a head's products are far too small to split).
func attentionForward(_ qkv: UnsafePointer<Float>, probs: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>,
                      _ L: AttentionLayout, alpha: Float, causal: Bool) {
    let X = SendableConstPointer(qkv), P = SendablePointer(probs), O = SendablePointer(out)
    let (t, d, w, ld) = (L.tokens, L.headWidth, L.width, L.inStride)
    Parallel.chunks(L.pairs, costPerItem: 4 * t * t * d) { range in
        for p in range {
            let q = X.pointer + L.inOffset(p), scores = P.pointer + p * t * t
            gemm(transA: false, transB: true, m: t, n: t, k: d, alpha: alpha, q, lda: ld, q + w, ldb: ld, beta: 0, scores, ldc: t)
            for i in 0..<t { softmaxRow(scores + i * t, visible: causal ? i + 1 : t, length: t) }
            gemm(transA: false, transB: false, m: t, n: d, k: t, scores, lda: t, q + 2 * w, ldb: ld, beta: 0,
                 O.pointer + L.outOffset(p), ldc: w)
        }
    }
}

/// Backward for the output gradient dout [B, T, W], per head: dP = dO·Vᵀ, dS = alpha · P ⊙
/// (dP − rowsum(dP ⊙ P)), then dQ = dS·K, dK = dSᵀ·Q, dV = Pᵀ·dO into the head's column blocks
/// of dqkv (disjoint across heads, together covering every column: with beta 0 a first gradient
/// needs no zero fill). `scratch` holds [B·H, T, T].
func attentionBackward(_ dout: UnsafePointer<Float>, _ qkv: UnsafePointer<Float>, probs: UnsafePointer<Float>,
                       dqkv: UnsafeMutablePointer<Float>, beta: Float, scratch: UnsafeMutablePointer<Float>,
                       _ L: AttentionLayout, alpha: Float) {
    let X = SendableConstPointer(qkv), P = SendableConstPointer(probs), S = SendablePointer(scratch)
    let D = SendablePointer(dqkv), G = SendableConstPointer(dout)
    let (t, d, w, ld) = (L.tokens, L.headWidth, L.width, L.inStride)
    Parallel.chunks(L.pairs, costPerItem: 10 * t * t * d) { range in
        for p in range {
            let x = X.pointer + L.inOffset(p), dq = D.pointer + L.inOffset(p)
            let s = S.pointer + p * t * t, pr = P.pointer + p * t * t, g = G.pointer + L.outOffset(p)
            gemm(transA: false, transB: true, m: t, n: t, k: d, g, lda: w, x + 2 * w, ldb: ld, beta: 0, s, ldc: t)
            for i in 0..<t { softmaxBackwardRow(s + i * t, pr + i * t, t, scale: alpha) }
            gemm(transA: false, transB: false, m: t, n: d, k: t, s, lda: t, x + w, ldb: ld, beta: beta, dq, ldc: ld)
            gemm(transA: true, transB: false, m: t, n: d, k: t, s, lda: t, x, ldb: ld, beta: beta, dq + w, ldc: ld)
            gemm(transA: true, transB: false, m: t, n: d, k: t, pr, lda: t, g, ldb: w, beta: beta, dq + 2 * w, ldc: ld)
        }
    }
}

extension Tensor {
    /// Self-attention over `heads` heads from a fused projection `qkv` [B, T, 3W] (columns: q, then
    /// k, then v, each W = heads · d wide; head h uses columns h·d..<(h+1)·d of each) → [B, T, W],
    /// the heads concatenated along the last dimension. Computes softmax(q·kᵀ/√d)·v per head, with
    /// `causal` forbidding key j > query i. Equal to splitting q, k, v into [B, heads, T, d],
    /// calling ``scaledDotProductAttention(_:_:_:mask:causal:scale:)`` and merging the heads back.
    public static func multiHeadSelfAttention(_ qkv: Tensor, heads: Int, causal: Bool = false) -> Tensor {
        precondition(qkv.rank == 3 && heads > 0 && qkv.shape[2] % (3 * heads) == 0,
                     "multiHeadSelfAttention: qkv \(qkv.shape) must be [B, T, 3·W] with W divisible by \(heads) heads")
        let layout = AttentionLayout(batch: qkv.shape[0], tokens: qkv.shape[1], width: qkv.shape[2] / 3, heads: heads)
        precondition(layout.tokens > 0, "multiHeadSelfAttention: qkv \(qkv.shape) has no tokens")
        let alpha = 1 / Float(layout.headWidth).squareRoot()
        let square = layout.pairs * layout.tokens * layout.tokens
        var probs = uninitializedFloats(square)
        var out = uninitializedFloats(layout.batch * layout.tokens * layout.width)
        qkv.data.withUnsafeBufferPointer { px in probs.withUnsafeMutableBufferPointer { pp in out.withUnsafeMutableBufferPointer { po in
            attentionForward(px.baseAddress!, probs: pp.baseAddress!, out: po.baseAddress!, layout, alpha: alpha, causal: causal)
        } } }

        let saved = probs
        return Tensor(shape: [layout.batch, layout.tokens, layout.width], data: out, parents: [qkv]) { g in
            var scratch = uninitializedFloats(square)
            qkv.writeOrAccumulateGrad { dx, beta in
                qkv.data.withUnsafeBufferPointer { px in saved.withUnsafeBufferPointer { pp in scratch.withUnsafeMutableBufferPointer { ps in
                    attentionBackward(g.baseAddress!, px.baseAddress!, probs: pp.baseAddress!, dqkv: dx.baseAddress!, beta: beta,
                                      scratch: ps.baseAddress!, layout, alpha: alpha)
                } } }
            }
        }
    }
}
