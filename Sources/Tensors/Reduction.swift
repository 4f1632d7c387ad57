// Sums and means, over everything or over chosen axes.

extension Tensor {
    /// Sum of all elements, as a 0-dimensional tensor.
    public func sum() -> Tensor {
        var acc: Double = 0   // Double keeps large sums (loss over 1M pixels) accurate
        for v in data { acc += Double(v) }
        let x = self
        return Tensor(shape: [], data: [Float(acc)], parents: [self]) { g in
            let g0 = g[0]
            x.accumulateGrad { d in for i in 0..<d.count { d[i] += g0 } }
        }
    }

    /// Mean of all elements, as a 0-dimensional tensor.
    public func mean() -> Tensor { sum() * (1 / Float(max(count, 1))) }

    /// Sum over `axes` (negative axes count from the end). Reduced axes are kept with extent 1
    /// when `keepDims` is true, removed otherwise.
    public func sum(axes: [Int], keepDims: Bool = false) -> Tensor {
        let axesSet = Set(axes.map { normalizeAxis($0, rank: rank) })
        let keptShape = shape.enumerated().map { axesSet.contains($0.offset) ? 1 : $0.element }
        let outShape = keepDims ? keptShape : shape.enumerated().filter { !axesSet.contains($0.offset) }.map(\.element)
        var out = [Float](repeating: 0, count: product(keptShape))
        data.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                accumulateBroadcastGrad(px, outShape: shape, shape: keptShape, into: po)
            }
        }
        let x = self
        let fullShape = shape
        return Tensor(shape: outShape, data: out, parents: [self]) { g in
            // Spread each reduced value back over the positions it summed.
            x.accumulateGrad { d in
                let rows = BroadcastRows(out: fullShape, a: keptShape, b: keptShape)
                let n = rows.rowLength, s = rows.strideA
                for r in 0..<rows.rowCount {
                    let (o, a, _) = rows.offsets(r)
                    for j in 0..<n { d[o + j] += g[a + j * s] }
                }
            }
        }
    }

    /// Mean over `axes`.
    public func mean(axes: [Int], keepDims: Bool = false) -> Tensor {
        let n = axes.map { shape[normalizeAxis($0, rank: rank)] }.reduce(1, *)
        return sum(axes: axes, keepDims: keepDims) * (1 / Float(max(n, 1)))
    }
}
