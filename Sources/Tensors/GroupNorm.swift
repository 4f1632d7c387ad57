// Group normalisation (PyTorch's F.group_norm), optionally fused with the SiLU that follows it in
// every VQGAN block. The kernels work on raw buffers, forward and backward side by side as in
// llm.c's layernorm_forward/layernorm_backward; the Tensor functions at the end only wire them
// into autograd.
//
// Statistics take two passes (mean, then centred squares) with Float partial sums gathered in
// Double: a 256x256 feature map puts 2^16·C/G values in one group, where a single-pass Float sum
// of squares loses most of its digits. Forward keeps mean and 1/std per group for backward.

/// The layout of a GroupNorm: x is [N, C, S] (S = product of the spatial sizes), seen as N·G
/// contiguous rows of C/G·S values.
struct GroupNormLayout: Sendable {
    let n: Int, c: Int, groups: Int, spatial: Int
    var channelsPerGroup: Int { c / groups }
    var groupSize: Int { channelsPerGroup * spatial }
    var rows: Int { n * groups }
    /// The statistics row of plane k = (sample, channel).
    @inline(__always) func row(ofPlane k: Int) -> Int { (k / c) * groups + (k % c) / channelsPerGroup }
}

/// x [N, C, S] → out: (x − mean)·rstd·w + b per group, then SiLU when `thenSiLU`; writes each
/// row's mean [N·G] and rstd [N·G].
func groupNormForward(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                      mean: UnsafeMutablePointer<Double>, rstd: UnsafeMutablePointer<Float>,
                      weight w: UnsafePointer<Float>, bias b: UnsafePointer<Float>,
                      _ L: GroupNormLayout, eps: Float, thenSiLU: Bool) {
    let X = SendableConstPointer(x), O = SendablePointer(out), M = SendablePointer(mean), R = SendablePointer(rstd)
    let W = SendableConstPointer(w), B = SendableConstPointer(b)
    Parallel.chunks(L.rows, costPerItem: 3 * L.groupSize) { range in
        for row in range {
            let base = row * L.groupSize
            let (mu, rs) = rowStatistics(X.pointer + base, L.groupSize, eps: eps)
            M[row] = mu
            R[row] = rs
            // The mean is subtracted as a hi + lo pair of Floats: exact for large offsets.
            let (hi, lo) = splitMean(mu)
            for cc in 0..<L.channelsPerGroup {
                let ch = (row % L.groups) * L.channelsPerGroup + cc
                let off = base + cc * L.spatial
                if thenSiLU {
                    normalizeSiLU(X.pointer + off, O.pointer + off, L.spatial, hi: hi, lo: lo, scale: rs * W[ch], shift: B[ch])
                } else {
                    normalize(X.pointer + off, O.pointer + off, L.spatial, hi: hi, lo: lo, scale: rs * W[ch], shift: B[ch])
                }
            }
        }
    }
}

/// The gradient through the fused SiLU: gv = g·silu'(v) with v recomputed from x and the saved
/// statistics (the normalised values are never stored).
func groupNormSiLUBackward(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ gv: UnsafeMutablePointer<Float>,
                           mean: UnsafePointer<Double>, rstd: UnsafePointer<Float>,
                           weight w: UnsafePointer<Float>, bias b: UnsafePointer<Float>, _ L: GroupNormLayout) {
    let G = SendableConstPointer(g), X = SendableConstPointer(x), V = SendablePointer(gv)
    let M = SendableConstPointer(mean), R = SendableConstPointer(rstd), W = SendableConstPointer(w), B = SendableConstPointer(b)
    Parallel.chunks(L.n * L.c, costPerItem: 10 * L.spatial) { range in
        for k in range {
            let row = L.row(ofPlane: k), ch = k % L.c, off = k * L.spatial
            let (hi, lo) = splitMean(M[row])
            siluGradientOfNormalized(G.pointer + off, X.pointer + off, V.pointer + off, L.spatial,
                                     hi: hi, lo: lo, scale: R[row] * W[ch], shift: B[ch])
        }
    }
}

/// Backward of the normalisation and affine for the gradient `g` of its output:
///   dw_c += Σ_n rstd·Σ g·(x − mean),  db_c += Σ g,
///   dx = rstd·(w·g − A − x̂·B) with A = mean(w·g), B = mean(w·g·x̂) over each group,
/// which per plane is dx = c1·g + c2·(x − mean) + c3. `dx` is written when `overwrite`, else
/// added to; nil buffers are not wanted.
func groupNormBackward(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                       mean: UnsafePointer<Double>, rstd: UnsafePointer<Float>, weight w: UnsafePointer<Float>,
                       dx: UnsafeMutablePointer<Float>?, overwrite: Bool,
                       dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?, _ L: GroupNormLayout) {
    let planes = L.n * L.c
    // Per plane: Σg and Σg·(x − mean) in one streaming pass, and the plane's constants.
    let scratch = UnsafeMutableBufferPointer<Double>.allocate(capacity: 2 * planes)
    let constants = UnsafeMutableBufferPointer<Float>.allocate(capacity: 3 * planes)
    defer { scratch.deallocate(); constants.deallocate() }
    let SG = SendablePointer(scratch.baseAddress!), SGX = SendablePointer(scratch.baseAddress! + planes)
    let G = SendableConstPointer(g), X = SendableConstPointer(x), M = SendableConstPointer(mean)
    Parallel.chunks(planes, costPerItem: 2 * L.spatial) { range in
        for k in range {
            let (hi, lo) = splitMean(M[L.row(ofPlane: k)])
            (SG[k], SGX[k]) = sumAndCentredDot(G.pointer + k * L.spatial, X.pointer + k * L.spatial, L.spatial, hi: hi, lo: lo)
        }
    }
    for k in 0..<planes {
        dWeight?[k % L.c] += Float(Double(rstd[L.row(ofPlane: k)]) * SGX[k])
        dBias?[k % L.c] += Float(SG[k])
    }
    guard let dx else { return }
    let C1 = SendablePointer(constants.baseAddress!), C2 = SendablePointer(constants.baseAddress! + planes)
    let C3 = SendablePointer(constants.baseAddress! + 2 * planes)
    let cpg = L.channelsPerGroup, inv = 1.0 / Double(L.groupSize)
    for row in 0..<L.rows {
        let first = (row / L.groups) * L.c + (row % L.groups) * cpg    // the group's first plane
        let rs = Double(rstd[row])
        var sA = 0.0, sB = 0.0
        for k in first..<(first + cpg) {
            let wc = Double(w[k % L.c])
            sA += wc * SG[k]
            sB += wc * rs * SGX[k]
        }
        for k in first..<(first + cpg) {
            C1[k] = Float(rs * Double(w[k % L.c]))
            C2[k] = Float(-rs * rs * sB * inv)
            C3[k] = Float(-rs * sA * inv)
        }
    }
    let D = SendablePointer(dx)
    Parallel.chunks(planes, costPerItem: L.spatial) { range in
        for k in range {
            let (hi, lo) = splitMean(M[L.row(ofPlane: k)])
            let (a, bb, cst, off) = (C1[k], C2[k], C3[k], k * L.spatial)
            if overwrite {
                for s in 0..<L.spatial { D[off + s] = a * G[off + s] + bb * ((X[off + s] - hi) - lo) + cst }
            } else {
                for s in 0..<L.spatial { D[off + s] += a * G[off + s] + bb * ((X[off + s] - hi) - lo) + cst }
            }
        }
    }
}

/// The statistics a GroupNorm keeps for its backward pass, in memory it owns.
private final class GroupNormStatistics {
    let mean: UnsafeMutablePointer<Double>
    let rstd: UnsafeMutablePointer<Float>
    init(rows: Int) {
        mean = .allocate(capacity: max(1, rows))
        rstd = .allocate(capacity: max(1, rows))
    }
    deinit { mean.deallocate(); rstd.deallocate() }
}

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
        let c = x.shape[1]
        precondition(groups > 0 && c % groups == 0, "groupNorm: \(c) channels not divisible by \(groups) groups")
        if let weight { precondition(weight.shape == [c], "groupNorm: weight \(weight.shape) must be [\(c)]") }
        if let bias { precondition(bias.shape == [c], "groupNorm: bias \(bias.shape) must be [\(c)]") }
        let layout = GroupNormLayout(n: x.shape[0], c: c, groups: groups, spatial: product(x.shape.dropFirst(2)))
        let w = weight?.data ?? [Float](repeating: 1, count: c)
        let b = bias?.data ?? [Float](repeating: 0, count: c)
        let stats = GroupNormStatistics(rows: layout.rows)
        var out = uninitializedFloats(x.count)
        withPointers(x.data, w, b) { px, pw, pb in
            out.withUnsafeMutableBufferPointer { po in
                groupNormForward(px, po.baseAddress!, mean: stats.mean, rstd: stats.rstd, weight: pw, bias: pb,
                                 layout, eps: eps, thenSiLU: thenSiLU)
            }
        }

        let parents = [x] + [weight, bias].compactMap { $0 }
        return Tensor(shape: x.shape, data: out, parents: parents) { gradOut in
            // With the fused SiLU, first the gradient at the normalised output.
            var throughSiLU: [Float] = []
            if thenSiLU {
                throughSiLU = uninitializedFloats(x.count)
                withPointers(x.data, w, b) { px, pw, pb in
                    throughSiLU.withUnsafeMutableBufferPointer { pv in
                        groupNormSiLUBackward(gradOut.baseAddress!, px, pv.baseAddress!, mean: stats.mean, rstd: stats.rstd,
                                              weight: pw, bias: pb, layout)
                    }
                }
            }
            func backward(_ g: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?, overwrite: Bool) {
                var dw = [Float](repeating: 0, count: weight?.requiresGrad == true ? c : 0)
                var db = [Float](repeating: 0, count: bias?.requiresGrad == true ? c : 0)
                withPointers(x.data, w, b) { px, pw, _ in
                    dw.withUnsafeMutableBufferPointer { pdw in db.withUnsafeMutableBufferPointer { pdb in
                        // An empty array's base address may be the shared empty storage: pass nil instead.
                        groupNormBackward(g, px, mean: stats.mean, rstd: stats.rstd, weight: pw, dx: dx, overwrite: overwrite,
                                          dWeight: pdw.isEmpty ? nil : pdw.baseAddress, dBias: pdb.isEmpty ? nil : pdb.baseAddress, layout)
                    } }
                }
                if let weight, !dw.isEmpty { weight.accumulateGrad { for i in 0..<c { $0[i] += dw[i] } } }
                if let bias, !db.isEmpty { bias.accumulateGrad { for i in 0..<c { $0[i] += db[i] } } }
            }
            let run = { (g: UnsafePointer<Float>) in
                if x.requiresGrad {
                    x.accumulateGrad(overwritingFresh: { dx, fresh in backward(g, dx: dx.baseAddress!, overwrite: fresh) })
                } else {
                    backward(g, dx: nil, overwrite: false)
                }
            }
            if thenSiLU { throughSiLU.withUnsafeBufferPointer { run($0.baseAddress!) } } else { run(gradOut.baseAddress!) }
        }
    }
}

/// Base pointers of three arrays at once (for kernels that read several).
@inline(__always)
func withPointers<R>(_ a: [Float], _ b: [Float], _ c: [Float],
                     _ body: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>) -> R) -> R {
    a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeBufferPointer { pc in
        body(pa.baseAddress!, pb.baseAddress!, pc.baseAddress!)
    } } }
}

/// o = ((x − hi) − lo)·scale + shift over `count` contiguous values.
@inline(never)
func normalize(_ x: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>, _ count: Int,
               hi: Float, lo: Float, scale: Float, shift: Float) {
    for s in 0..<count { o[s] = ((x[s] - hi) - lo) * scale + shift }
}
