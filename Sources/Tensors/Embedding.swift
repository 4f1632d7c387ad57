// Embedding lookup (F.embedding): gathers rows of a weight table by integer index. Used for CLIP
// token and position embeddings and for the VQGAN codebook.

extension Tensor {
    /// Gathers rows of `weight` [V, D] at `indices`, laid out as `indexShape` (default: a flat
    /// list). Result: [indexShape..., D]. Backward adds the output gradient into the selected
    /// rows of `weight` (repeated indices accumulate), only when `weight` requires a gradient.
    public static func embedding(_ indices: [Int], shape indexShape: [Int]? = nil, weight: Tensor) -> Tensor {
        precondition(weight.rank == 2, "embedding: weight must be [V, D], got \(weight.shape)")
        let shapeOfIndices = indexShape ?? [indices.count]
        precondition(product(shapeOfIndices) == indices.count,
                     "embedding: \(indices.count) indices do not fill shape \(shapeOfIndices)")
        let vocab = weight.shape[0], d = weight.shape[1]
        for (pos, i) in indices.enumerated() where i < 0 || i >= vocab {
            preconditionFailure("embedding: index \(i) at position \(pos) is out of range for a table of \(vocab) rows (weight \(weight.shape))")
        }
        // out: [count, D], row r = weight[indices[r]]
        var out = [Float](repeating: 0, count: indices.count * d)
        weight.data.withUnsafeBufferPointer { pw in
            out.withUnsafeMutableBufferPointer { po in
                for (r, i) in indices.enumerated() {
                    (po.baseAddress! + r * d).update(from: pw.baseAddress! + i * d, count: d)
                }
            }
        }
        return Tensor(shape: shapeOfIndices + [d], data: out, parents: [weight]) { g in
            weight.accumulateGrad { dw in
                for (r, i) in indices.enumerated() {
                    let src = r * d, dst = i * d
                    for j in 0..<d { dw[dst + j] += g[src + j] }
                }
            }
        }
    }
}
