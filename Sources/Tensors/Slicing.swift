// Taking parts of tensors and joining them: slice along one axis, crop of the last two
// dimensions, concatenation. All copy (storage is always contiguous) and scatter back in backward.

extension Tensor {
    /// The elements of `x` whose index along `axis` lies in `range` (`x[..., range, ...]`).
    /// Negative axes count from the end.
    public static func slice(_ x: Tensor, axis: Int, range: Range<Int>) -> Tensor {
        let a = normalizeAxis(axis, rank: x.rank)
        precondition(range.lowerBound >= 0 && range.upperBound <= x.shape[a],
                     "slice: range \(range) out of bounds for axis \(axis) of \(x.shape)")
        let (outer, n, inner) = splitAroundAxis(x.shape, a)
        var outShape = x.shape
        outShape[a] = range.count
        // x: [outer, n, inner] -> [outer, range.count, inner]; each outer index moves one block.
        let block = range.count * inner, offset = range.lowerBound * inner
        var out = uninitializedFloats(outer * block)
        x.data.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                for o in 0..<outer {
                    (po.baseAddress! + o * block).update(from: px.baseAddress! + o * n * inner + offset, count: block)
                }
            }
        }
        return Tensor(shape: outShape, data: out, parents: [x]) { g in
            x.accumulateGrad { dx in
                for o in 0..<outer {
                    let src = g.baseAddress! + o * block, dst = dx.baseAddress! + o * n * inner + offset
                    for i in 0..<block { dst[i] += src[i] }
                }
            }
        }
    }

    /// The window rows `top..<top+height`, columns `left..<left+width` of the last two dimensions
    /// of x [..., H, W]; it must lie inside the image.
    public static func crop(_ x: Tensor, top: Int, left: Int, height: Int, width: Int) -> Tensor {
        precondition(x.rank >= 2, "crop needs [..., H, W], got \(x.shape)")
        let h = x.shape[x.rank - 2], w = x.shape[x.rank - 1]
        precondition(top >= 0 && left >= 0 && height >= 0 && width >= 0 && top + height <= h && left + width <= w,
                     "crop: window \(height)x\(width) at (\(top), \(left)) outside \(h)x\(w)")
        let planes = product(x.shape.dropLast(2))
        let outShape = Array(x.shape.dropLast(2)) + [height, width]
        // x: [planes, H, W] -> [planes, height, width], one row copy per output row.
        var out = uninitializedFloats(planes * height * width)
        x.data.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                for p in 0..<planes {
                    for i in 0..<height {
                        (po.baseAddress! + (p * height + i) * width)
                            .update(from: px.baseAddress! + (p * h + top + i) * w + left, count: width)
                    }
                }
            }
        }
        return Tensor(shape: outShape, data: out, parents: [x]) { g in
            x.accumulateGrad { dx in
                for p in 0..<planes {
                    for i in 0..<height {
                        let src = g.baseAddress! + (p * height + i) * width
                        let dst = dx.baseAddress! + (p * h + top + i) * w + left
                        for j in 0..<width { dst[j] += src[j] }
                    }
                }
            }
        }
    }

    /// Joins tensors along `axis`; all other dimensions must agree. Negative axes count from the end.
    public static func concat(_ xs: [Tensor], axis: Int) -> Tensor {
        precondition(!xs.isEmpty, "concat needs at least one tensor")
        let rank = xs[0].rank
        let a = normalizeAxis(axis, rank: rank)
        for t in xs {
            precondition(t.rank == rank && (0..<rank).allSatisfy { $0 == a || t.shape[$0] == xs[0].shape[$0] },
                         "concat: shape \(t.shape) does not match \(xs[0].shape) outside axis \(axis)")
        }
        let (outer, _, inner) = splitAroundAxis(xs[0].shape, a)
        let blocks = xs.map { $0.shape[a] * inner }        // per outer index, each input's run
        let total = blocks.reduce(0, +)
        var offsets = [Int](repeating: 0, count: xs.count)  // where each input's run starts in a row
        for i in 1..<max(xs.count, 1) { offsets[i] = offsets[i - 1] + blocks[i - 1] }
        var outShape = xs[0].shape
        outShape[a] = xs.map { $0.shape[a] }.reduce(0, +)
        // out: [outer, Σ n_i, inner]: row o is the concatenation of every input's row o.
        var out = uninitializedFloats(outer * total)
        out.withUnsafeMutableBufferPointer { po in
            for (i, t) in xs.enumerated() {
                t.data.withUnsafeBufferPointer { pt in
                    for o in 0..<outer {
                        (po.baseAddress! + o * total + offsets[i]).update(from: pt.baseAddress! + o * blocks[i], count: blocks[i])
                    }
                }
            }
        }
        return Tensor(shape: outShape, data: out, parents: xs) { g in
            for (i, t) in xs.enumerated() where t.requiresGrad {
                t.accumulateGrad { dt in
                    for o in 0..<outer {
                        let src = g.baseAddress! + o * total + offsets[i], dst = dt.baseAddress! + o * blocks[i]
                        for j in 0..<blocks[i] { dst[j] += src[j] }
                    }
                }
            }
        }
    }
}
