// Layer normalisation (PyTorch's F.layer_norm), and the row kernels both normalisations share
// (GroupNorm is in GroupNorm.swift).

/// x [rows, D] → out = (x − mean)·rstd·w + b per row; writes each row's mean (as a hi + lo
/// Float pair, so that x − mean stays exact for large offsets) and rstd.
func layerNormForward(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                      meanHi: UnsafeMutablePointer<Float>, meanLo: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                      weight w: UnsafePointer<Float>, bias b: UnsafePointer<Float>, rows: Int, d: Int, eps: Float) {
    let X = SendableConstPointer(x), O = SendablePointer(out), W = SendableConstPointer(w), B = SendableConstPointer(b)
    let MH = SendablePointer(meanHi), ML = SendablePointer(meanLo), R = SendablePointer(rstd)
    Parallel.chunks(rows, costPerItem: 4 * d) { range in
        for r in range {
            let off = r * d
            let (mu, rs) = rowStatistics(X.pointer + off, d, eps: eps)
            let (hi, lo) = splitMean(mu)
            (MH[r], ML[r], R[r]) = (hi, lo, rs)
            for j in 0..<d { O[off + j] = ((X[off + j] - hi) - lo) * rs * W[j] + B[j] }
        }
    }
}

/// Backward for the gradient `g` of the output: dw_j += Σ_rows g·x̂, db_j += Σ_rows g, and
/// dx += rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = g·w per row. Nil buffers are not wanted.
func layerNormBackward(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                       meanHi: UnsafePointer<Float>, meanLo: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                       weight w: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?,
                       dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?, rows: Int, d: Int) {
    for r in 0..<rows {
        let off = r * d, hi = meanHi[r], lo = meanLo[r], rs = rstd[r]
        if let dWeight { for j in 0..<d { dWeight[j] += g[off + j] * ((x[off + j] - hi) - lo) * rs } }
        if let dBias { for j in 0..<d { dBias[j] += g[off + j] } }
    }
    guard let dx else { return }
    let X = SendableConstPointer(x), G = SendableConstPointer(g), W = SendableConstPointer(w), D = SendablePointer(dx)
    let MH = SendableConstPointer(meanHi), ML = SendableConstPointer(meanLo), R = SendableConstPointer(rstd)
    Parallel.chunks(rows, costPerItem: 6 * d) { range in
        for r in range {
            let off = r * d, hi = MH[r], lo = ML[r], rs = R[r]
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

/// The statistics a LayerNorm keeps for its backward pass: [mean hi | mean lo | rstd] per row.
private final class LayerNormStatistics {
    let storage: UnsafeMutablePointer<Float>
    let rows: Int
    init(rows: Int) {
        self.rows = rows
        storage = .allocate(capacity: max(1, 3 * rows))
    }
    var meanHi: UnsafeMutablePointer<Float> { storage }
    var meanLo: UnsafeMutablePointer<Float> { storage + rows }
    var rstd: UnsafeMutablePointer<Float> { storage + 2 * rows }
    deinit { storage.deallocate() }
}

extension Tensor {
    /// Layer normalisation over the last dimension of `x` [..., D]: each row is shifted to zero
    /// mean and scaled by 1/sqrt(biased variance + eps), then multiplied by `weight` [D] and
    /// shifted by `bias` [D] when given. Matches `torch.nn.functional.layer_norm(x, (D,), ...)`.
    public static func layerNorm(_ x: Tensor, weight: Tensor? = nil, bias: Tensor? = nil, eps: Float = 1e-5) -> Tensor {
        precondition(x.rank >= 1, "layerNorm needs at least one dimension")
        let d = x.shape[x.rank - 1]
        if let weight { precondition(weight.shape == [d], "layerNorm: weight \(weight.shape) must be [\(d)] for input \(x.shape)") }
        if let bias { precondition(bias.shape == [d], "layerNorm: bias \(bias.shape) must be [\(d)] for input \(x.shape)") }
        let rows = d == 0 ? 0 : x.count / d
        let w = weight?.data ?? [Float](repeating: 1, count: d)
        let b = bias?.data ?? [Float](repeating: 0, count: d)
        let stats = LayerNormStatistics(rows: rows)
        var out = uninitializedFloats(x.count)
        if rows > 0 {
            withPointers(x.data, w, b) { px, pw, pb in
                out.withUnsafeMutableBufferPointer { po in
                    layerNormForward(px, po.baseAddress!, meanHi: stats.meanHi, meanLo: stats.meanLo, rstd: stats.rstd,
                                     weight: pw, bias: pb, rows: rows, d: d, eps: eps)
                }
            }
        }
        let parents = [x] + [weight, bias].compactMap { $0 }
        return Tensor(shape: x.shape, data: out, parents: parents) { g in
            guard rows > 0 else { return }
            var dw = [Float](repeating: 0, count: weight?.requiresGrad == true ? d : 0)
            var db = [Float](repeating: 0, count: bias?.requiresGrad == true ? d : 0)
            func backward(_ dx: UnsafeMutablePointer<Float>?) {
                withPointers(x.data, w, b) { px, pw, _ in
                    dw.withUnsafeMutableBufferPointer { pdw in db.withUnsafeMutableBufferPointer { pdb in
                        // An empty array's base address may be the shared empty storage: pass nil instead.
                        layerNormBackward(g.baseAddress!, px, meanHi: stats.meanHi, meanLo: stats.meanLo, rstd: stats.rstd,
                                          weight: pw, dx: dx, dWeight: pdw.isEmpty ? nil : pdw.baseAddress,
                                          dBias: pdb.isEmpty ? nil : pdb.baseAddress, rows: rows, d: d)
                    } }
                }
            }
            if x.requiresGrad { x.accumulateGrad { backward($0.baseAddress!) } } else { backward(nil) }
            if let weight, !dw.isEmpty { weight.accumulateGrad { for j in 0..<d { $0[j] += dw[j] } } }
            if let bias, !db.isEmpty { bias.accumulateGrad { for j in 0..<d { $0[j] += db[j] } } }
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
