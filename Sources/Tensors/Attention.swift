// Softmax, log-softmax and scaled dot-product attention (F.scaled_dot_product_attention).
//
// Attention runs one pair of sgemm calls per (batch, head) with a max-subtracted softmax in
// between; the probabilities are kept for backward, which needs them for dV and for the softmax
// Jacobian.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Tensor {
    /// Softmax along `axis` (default the last), computed stably by subtracting the maximum.
    public func softmax(axis: Int = -1) -> Tensor {
        let a = normalizeAxis(axis, rank: rank)
        let (outer, n, inner) = splitAroundAxis(shape, a)
        var out = [Float](repeating: 0, count: count)
        // x: [outer, n, inner]; each (outer, inner) line of n values is normalised.
        data.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                let X = SendableConstPointer(px.baseAddress!), O = SendablePointer(po.baseAddress!)
                Parallel.chunks(outer * inner, costPerItem: 8 * n) { range in
                    for line in range {
                        let off = (line / inner) * n * inner + line % inner
                        softmaxLine(X.pointer + off, O.pointer + off, n, inner)
                    }
                }
            }
        }
        let y = out, x = self
        return Tensor(shape: shape, data: out, parents: [self]) { g in
            // dx = y·(g − Σ g·y) along the axis.
            x.accumulateGrad { dst in
                y.withUnsafeBufferPointer { py in
                    let Y = SendableConstPointer(py.baseAddress!), G = SendableConstPointer(g.baseAddress!)
                    let D = SendablePointer(dst.baseAddress!)
                    Parallel.chunks(outer * inner, costPerItem: 4 * n) { range in
                        for line in range {
                            let off = (line / inner) * n * inner + line % inner
                            if inner == 1 {
                                let dot = dotOfRows(G.pointer + off, Y.pointer + off, n)
                                for j in 0..<n { D[off + j] += Y[off + j] * (G[off + j] - dot) }
                                continue
                            }
                            var dot: Float = 0
                            for j in 0..<n { dot += G[off + j * inner] * Y[off + j * inner] }
                            for j in 0..<n { let k = off + j * inner; D[k] += Y[k] * (G[k] - dot) }
                        }
                    }
                }
            }
        }
    }

    /// log(softmax(x)) along `axis`, computed as x − max − log Σ e^(x − max).
    public func logSoftmax(axis: Int = -1) -> Tensor {
        let a = normalizeAxis(axis, rank: rank)
        let (outer, n, inner) = splitAroundAxis(shape, a)
        var out = [Float](repeating: 0, count: count)
        data.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                let X = SendableConstPointer(px.baseAddress!), O = SendablePointer(po.baseAddress!)
                Parallel.chunks(outer * inner, costPerItem: 8 * n) { range in
                    for line in range {
                        let off = (line / inner) * n * inner + line % inner
                        var m = -Float.infinity
                        for j in 0..<n { let v = X[off + j * inner]; m = v > m ? v : m }
                        var s: Float = 0
                        for j in 0..<n { s += fastExp(X[off + j * inner] - m) }
                        let lse = m + logf(s)
                        for j in 0..<n { O[off + j * inner] = X[off + j * inner] - lse }
                    }
                }
            }
        }
        let y = out, x = self
        return Tensor(shape: shape, data: out, parents: [self]) { g in
            // dx = g − softmax·Σg along the axis.
            x.accumulateGrad { dst in
                y.withUnsafeBufferPointer { py in
                    let Y = SendableConstPointer(py.baseAddress!), G = SendableConstPointer(g.baseAddress!)
                    let D = SendablePointer(dst.baseAddress!)
                    Parallel.chunks(outer * inner, costPerItem: 8 * n) { range in
                        for line in range {
                            let off = (line / inner) * n * inner + line % inner
                            var sg: Float = 0
                            for j in 0..<n { sg += G[off + j * inner] }
                            for j in 0..<n { let k = off + j * inner; D[k] += G[k] - fastExp(Y[k]) * sg }
                        }
                    }
                }
            }
        }
    }

    /// Scaled dot-product attention: softmax(q·kᵀ·scale + mask)·v.
    ///
    /// - q: [B, H, Lq, D], k: [B, H, Lk, D], v: [B, H, Lk, Dv] → [B, H, Lq, Dv] (any number of
    ///   leading dimensions works as long as q, k and v agree on them).
    /// - mask: optional additive [Lq, Lk] (use -infinity to forbid a position), shared by all heads.
    /// - causal: forbids key j > query i (as `is_causal=True`).
    /// - scale: defaults to 1/sqrt(D).
    public static func scaledDotProductAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor? = nil,
                                                 causal: Bool = false, scale: Float? = nil) -> Tensor {
        precondition(q.rank >= 2 && q.rank == k.rank && q.rank == v.rank,
                     "attention: q \(q.shape), k \(k.shape), v \(v.shape) must have equal rank >= 2")
        let lead = Array(q.shape.dropLast(2))
        precondition(Array(k.shape.dropLast(2)) == lead && Array(v.shape.dropLast(2)) == lead,
                     "attention: batch/head dimensions differ: q \(q.shape), k \(k.shape), v \(v.shape)")
        let lq = q.shape[q.rank - 2], d = q.shape[q.rank - 1]
        let lk = k.shape[k.rank - 2], dv = v.shape[v.rank - 1]
        precondition(k.shape[k.rank - 1] == d, "attention: q \(q.shape) and k \(k.shape) differ in feature size")
        precondition(v.shape[v.rank - 2] == lk, "attention: k \(k.shape) and v \(v.shape) differ in length")
        precondition(lk > 0 && d > 0, "attention: k \(k.shape) needs at least one key and one feature")
        if let mask { precondition(mask.shape == [lq, lk], "attention: mask \(mask.shape) must be [\(lq), \(lk)]") }
        precondition(!(mask?.requiresGrad ?? false), "attention: an additive mask cannot require a gradient")
        let bh = product(lead)
        let alpha = scale ?? 1 / Float(d).squareRoot()
        let (sq, sk, sv, sp, so) = (lq * d, lk * d, lk * dv, lq * lk, lq * dv)

        // probs: [BH, Lq, Lk], out: [BH, Lq, Dv]
        // Both are written in full by the sgemm calls (beta = 0).
        var probs = uninitializedFloats(bh * sp)
        var out = uninitializedFloats(bh * so)
        let maskData = mask?.data
        q.data.withUnsafeBufferPointer { pq in
            k.data.withUnsafeBufferPointer { pk in
                v.data.withUnsafeBufferPointer { pv in
                    probs.withUnsafeMutableBufferPointer { pp in
                        out.withUnsafeMutableBufferPointer { po in
                            // Three phases so that the row-wise softmax can use both cores while
                            // the sgemm calls stay outside Parallel.chunks.
                            for h in 0..<bh {
                                gemm(transA: false, transB: true, m: lq, n: lk, k: d, alpha: alpha,
                                     pq.baseAddress! + h * sq, lda: d, pk.baseAddress! + h * sk, ldb: d,
                                     beta: 0, pp.baseAddress! + h * sp, ldc: lk)
                            }
                            let P = SendablePointer(pp.baseAddress!)
                            (maskData ?? []).withUnsafeBufferPointer { pm in
                                // An empty array may still have a base address: test for the mask itself.
                                let M = maskData == nil ? nil : pm.baseAddress.map { SendableConstPointer($0) }
                                Parallel.chunks(bh * lq, costPerItem: 10 * lk) { range in
                                    for r in range {
                                        let row = P.pointer + r * lk, i = r % lq
                                        if let M {
                                            let mrow = M.pointer + i * lk
                                            for j in 0..<lk { row[j] += mrow[j] }
                                        }
                                        softmaxRow(row, visible: causal ? min(i + 1, lk) : lk, length: lk)
                                    }
                                }
                            }
                            for h in 0..<bh {
                                gemm(transA: false, transB: false, m: lq, n: dv, k: lk,
                                     pp.baseAddress! + h * sp, lda: lk, pv.baseAddress! + h * sv, ldb: dv,
                                     beta: 0, po.baseAddress! + h * so, ldc: dv)
                            }
                        }
                    }
                }
            }
        }

        let saved = probs
        return Tensor(shape: lead + [lq, dv], data: out, parents: [q, k, v]) { g in
            let G = g.baseAddress!
            if v.requiresGrad {
                // dV = Pᵀ·dO
                v.accumulateGrad { dvb in
                    saved.withUnsafeBufferPointer { pp in
                        for h in 0..<bh {
                            gemm(transA: true, transB: false, m: lk, n: dv, k: lq,
                                 pp.baseAddress! + h * sp, lda: lk, G + h * so, ldb: dv,
                                 beta: 1, dvb.baseAddress! + h * sv, ldc: dv)
                        }
                    }
                }
            }
            guard q.requiresGrad || k.requiresGrad else { return }
            // dS = scale · P ⊙ (dP − rowsum(dP ⊙ P)) with dP = dO·Vᵀ; masked entries have P = 0.
            var ds = uninitializedFloats(bh * sp)
            v.data.withUnsafeBufferPointer { pv in
                saved.withUnsafeBufferPointer { pp in
                    ds.withUnsafeMutableBufferPointer { pd in
                        for h in 0..<bh {
                            gemm(transA: false, transB: true, m: lq, n: lk, k: dv,
                                 G + h * so, lda: dv, pv.baseAddress! + h * sv, ldb: dv,
                                 beta: 0, pd.baseAddress! + h * sp, ldc: lk)
                        }
                        softmaxBackwardRows(pd.baseAddress!, probs: pp.baseAddress!, rows: bh * lq, length: lk, scale: alpha)
                    }
                }
            }
            ds.withUnsafeBufferPointer { pd in
                if q.requiresGrad {
                    // dQ = dS·K
                    q.accumulateGrad { dq in
                        k.data.withUnsafeBufferPointer { pk in
                            for h in 0..<bh {
                                gemm(transA: false, transB: false, m: lq, n: d, k: lk,
                                     pd.baseAddress! + h * sp, lda: lk, pk.baseAddress! + h * sk, ldb: d,
                                     beta: 1, dq.baseAddress! + h * sq, ldc: d)
                            }
                        }
                    }
                }
                if k.requiresGrad {
                    // dK = dSᵀ·Q
                    k.accumulateGrad { dk in
                        q.data.withUnsafeBufferPointer { pq in
                            for h in 0..<bh {
                                gemm(transA: true, transB: false, m: lk, n: d, k: lq,
                                     pd.baseAddress! + h * sp, lda: lk, pq.baseAddress! + h * sq, ldb: d,
                                     beta: 1, dk.baseAddress! + h * sk, ldc: d)
                            }
                        }
                    }
                }
            }
        }
    }
}
