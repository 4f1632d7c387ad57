// Views that only move data around: reshape (free), permute (a gather), squeeze/unsqueeze.

extension Tensor {
    /// The same elements under a new shape. One dimension may be -1 and is then inferred.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var target = newShape
        if let i = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            target[i] = count / known
        }
        precondition(product(target) == count, "cannot reshape \(shape) to \(newShape)")
        let x = self
        return Tensor(shape: target, data: data, parents: [self]) { g in
            x.accumulateGrad { d in for i in 0..<d.count { d[i] += g[i] } }
        }
    }

    /// Reorders dimensions: output dimension i is input dimension `order[i]`.
    public func permuted(_ order: [Int]) -> Tensor {
        precondition(order.count == rank && Set(order) == Set(0..<rank), "bad permutation \(order) for rank \(rank)")
        if order == Array(0..<rank) { return reshaped(shape) }
        let outShape = order.map { shape[$0] }
        let inStrides = contiguousStrides(shape)
        let gatherStrides = order.map { inStrides[$0] }   // input stride for each output dim
        var out = [Float](repeating: 0, count: count)
        data.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                permuteCopy(px, po, outShape: outShape, gatherStrides: gatherStrides, scatter: false)
            }
        }
        let x = self
        return Tensor(shape: outShape, data: out, parents: [self]) { g in
            x.accumulateGrad { d in
                permuteCopy(g, d, outShape: outShape, gatherStrides: gatherStrides, scatter: true)
            }
        }
    }

    /// Swaps two dimensions.
    public func transposed(_ a: Int, _ b: Int) -> Tensor {
        var order = Array(0..<rank)
        order.swapAt(normalizeAxis(a, rank: rank), normalizeAxis(b, rank: rank))
        return permuted(order)
    }

    /// Inserts a dimension of extent 1 at `axis`.
    public func unsqueezed(_ axis: Int) -> Tensor {
        var s = shape
        s.insert(1, at: axis < 0 ? axis + rank + 1 : axis)
        return reshaped(s)
    }

    /// Removes a dimension of extent 1 at `axis`.
    public func squeezed(_ axis: Int) -> Tensor {
        let a = normalizeAxis(axis, rank: rank)
        precondition(shape[a] == 1, "cannot squeeze axis \(axis) of extent \(shape[a])")
        var s = shape
        s.remove(at: a)
        return reshaped(s)
    }

    /// Flattens dimensions from `startAxis` onward into one.
    public func flattened(from startAxis: Int = 0) -> Tensor {
        let a = normalizeAxis(startAxis, rank: max(rank, 1))
        return reshaped(Array(shape[..<a]) + [product(shape[a...])])
    }
}

/// Copies between a contiguous output layout and a strided input: out[i] = in[gather(i)], or, when
/// `scatter`, in[gather(i)] += out[i] (the backward of the gather).
private func permuteCopy(_ src: UnsafeBufferPointer<Float>, _ dst: UnsafeMutableBufferPointer<Float>,
                         outShape: [Int], gatherStrides: [Int], scatter: Bool) {
    let rank = outShape.count
    let inner = outShape[rank - 1], innerStride = gatherStrides[rank - 1]
    let rows = product(outShape.dropLast())
    var index = [Int](repeating: 0, count: max(rank - 1, 0))
    var base = 0
    for r in 0..<rows {
        let o = r * inner
        if scatter {
            for j in 0..<inner { dst[base + j * innerStride] += src[o + j] }
        } else {
            for j in 0..<inner { dst[o + j] = src[base + j * innerStride] }
        }
        // Advance the multi-index over the outer dimensions.
        var d = rank - 2
        while d >= 0 {
            index[d] += 1
            base += gatherStrides[d]
            if index[d] < outShape[d] { break }
            base -= gatherStrides[d] * outShape[d]
            index[d] = 0
            d -= 1
        }
    }
}
