// Multi-head self-attention read straight from a fused q|k|v projection, in the token-major
// layout that linear layers produce: no head split or merge permutes, forward or backward. Each
// head's q, k and v are column blocks of the [B, T, 3W] input, addressed by sgemm's leading
// dimension; the output heads are written into their column blocks of [B, T, W].

extension Tensor {
    /// Self-attention over `heads` heads from a fused projection `qkv` [B, T, 3W] (columns: q, then
    /// k, then v, each W = heads · d wide; head h uses columns h·d..<(h+1)·d of each) → [B, T, W],
    /// the heads concatenated along the last dimension. Computes softmax(q·kᵀ/√d)·v per head, with
    /// `causal` forbidding key j > query i. Equal to splitting q, k, v into [B, heads, T, d],
    /// calling ``scaledDotProductAttention(_:_:_:mask:causal:scale:)`` and merging the heads back.
    public static func multiHeadSelfAttention(_ qkv: Tensor, heads: Int, causal: Bool = false) -> Tensor {
        precondition(qkv.rank == 3 && heads > 0 && qkv.shape[2] % (3 * heads) == 0,
                     "multiHeadSelfAttention: qkv \(qkv.shape) must be [B, T, 3·W] with W divisible by \(heads) heads")
        let b = qkv.shape[0], t = qkv.shape[1], w = qkv.shape[2] / 3, d = w / heads
        precondition(t > 0, "multiHeadSelfAttention: qkv \(qkv.shape) has no tokens")
        let alpha = 1 / Float(d).squareRoot()
        let ld = 3 * w                    // row stride of q, k and v inside qkv
        let bh = b * heads, sp = t * t

        // probs: [B·H, T, T]; out: [B, T, W]. Both written in full (beta = 0).
        var probs = uninitializedFloats(bh * sp)
        var out = uninitializedFloats(b * t * w)
        // Offsets of head (batch i, head h) in qkv and in the output.
        @inline(__always) func inOffset(_ p: Int) -> Int { (p / heads) * t * ld + (p % heads) * d }
        @inline(__always) func outOffset(_ p: Int) -> Int { (p / heads) * t * w + (p % heads) * d }

        qkv.data.withUnsafeBufferPointer { px in
            probs.withUnsafeMutableBufferPointer { pp in
                out.withUnsafeMutableBufferPointer { po in
                    let X = px.baseAddress!
                    for p in 0..<bh {
                        let q = X + inOffset(p)
                        gemm(transA: false, transB: true, m: t, n: t, k: d, alpha: alpha,
                             q, lda: ld, q + w, ldb: ld, beta: 0, pp.baseAddress! + p * sp, ldc: t)
                    }
                    let P = SendablePointer(pp.baseAddress!)
                    Parallel.chunks(bh * t, costPerItem: 10 * t) { range in
                        for r in range {
                            let row = P.pointer + r * t, i = r % t
                            if causal {
                                softmaxRow(row, row, i + 1)
                                for j in (i + 1)..<t { row[j] = 0 }
                            } else {
                                softmaxRow(row, row, t)
                            }
                        }
                    }
                    for p in 0..<bh {
                        gemm(transA: false, transB: false, m: t, n: d, k: t,
                             pp.baseAddress! + p * sp, lda: t, X + inOffset(p) + 2 * w, ldb: ld,
                             beta: 0, po.baseAddress! + outOffset(p), ldc: w)
                    }
                }
            }
        }

        let saved = probs
        return Tensor(shape: [b, t, w], data: out, parents: [qkv]) { g in
            let G = g.baseAddress!
            // dS = alpha · P ⊙ (dP − rowsum(dP ⊙ P)), dP = dO·Vᵀ; then dQ = dS·K, dK = dSᵀ·Q, dV = Pᵀ·dO.
            var ds = uninitializedFloats(bh * sp)
            qkv.data.withUnsafeBufferPointer { px in
                saved.withUnsafeBufferPointer { pp in
                    ds.withUnsafeMutableBufferPointer { pd in
                        let X = px.baseAddress!
                        for p in 0..<bh {
                            gemm(transA: false, transB: true, m: t, n: t, k: d,
                                 G + outOffset(p), lda: w, X + inOffset(p) + 2 * w, ldb: ld,
                                 beta: 0, pd.baseAddress! + p * sp, ldc: t)
                        }
                        softmaxBackwardRows(pd.baseAddress!, probs: pp.baseAddress!, rows: bh * t, length: t, scale: alpha)
                    }
                }
            }
            // Every column of dqkv is written by one of the three products, so a first gradient
            // needs no zero fill (beta 0).
            qkv.writeOrAccumulateGrad { dx, beta in
                qkv.data.withUnsafeBufferPointer { px in
                    saved.withUnsafeBufferPointer { pp in
                        ds.withUnsafeBufferPointer { pd in
                            let X = px.baseAddress!, D = dx.baseAddress!
                            for p in 0..<bh {
                                let o = inOffset(p), s = pd.baseAddress! + p * sp
                                gemm(transA: false, transB: false, m: t, n: d, k: t,
                                     s, lda: t, X + o + w, ldb: ld, beta: beta, D + o, ldc: ld)
                                gemm(transA: true, transB: false, m: t, n: d, k: t,
                                     s, lda: t, X + o, ldb: ld, beta: beta, D + o + w, ldc: ld)
                                gemm(transA: true, transB: false, m: t, n: d, k: t,
                                     pp.baseAddress! + p * sp, lda: t, G + outOffset(p), ldb: w,
                                     beta: beta, D + o + 2 * w, ldc: ld)
                            }
                        }
                    }
                }
            }
        }
    }
}
