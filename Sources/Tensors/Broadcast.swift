// NumPy-style broadcasting: shapes are right-aligned and a dimension of 1 stretches to match.
// Iteration is by rows of the (collapsed) innermost dimension so that kernels run tight loops.

/// The broadcast shape of two shapes, or a precondition failure naming both.
public func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
    let rank = max(a.count, b.count)
    var out = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
        let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        precondition(da == db || da == 1 || db == 1, "shapes \(a) and \(b) do not broadcast")
        out[i] = da == 1 ? db : da
    }
    return out
}

/// Strides of `shape` read as a broadcast operand of `outShape`: 0 along stretched dimensions.
func broadcastStrides(_ shape: [Int], to outShape: [Int]) -> [Int] {
    let own = contiguousStrides(shape)
    let lead = outShape.count - shape.count
    return (0..<outShape.count).map { i in
        i < lead || shape[i - lead] == 1 ? 0 : own[i - lead]
    }
}

/// Rows over an output shape with two broadcast operands. Adjacent dimensions that are laid out
/// alike in all three tensors are merged first, so `[N,C,H,W] + [1,C,1,1]` walks rows of H*W.
struct BroadcastRows {
    let outer: [Int]          // extents of the outer (row-index) dimensions
    let outerStrides: (out: [Int], a: [Int], b: [Int])
    let rowLength: Int
    let strideA: Int, strideB: Int   // 0 or 1 along a row
    var rowCount: Int { product(outer) }

    init(out: [Int], a: [Int], b: [Int]) {
        var dims = out
        var so = contiguousStrides(out)
        var sa = broadcastStrides(a, to: out)
        var sb = broadcastStrides(b, to: out)
        // Drop size-1 dims, then merge mergeable neighbours from the inside out.
        var i = dims.count - 1
        while i >= 0 {
            if dims[i] == 1 && dims.count > 1 {
                dims.remove(at: i); so.remove(at: i); sa.remove(at: i); sb.remove(at: i)
            }
            i -= 1
        }
        i = dims.count - 2
        while i >= 0 {
            let n = dims[i + 1]
            if so[i] == so[i + 1] * n && sa[i] == sa[i + 1] * n && sb[i] == sb[i + 1] * n {
                dims[i] *= n
                so[i] = so[i + 1]; sa[i] = sa[i + 1]; sb[i] = sb[i + 1]
                dims.remove(at: i + 1); so.remove(at: i + 1); sa.remove(at: i + 1); sb.remove(at: i + 1)
            }
            i -= 1
        }
        if dims.isEmpty { dims = [1]; so = [1]; sa = [0]; sb = [0] }
        rowLength = dims.last!
        strideA = sa.last!
        strideB = sb.last!
        outer = Array(dims.dropLast())
        outerStrides = (Array(so.dropLast()), Array(sa.dropLast()), Array(sb.dropLast()))
    }

    /// Offsets of row `r` in the output and in each operand.
    @inline(__always) func offsets(_ r: Int) -> (out: Int, a: Int, b: Int) {
        var rem = r, o = 0, oa = 0, ob = 0
        for d in stride(from: outer.count - 1, through: 0, by: -1) {
            let idx = rem % outer[d]
            rem /= outer[d]
            o += idx * outerStrides.out[d]
            oa += idx * outerStrides.a[d]
            ob += idx * outerStrides.b[d]
        }
        return (o, oa, ob)
    }
}

/// Sums `grad` (laid out as `outShape`) down to `shape`, the shape of a broadcast operand, adding
/// the result into `into`.
func accumulateBroadcastGrad(_ grad: UnsafeBufferPointer<Float>, outShape: [Int], shape: [Int],
                             into dst: UnsafeMutableBufferPointer<Float>) {
    if shape == outShape {
        let G = SendableConstPointer(grad.baseAddress!), D = SendablePointer(dst.baseAddress!)
        Parallel.chunks(dst.count) { r in for i in r { D[i] += G[i] } }
        return
    }
    let rows = BroadcastRows(out: outShape, a: shape, b: shape)
    let n = rows.rowLength, s = rows.strideA
    for r in 0..<rows.rowCount {
        let (o, a, _) = rows.offsets(r)
        if s == 0 {
            var acc: Float = 0
            for j in 0..<n { acc += grad[o + j] }
            dst[a] += acc
        } else {
            for j in 0..<n { dst[a + j] += grad[o + j] }
        }
    }
}
