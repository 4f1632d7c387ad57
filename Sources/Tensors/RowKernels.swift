// Row kernels over contiguous Float rows (max, sum, dot, softmax and its backward) that the
// softmax, attention, convolution and reduction ops share, and the shape split they use.

/// Softmax of `n` values at stride `stride`, from `src` to `dst` (which may alias).
@inline(__always)
func softmaxLine(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int, _ stride: Int) {
    if stride == 1 { softmaxRow(src, dst, n); return }
    var m = -Float.infinity
    for j in 0..<n { let v = src[j * stride]; m = v > m ? v : m }
    if m == -Float.infinity {
        // Every entry masked: PyTorch yields NaN here; a zero row keeps optimisation finite.
        for j in 0..<n { dst[j * stride] = 0 }
        return
    }
    var s: Float = 0
    for j in 0..<n { let e = fastExp(src[j * stride] - m); dst[j * stride] = e; s += e }
    let inv = 1 / s
    for j in 0..<n { dst[j * stride] *= inv }
}

/// Softmax of a contiguous row. The exp loop carries no reduction so that it vectorises; the max
/// and the sum run on SIMD8 accumulators (a scalar Float reduction would not vectorise).
@inline(__always)
func softmaxRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    let m = maxOfRow(src, n)
    if m == -Float.infinity {
        for j in 0..<n { dst[j] = 0 }
        return
    }
    // In place on dst: a loop that reads and writes the same index needs no aliasing check to vectorise.
    if UnsafePointer(dst) != src { dst.update(from: src, count: n) }
    for j in 0..<n { dst[j] = fastExp(dst[j] - m) }
    let inv = 1 / sumOfRow(UnsafePointer(dst), n)
    for j in 0..<n { dst[j] *= inv }
}

/// Largest of `n` contiguous values (-infinity for n = 0).
@inline(__always)
func maxOfRow(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var j = 0
    var m = -Float.infinity
    if n >= 8 {
        let raw = UnsafeRawPointer(p)
        var acc = SIMD8<Float>(repeating: -.infinity)
        while j + 8 <= n {
            let v = raw.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)
            acc.replace(with: v, where: v .> acc)
            j += 8
        }
        for i in 0..<8 { m = acc[i] > m ? acc[i] : m }
    }
    while j < n { m = p[j] > m ? p[j] : m; j += 1 }
    return m
}

/// Sum of `n` contiguous values.
@inline(__always)
func sumOfRow(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var j = 0
    var acc = SIMD8<Float>(repeating: 0)
    let raw = UnsafeRawPointer(p)
    while j + 8 <= n {
        acc += raw.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)
        j += 8
    }
    var s = acc.sum()
    while j < n { s += p[j]; j += 1 }
    return s
}

/// Dot product of two contiguous rows of `n` values.
@inline(__always)
func dotOfRows(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var j = 0
    var acc = SIMD8<Float>(repeating: 0)
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    while j + 8 <= n {
        acc += ra.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)
            * rb.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)
        j += 8
    }
    var s = acc.sum()
    while j < n { s += a[j] * b[j]; j += 1 }
    return s
}

/// Softmax backward in place over `rows` rows of `length`: each row of `ds` holds dP on entry and
/// scale · P ⊙ (dP − Σ dP ⊙ P) on exit (the gradient of the pre-softmax scores). Rows run on both cores.
func softmaxBackwardRows(_ ds: UnsafeMutablePointer<Float>, probs: UnsafePointer<Float>, rows: Int, length: Int,
                         scale: Float) {
    let S = SendablePointer(ds), P = SendableConstPointer(probs)
    Parallel.chunks(rows, costPerItem: 4 * length) { range in
        for r in range {
            softmaxBackwardRow(S.pointer + r * length, P.pointer + r * length, length, scale: scale)
        }
    }
}

/// One row of ``softmaxBackwardRows(_:probs:rows:length:scale:)``, for callers already on a worker.
@inline(__always)
func softmaxBackwardRow(_ row: UnsafeMutablePointer<Float>, _ prow: UnsafePointer<Float>, _ length: Int, scale: Float) {
    let dot = dotOfRows(UnsafePointer(row), prow, length)
    for j in 0..<length { row[j] = scale * prow[j] * (row[j] - dot) }
}

/// Softmax in place over the first `visible` of `length` scores, the rest set to 0 (a causal row).
@inline(__always)
func softmaxRow(_ row: UnsafeMutablePointer<Float>, visible: Int, length: Int) {
    softmaxRow(row, row, visible)
    for j in visible..<length { row[j] = 0 }
}

/// Splits a shape around `axis` into (outer, axis length, inner) extents.
func splitAroundAxis(_ shape: [Int], _ axis: Int) -> (outer: Int, n: Int, inner: Int) {
    (product(shape[..<axis]), shape[axis], product(shape[(axis + 1)...]))
}
