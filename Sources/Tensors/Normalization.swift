// Group and layer normalisation (PyTorch's F.group_norm / F.layer_norm) with their backward passes.
//
// Statistics take two passes (mean, then centred squares) with Float partial sums gathered in
// Double: a 256x256 feature map puts 2^16·C/G values in one group, where a single-pass Float sum
// of squares loses most of its digits. Forward keeps mean and 1/std per group (or row) for backward.

extension Tensor {
    /// Group normalisation over `x` [N, C, ...]: for each sample and each of `groups` groups of
    /// C/groups channels, subtracts the mean and divides by sqrt(biased variance + eps) over the
    /// group's channels and all spatial positions, then applies the per-channel affine
    /// `weight` [C] and `bias` [C] when given. Matches `torch.nn.functional.group_norm`.
    public static func groupNorm(_ x: Tensor, groups: Int, weight: Tensor? = nil, bias: Tensor? = nil,
                                 eps: Float = 1e-5) -> Tensor {
        groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps, thenSiLU: false)
    }

    /// `groupNorm(x, ...).silu()` in one op: the normalised values are never stored, which saves
    /// a write and a read of the activation forward and keeps one tensor fewer alive for backward
    /// (the VQGAN blocks apply SiLU after every GroupNorm). Backward recomputes them from x.
    public static func groupNormSiLU(_ x: Tensor, groups: Int, weight: Tensor? = nil, bias: Tensor? = nil,
                                     eps: Float = 1e-5) -> Tensor {
        groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps, thenSiLU: true)
    }

    private static func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float,
                                  thenSiLU: Bool) -> Tensor {
        precondition(x.rank >= 2, "groupNorm needs [N, C, ...], got \(x.shape)")
        let n = x.shape[0], c = x.shape[1]
        precondition(groups > 0 && c % groups == 0, "groupNorm: \(c) channels not divisible by \(groups) groups")
        if let weight { precondition(weight.shape == [c], "groupNorm: weight \(weight.shape) must be [\(c)]") }
        if let bias { precondition(bias.shape == [c], "groupNorm: bias \(bias.shape) must be [\(c)]") }
        let spatial = product(x.shape.dropFirst(2))
        let cpg = c / groups
        let groupSize = cpg * spatial
        let rowCount = n * groups

        // x: [N, G, C/G * S] viewed as rowCount contiguous rows of groupSize. The mean stays in
        // Double for backward; forward subtracts it as a hi + lo pair of Floats.
        var mean = [Double](repeating: 0, count: rowCount)
        var rstd = [Float](repeating: 0, count: rowCount)
        var out = uninitializedFloats(x.count)
        let w = weight?.data ?? [Float](repeating: 1, count: c)
        let b = bias?.data ?? [Float](repeating: 0, count: c)
        x.data.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                mean.withUnsafeMutableBufferPointer { pm in
                    rstd.withUnsafeMutableBufferPointer { pr in
                        w.withUnsafeBufferPointer { pw in
                            b.withUnsafeBufferPointer { pb in
                                let X = SendableConstPointer(px.baseAddress!), O = SendablePointer(po.baseAddress!)
                                let M = SendablePointer(pm.baseAddress!), R = SendablePointer(pr.baseAddress!)
                                let W = SendableConstPointer(pw.baseAddress!), B = SendableConstPointer(pb.baseAddress!)
                                Parallel.chunks(rowCount, costPerItem: 3 * groupSize) { range in
                                    for row in range {
                                        let base = row * groupSize
                                        let (mu, rs) = rowStatistics(X.pointer + base, groupSize, eps: eps)
                                        M[row] = mu
                                        R[row] = rs
                                        let (hi, lo) = splitMean(mu)
                                        let g = row % groups
                                        for cc in 0..<cpg {
                                            let ch = g * cpg + cc
                                            let scale = rs * W[ch], shift = B[ch]
                                            let off = base + cc * spatial
                                            if thenSiLU {
                                                normalizeSiLU(X.pointer + off, O.pointer + off, spatial, hi: hi, lo: lo,
                                                              scale: scale, shift: shift)
                                            } else {
                                                for s in 0..<spatial { O[off + s] = ((X[off + s] - hi) - lo) * scale + shift }
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

        var parents = [x]
        if let weight { parents.append(weight) }
        if let bias { parents.append(bias) }
        /// The GroupNorm backward for the gradient `g` with respect to the normalised output.
        func normBackward(_ g: UnsafeBufferPointer<Float>) {
            let needX = x.requiresGrad, needW = weight?.requiresGrad ?? false, needB = bias?.requiresGrad ?? false
            // Per (n, channel) sums Σg and Σg·(x − mean): they give dweight, dbias and the group
            // means that the input gradient needs, in one streaming pass. Centring on the mean
            // (as a hi + lo pair) avoids cancellation when the values sit on a large offset.
            let nc = n * c
            var muHi = [Float](repeating: 0, count: nc), muLo = muHi
            for k in 0..<nc {
                (muHi[k], muLo[k]) = splitMean(mean[(k / c) * groups + (k % c) / cpg])
            }
            var sumG = [Double](repeating: 0, count: nc)
            var sumGXc = [Double](repeating: 0, count: nc)
            x.data.withUnsafeBufferPointer { px in
                sumG.withUnsafeMutableBufferPointer { psg in
                    sumGXc.withUnsafeMutableBufferPointer { psgx in
                        muHi.withUnsafeBufferPointer { ph in muLo.withUnsafeBufferPointer { pl in
                            let X = SendableConstPointer(px.baseAddress!), G = SendableConstPointer(g.baseAddress!)
                            let SG = SendablePointer(psg.baseAddress!), SGX = SendablePointer(psgx.baseAddress!)
                            let MH = SendableConstPointer(ph.baseAddress!), ML = SendableConstPointer(pl.baseAddress!)
                            Parallel.chunks(nc, costPerItem: 2 * spatial) { range in
                                for k in range {
                                    let off = k * spatial
                                    (SG[k], SGX[k]) = sumAndCentredDot(G.pointer + off, X.pointer + off, spatial,
                                                                       hi: MH[k], lo: ML[k])
                                }
                            }
                        } }
                    }
                }
            }
            if needW, let weight {
                // dw_c = Σ_n rstd·Σ g·(x − mean)
                weight.accumulateGrad { dw in
                    for i in 0..<n { for ch in 0..<c {
                        let row = i * groups + ch / cpg, k = i * c + ch
                        dw[ch] += Float(Double(rstd[row]) * sumGXc[k])
                    } }
                }
            }
            if needB, let bias {
                bias.accumulateGrad { db in
                    for i in 0..<n { for ch in 0..<c { db[ch] += Float(sumG[i * c + ch]) } }
                }
            }
            guard needX else { return }
            // dx = rstd·(w·g − A − x̂·B) with A = mean(w·g), B = mean(w·g·x̂) over the group, written
            // as dx = c1·g + c2·(x − mean) + c3 per channel.
            var c1 = [Float](repeating: 0, count: nc), c2 = c1, c3 = c1
            let inv = 1.0 / Double(groupSize)
            for row in 0..<rowCount {
                let i = row / groups, gi = row % groups
                let rs = Double(rstd[row])
                var sA = 0.0, sB = 0.0
                for cc in 0..<cpg {
                    let ch = gi * cpg + cc, k = i * c + ch
                    sA += Double(w[ch]) * sumG[k]
                    sB += Double(w[ch]) * rs * sumGXc[k]
                }
                let A = sA * inv, B = sB * inv
                for cc in 0..<cpg {
                    let ch = gi * cpg + cc, k = i * c + ch
                    c1[k] = Float(rs * Double(w[ch]))
                    c2[k] = Float(-rs * rs * B)
                    c3[k] = Float(-rs * A)
                }
            }
            x.accumulateGrad(overwritingFresh: { dx, fresh in
                x.data.withUnsafeBufferPointer { px in
                    c1.withUnsafeBufferPointer { p1 in c2.withUnsafeBufferPointer { p2 in c3.withUnsafeBufferPointer { p3 in
                    muHi.withUnsafeBufferPointer { ph in muLo.withUnsafeBufferPointer { pl in
                        let X = SendableConstPointer(px.baseAddress!), G = SendableConstPointer(g.baseAddress!)
                        let D = SendablePointer(dx.baseAddress!)
                        let C1 = SendableConstPointer(p1.baseAddress!), C2 = SendableConstPointer(p2.baseAddress!)
                        let C3 = SendableConstPointer(p3.baseAddress!)
                        let MH = SendableConstPointer(ph.baseAddress!), ML = SendableConstPointer(pl.baseAddress!)
                        Parallel.chunks(nc, costPerItem: spatial) { range in
                            for k in range {
                                let a = C1[k], bb = C2[k], cst = C3[k], hi = MH[k], lo = ML[k], off = k * spatial
                                if fresh {
                                    for s in 0..<spatial { D[off + s] = a * G[off + s] + bb * ((X[off + s] - hi) - lo) + cst }
                                } else {
                                    for s in 0..<spatial { D[off + s] += a * G[off + s] + bb * ((X[off + s] - hi) - lo) + cst }
                                }
                            }
                        }
                    } }
                    } } }
                }
            })
        }

        return Tensor(shape: x.shape, data: out, parents: parents) { gradOut in
            guard thenSiLU else { return normBackward(gradOut) }
            // g_v = g·silu'(v) with v = (x − mean)·rstd·w + b recomputed per channel.
            let means = mean, rstds = rstd
            var gv = uninitializedFloats(x.count)
            x.data.withUnsafeBufferPointer { px in
                gv.withUnsafeMutableBufferPointer { pv in
                    let X = SendableConstPointer(px.baseAddress!), G = SendableConstPointer(gradOut.baseAddress!)
                    let V = SendablePointer(pv.baseAddress!)
                    Parallel.chunks(n * c, costPerItem: 10 * spatial) { range in
                        for k in range {
                            let i = k / c, ch = k % c, row = i * groups + ch / cpg
                            let (hi, lo) = splitMean(means[row])
                            let scale = rstds[row] * w[ch], shift = b[ch], off = k * spatial
                            siluGradientOfNormalized(G.pointer + off, X.pointer + off, V.pointer + off, spatial,
                                                     hi: hi, lo: lo, scale: scale, shift: shift)
                        }
                    }
                }
            }
            gv.withUnsafeBufferPointer { normBackward($0) }
        }
    }

    /// Layer normalisation over the last dimension of `x` [..., D]: each row is shifted to zero
    /// mean and scaled by 1/sqrt(biased variance + eps), then multiplied by `weight` [D] and
    /// shifted by `bias` [D] when given. Matches `torch.nn.functional.layer_norm(x, (D,), ...)`.
    public static func layerNorm(_ x: Tensor, weight: Tensor? = nil, bias: Tensor? = nil, eps: Float = 1e-5) -> Tensor {
        precondition(x.rank >= 1, "layerNorm needs at least one dimension")
        let d = x.shape[x.rank - 1]
        if let weight { precondition(weight.shape == [d], "layerNorm: weight \(weight.shape) must be [\(d)] for input \(x.shape)") }
        if let bias { precondition(bias.shape == [d], "layerNorm: bias \(bias.shape) must be [\(d)] for input \(x.shape)") }
        let rows = d == 0 ? 0 : x.count / d
        // The mean is kept as a Float pair hi + lo so that x − mean stays exact for large offsets.
        var mean = [Float](repeating: 0, count: rows)
        var meanLo = [Float](repeating: 0, count: rows)
        var rstd = [Float](repeating: 0, count: rows)
        var out = uninitializedFloats(x.count)
        let w = weight?.data ?? [Float](repeating: 1, count: d)
        let b = bias?.data ?? [Float](repeating: 0, count: d)
        // x: [rows, D]
        x.data.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                mean.withUnsafeMutableBufferPointer { pm in
                  meanLo.withUnsafeMutableBufferPointer { pl in
                    rstd.withUnsafeMutableBufferPointer { pr in
                        w.withUnsafeBufferPointer { pw in
                            b.withUnsafeBufferPointer { pb in
                                let X = SendableConstPointer(px.baseAddress!), O = SendablePointer(po.baseAddress!)
                                let M = SendablePointer(pm.baseAddress!), R = SendablePointer(pr.baseAddress!)
                                let ML = SendablePointer(pl.baseAddress!)
                                let W = SendableConstPointer(pw.baseAddress!), B = SendableConstPointer(pb.baseAddress!)
                                Parallel.chunks(rows, costPerItem: 4 * d) { range in
                                    for r in range {
                                        let off = r * d
                                        let (mu, rs) = rowStatistics(X.pointer + off, d, eps: eps)
                                        let (hi, lo) = splitMean(mu)
                                        M[r] = hi
                                        ML[r] = lo
                                        R[r] = rs
                                        for j in 0..<d { O[off + j] = ((X[off + j] - hi) - lo) * rs * W[j] + B[j] }
                                    }
                                }
                            }
                        }
                    }
                  }
                }
            }
        }

        var parents = [x]
        if let weight { parents.append(weight) }
        if let bias { parents.append(bias) }
        return Tensor(shape: x.shape, data: out, parents: parents) { g in
            if let weight, weight.requiresGrad {
                // dw_j = Σ_rows g·x̂
                weight.accumulateGrad { dw in
                    x.data.withUnsafeBufferPointer { px in
                        for r in 0..<rows {
                            let off = r * d, hi = mean[r], lo = meanLo[r], rs = rstd[r]
                            for j in 0..<d { dw[j] += g[off + j] * ((px[off + j] - hi) - lo) * rs }
                        }
                    }
                }
            }
            if let bias, bias.requiresGrad {
                bias.accumulateGrad { db in
                    for r in 0..<rows { let off = r * d; for j in 0..<d { db[j] += g[off + j] } }
                }
            }
            guard x.requiresGrad else { return }
            // dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = g·w, per row.
            x.accumulateGrad { dx in
                x.data.withUnsafeBufferPointer { px in
                    w.withUnsafeBufferPointer { pw in
                        mean.withUnsafeBufferPointer { pm in
                          meanLo.withUnsafeBufferPointer { pl in
                            rstd.withUnsafeBufferPointer { pr in
                                let X = SendableConstPointer(px.baseAddress!), G = SendableConstPointer(g.baseAddress!)
                                let W = SendableConstPointer(pw.baseAddress!), D = SendablePointer(dx.baseAddress!)
                                let M = SendableConstPointer(pm.baseAddress!), R = SendableConstPointer(pr.baseAddress!)
                                let ML = SendableConstPointer(pl.baseAddress!)
                                Parallel.chunks(rows, costPerItem: 6 * d) { range in
                                    for r in range {
                                        let off = r * d, hi = M[r], lo = ML[r], rs = R[r]
                                        var sA: Float = 0, sB: Float = 0
                                        for j in 0..<d {
                                            let gh = G[off + j] * W[j]
                                            sA += gh
                                            sB += gh * ((X[off + j] - hi) - lo) * rs
                                        }
                                        let A = sA / Float(d), B = sB / Float(d)
                                        for j in 0..<d {
                                            let xh = ((X[off + j] - hi) - lo) * rs
                                            D[off + j] += rs * (G[off + j] * W[j] - A - xh * B)
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
    }
}

/// Mean and 1/sqrt(biased variance + eps) of `count` contiguous values, with a centred second
/// pass so that large, nearly constant inputs keep their variance. Partial sums run in SIMD8
/// Float lanes over blocks of 512 values and are gathered in Double, which keeps 256x256 maps
/// accurate while the loops stay vectorised.
@inline(__always)
func rowStatistics(_ p: UnsafePointer<Float>, _ count: Int, eps: Float) -> (mean: Double, rstd: Float) {
    guard count > 0 else { return (0, 1 / eps.squareRoot()) }
    let raw = UnsafeRawPointer(p)
    let vectorEnd = count & ~7
    let block = 512
    var s = 0.0
    var i = 0
    while i < vectorEnd {
        let stop = min(i + block, vectorEnd)
        var acc = SIMD8<Float>(repeating: 0)
        while i < stop { acc += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self); i += 8 }
        s += Double(acc.sum())
    }
    for j in vectorEnd..<count { s += Double(p[j]) }
    let mu = s / Double(count)
    let (hi, lo) = splitMean(mu)
    let vhi = SIMD8<Float>(repeating: hi), vlo = SIMD8<Float>(repeating: lo)
    var ss = 0.0
    i = 0
    while i < vectorEnd {
        let stop = min(i + block, vectorEnd)
        var acc = SIMD8<Float>(repeating: 0)
        while i < stop {
            let dv = (raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) - vhi) - vlo
            acc += dv * dv
            i += 8
        }
        ss += Double(acc.sum())
    }
    for j in vectorEnd..<count { let dv = Double(p[j]) - mu; ss += dv * dv }
    let variance = ss / Double(count)
    return (mu, Float(1 / (variance + Double(eps)).squareRoot()))
}

/// o = silu(v) with v = ((x − hi) − lo)·scale + shift over `count` contiguous values (a plain
/// pointer loop, which the compiler vectorises).
@inline(never)
func normalizeSiLU(_ x: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>, _ count: Int,
                   hi: Float, lo: Float, scale: Float, shift: Float) {
    for s in 0..<count {
        o[s] = SiLUGate.value(((x[s] - hi) - lo) * scale + shift)
    }
}

/// gv = g·silu'(v) with v = ((x − hi) − lo)·scale + shift over `count` contiguous values.
@inline(never)
func siluGradientOfNormalized(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ gv: UnsafeMutablePointer<Float>,
                              _ count: Int, hi: Float, lo: Float, scale: Float, shift: Float) {
    for s in 0..<count {
        gv[s] = g[s] * SiLUGate.derivative(((x[s] - hi) - lo) * scale + shift)
    }
}

/// (Σ g, Σ g·((x − hi) − lo)) over `count` contiguous values: SIMD8 Float partials per
/// 512-value block, summed in Double.
@inline(__always)
func sumAndCentredDot(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ count: Int,
                      hi: Float, lo: Float) -> (Double, Double) {
    let rg = UnsafeRawPointer(g), rx = UnsafeRawPointer(x)
    let vhi = SIMD8<Float>(repeating: hi), vlo = SIMD8<Float>(repeating: lo)
    let vectorEnd = count & ~7
    var sg = 0.0, sgx = 0.0
    var i = 0
    while i < vectorEnd {
        let stop = min(i + 512, vectorEnd)
        var a = SIMD8<Float>(repeating: 0), ax = SIMD8<Float>(repeating: 0)
        while i < stop {
            let gv = rg.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            a += gv
            ax += gv * ((rx.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) - vhi) - vlo)
            i += 8
        }
        sg += Double(a.sum())
        sgx += Double(ax.sum())
    }
    for j in vectorEnd..<count { sg += Double(g[j]); sgx += Double(g[j]) * Double((x[j] - hi) - lo) }
    return (sg, sgx)
}

/// A Double mean as hi + lo Floats: (x − hi) − lo then keeps the digits that a single Float mean
/// loses when the values sit on a large offset with a small spread.
@inline(__always)
func splitMean(_ mu: Double) -> (hi: Float, lo: Float) {
    let hi = Float(mu)
    return (hi, Float(mu - Double(hi)))
}
