// Spatial resampling of NCHW tensors: nearest-neighbour 2x upsampling (the VQGAN decoder's Upsample).

extension Tensor {
    /// Nearest-neighbour upsampling by 2 on the last two dimensions: x [..., H, W] -> [..., 2H, 2W],
    /// out[..., y, x] = in[..., y / 2, x / 2] (`F.interpolate(scale_factor=2, mode="nearest")`).
    public static func upsampleNearest2x(_ x: Tensor) -> Tensor {
        precondition(x.rank >= 2, "upsampleNearest2x needs at least two dimensions, got \(x.shape)")
        let h = x.shape[x.rank - 2], w = x.shape[x.rank - 1]
        let planes = product(x.shape.dropLast(2))
        let outShape = Array(x.shape.dropLast(2)) + [2 * h, 2 * w]
        var out = uninitializedFloats(planes * 4 * h * w)
        x.data.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                let X = SendableConstPointer(px.baseAddress!), O = SendablePointer(po.baseAddress!)
                // Rows of the input, each producing two identical output rows of doubled pixels.
                Parallel.chunks(planes * h, costPerItem: 4 * w) { range in
                    for r in range {
                        let src = X.pointer + r * w, dst = O.pointer + r * 4 * w
                        for j in 0..<w {
                            let v = src[j]
                            dst[2 * j] = v
                            dst[2 * j + 1] = v
                        }
                        (dst + 2 * w).update(from: dst, count: 2 * w)
                    }
                }
            }
        }
        return Tensor(shape: outShape, data: out, parents: [x]) { g in
            x.accumulateGrad { dx in
                let G = SendableConstPointer(g.baseAddress!), D = SendablePointer(dx.baseAddress!)
                Parallel.chunks(planes * h, costPerItem: 4 * w) { range in
                    for r in range {
                        let top = G.pointer + r * 4 * w, bottom = top + 2 * w, dst = D.pointer + r * w
                        for j in 0..<w {
                            dst[j] += (top[2 * j] + top[2 * j + 1]) + (bottom[2 * j] + bottom[2 * j + 1])
                        }
                    }
                }
            }
        }
    }
}
