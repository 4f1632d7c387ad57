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
        @Sendable @inline(__always) func inOffset(_ p: Int) -> Int { (p / heads) * t * ld + (p % heads) * d }
        @Sendable @inline(__always) func outOffset(_ p: Int) -> Int { (p / heads) * t * w + (p % heads) * d }

        // Heads are independent: they run on the cores in parallel, each with single-threaded
        // sgemm calls (a head's products are far too small for OpenBLAS's own threading to pay).
        qkv.data.withUnsafeBufferPointer { px in
            probs.withUnsafeMutableBufferPointer { pp in
                out.withUnsafeMutableBufferPointer { po in
                    let X = SendableConstPointer(px.baseAddress!), P = SendablePointer(pp.baseAddress!)
                    let O = SendablePointer(po.baseAddress!)
                    withSingleThreadedBLAS {
                        Parallel.chunks(bh, costPerItem: 4 * sp * d) { range in
                            for p in range {
                                let q = X.pointer + inOffset(p), probs = P.pointer + p * sp
                                gemm(transA: false, transB: true, m: t, n: t, k: d, alpha: alpha,
                                     q, lda: ld, q + w, ldb: ld, beta: 0, probs, ldc: t)
                                for i in 0..<t { softmaxRow(probs + i * t, visible: causal ? i + 1 : t, length: t) }
                                gemm(transA: false, transB: false, m: t, n: d, k: t,
                                     probs, lda: t, q + 2 * w, ldb: ld, beta: 0, O.pointer + outOffset(p), ldc: w)
                            }
                        }
                    }
                }
            }
        }

        let saved = probs
        return Tensor(shape: [b, t, w], data: out, parents: [qkv]) { g in
            let G = g.baseAddress!
            // Per head: dP = dO·Vᵀ, dS = alpha · P ⊙ (dP − rowsum(dP ⊙ P)), then dQ = dS·K,
            // dK = dSᵀ·Q, dV = Pᵀ·dO into the head's column blocks of dqkv (disjoint across heads,
            // and together covering every column, so a first gradient needs no zero fill).
            var ds = uninitializedFloats(bh * sp)
            qkv.writeOrAccumulateGrad { dx, beta in
                qkv.data.withUnsafeBufferPointer { px in
                    saved.withUnsafeBufferPointer { pp in
                        ds.withUnsafeMutableBufferPointer { pd in
                            let X = SendableConstPointer(px.baseAddress!), P = SendableConstPointer(pp.baseAddress!)
                            let S = SendablePointer(pd.baseAddress!), D = SendablePointer(dx.baseAddress!)
                            let Gs = SendableConstPointer(G)
                            withSingleThreadedBLAS {
                                Parallel.chunks(bh, costPerItem: 10 * sp * d) { range in
                                    for p in range {
                                        let o = inOffset(p), x = X.pointer + o, dq = D.pointer + o
                                        let s = S.pointer + p * sp, probs = P.pointer + p * sp
                                        let dout = Gs.pointer + outOffset(p)
                                        gemm(transA: false, transB: true, m: t, n: t, k: d,
                                             dout, lda: w, x + 2 * w, ldb: ld, beta: 0, s, ldc: t)
                                        for i in 0..<t { softmaxBackwardRow(s + i * t, probs + i * t, t, scale: alpha) }
                                        gemm(transA: false, transB: false, m: t, n: d, k: t,
                                             s, lda: t, x + w, ldb: ld, beta: beta, dq, ldc: ld)
                                        gemm(transA: true, transB: false, m: t, n: d, k: t,
                                             s, lda: t, x, ldb: ld, beta: beta, dq + w, ldc: ld)
                                        gemm(transA: true, transB: false, m: t, n: d, k: t,
                                             probs, lda: t, dout, ldb: w, beta: beta, dq + 2 * w, ldc: ld)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
