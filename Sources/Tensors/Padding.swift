// Constant padding of the last two dimensions (PyTorch's F.pad(x, (left, right, top, bottom), value=v)).

extension Tensor {
    /// Pads the last two dimensions of `x` [..., H, W] with `value`: `left`/`right` columns and
    /// `top`/`bottom` rows, all non-negative. Result [..., H + top + bottom, W + left + right].
    /// Gradients flow to the interior only (the padded border is a constant).
    public static func pad(_ x: Tensor, left: Int, right: Int, top: Int, bottom: Int, value: Float = 0) -> Tensor {
        precondition(x.rank >= 2, "pad needs at least two dimensions, got \(x.shape)")
        precondition(left >= 0 && right >= 0 && top >= 0 && bottom >= 0,
                     "pad: negative padding (\(left), \(right), \(top), \(bottom))")
        let h = x.shape[x.rank - 2], w = x.shape[x.rank - 1]
        let ho = h + top + bottom, wo = w + left + right
        let planes = product(x.shape.dropLast(2))
        let outShape = Array(x.shape.dropLast(2)) + [ho, wo]
        // x: [planes, H, W] -> out: [planes, Ho, Wo]
        var out = [Float](repeating: value, count: planes * ho * wo)
        x.data.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                let X = SendableConstPointer(px.baseAddress!), O = SendablePointer(po.baseAddress!)
                Parallel.chunks(planes, costPerItem: h * w) { range in
                    for p in range {
                        for i in 0..<h {
                            (O.pointer + (p * ho + i + top) * wo + left).update(from: X.pointer + (p * h + i) * w, count: w)
                        }
                    }
                }
            }
        }
        return Tensor(shape: outShape, data: out, parents: [x]) { g in
            x.accumulateGrad { dx in
                let G = SendableConstPointer(g.baseAddress!), D = SendablePointer(dx.baseAddress!)
                Parallel.chunks(planes, costPerItem: h * w) { range in
                    for p in range {
                        for i in 0..<h {
                            let src = G.pointer + (p * ho + i + top) * wo + left, dst = D.pointer + (p * h + i) * w
                            for j in 0..<w { dst[j] += src[j] }
                        }
                    }
                }
            }
        }
    }
}
