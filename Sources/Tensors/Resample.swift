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

/// For each output position along one axis: `taps` input indices (clamped into range) and weights.
struct ResampleTaps: Sendable {
    let taps: Int
    var index: [Int]
    var weight: [Float]

    /// PyTorch's source coordinate of output `d`: d·scale with aligned corners, else the
    /// half-pixel mapping (d + 0.5)·in/out − 0.5. Computed in Float as PyTorch does for Float input.
    private static func source(_ d: Int, input: Int, output: Int, alignCorners: Bool) -> Float {
        if alignCorners {
            let scale: Float = output > 1 ? Float(input - 1) / Float(output - 1) : 0
            return scale * Float(d)
        }
        let scale = Float(input) / Float(output)
        return scale * (Float(d) + 0.5) - 0.5
    }

    /// Linear interpolation: two taps, the source coordinate clamped at 0 (PyTorch's bilinear).
    static func linear(input: Int, output: Int, alignCorners: Bool) -> ResampleTaps {
        var taps = ResampleTaps(taps: 2, index: [], weight: [])
        for d in 0..<output {
            let s = max(source(d, input: input, output: output, alignCorners: alignCorners), 0)
            let i0 = min(Int(s), input - 1)
            let i1 = min(i0 + 1, input - 1)
            let l1 = s - Float(i0)
            taps.index += [i0, i1]
            taps.weight += [1 - l1, l1]
        }
        return taps
    }

    /// Keys' cubic convolution with A = −0.75 (PyTorch's bicubic): four taps around ⌊s⌋, indices
    /// clamped to the edge.
    static func cubic(input: Int, output: Int, alignCorners: Bool) -> ResampleTaps {
        let a: Float = -0.75
        func near(_ x: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }          // |x| <= 1
        func far(_ x: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }     // 1 < |x| < 2
        var taps = ResampleTaps(taps: 4, index: [], weight: [])
        for d in 0..<output {
            let s = source(d, input: input, output: output, alignCorners: alignCorners)
            let f = s.rounded(.down)
            let t = s - f
            let i = Int(f)
            for k in -1...2 { taps.index.append(min(max(i + k, 0), input - 1)) }
            taps.weight += [far(t + 1), near(t), near(1 - t), far(2 - t)]
        }
        return taps
    }
}

extension Tensor {
    /// Bilinear resize of x [..., H, W] to [..., height, width] as `F.interpolate(mode="bilinear")`
    /// (no antialiasing): half-pixel source coordinates, or corner-aligned ones with `alignCorners`.
    public static func resizeBilinear(_ x: Tensor, height: Int, width: Int, alignCorners: Bool = false) -> Tensor {
        precondition(x.rank >= 2 && height >= 1 && width >= 1, "resizeBilinear: bad input \(x.shape) or size \(height)x\(width)")
        let h = x.shape[x.rank - 2], w = x.shape[x.rank - 1]
        return resample(x, rows: .linear(input: h, output: height, alignCorners: alignCorners),
                        cols: .linear(input: w, output: width, alignCorners: alignCorners))
    }

    /// Bicubic resize of x [..., H, W] to [..., height, width] as `F.interpolate(mode="bicubic")`
    /// (A = −0.75, edge-clamped taps, no antialiasing, no clamping of the values).
    public static func resizeBicubic(_ x: Tensor, height: Int, width: Int, alignCorners: Bool = false) -> Tensor {
        precondition(x.rank >= 2 && height >= 1 && width >= 1, "resizeBicubic: bad input \(x.shape) or size \(height)x\(width)")
        let h = x.shape[x.rank - 2], w = x.shape[x.rank - 1]
        return resample(x, rows: .cubic(input: h, output: height, alignCorners: alignCorners),
                        cols: .cubic(input: w, output: width, alignCorners: alignCorners))
    }

    /// Separable resampling, x: [planes, H, W] -> [planes, Ho, Wo]: first along rows into
    /// tmp [H, Wo], then along columns. Backward runs the two passes transposed.
    static func resample(_ x: Tensor, rows: ResampleTaps, cols: ResampleTaps) -> Tensor {
        let h = x.shape[x.rank - 2], w = x.shape[x.rank - 1]
        let ho = rows.index.count / rows.taps, wo = cols.index.count / cols.taps
        let planes = product(x.shape.dropLast(2))
        let outShape = Array(x.shape.dropLast(2)) + [ho, wo]
        let cost = (h * wo * cols.taps + ho * wo * rows.taps) * 2
        var out = uninitializedFloats(planes * ho * wo)
        x.data.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                let X = SendableConstPointer(px.baseAddress!), O = SendablePointer(po.baseAddress!)
                Parallel.chunks(planes, costPerItem: cost) { range in
                    var tmp = uninitializedFloats(h * wo)   // every element written before it is read
                    tmp.withUnsafeMutableBufferPointer { pt in
                        let t = pt.baseAddress!
                        for p in range {
                            let src = X.pointer + p * h * w, dst = O.pointer + p * ho * wo
                            for iy in 0..<h {
                                for ox in 0..<wo {
                                    var acc: Float = 0
                                    for k in 0..<cols.taps {
                                        acc += cols.weight[ox * cols.taps + k] * src[iy * w + cols.index[ox * cols.taps + k]]
                                    }
                                    t[iy * wo + ox] = acc
                                }
                            }
                            for oy in 0..<ho {
                                let row = dst + oy * wo
                                for ox in 0..<wo { row[ox] = 0 }
                                for k in 0..<rows.taps {
                                    let wy = rows.weight[oy * rows.taps + k], line = t + rows.index[oy * rows.taps + k] * wo
                                    for ox in 0..<wo { row[ox] += wy * line[ox] }
                                }
                            }
                        }
                    }
                }
            }
        }
        return Tensor(shape: outShape, data: out, parents: [x]) { g in
            x.accumulateGrad { dx in
                let G = SendableConstPointer(g.baseAddress!), D = SendablePointer(dx.baseAddress!)
                Parallel.chunks(planes, costPerItem: cost) { range in
                    var tmp = uninitializedFloats(h * wo)   // every element written before it is read
                    tmp.withUnsafeMutableBufferPointer { pt in
                        let t = pt.baseAddress!
                        for p in range {
                            let src = G.pointer + p * ho * wo, dst = D.pointer + p * h * w
                            t.update(repeating: 0, count: h * wo)
                            for oy in 0..<ho {
                                let row = src + oy * wo
                                for k in 0..<rows.taps {
                                    let wy = rows.weight[oy * rows.taps + k], line = t + rows.index[oy * rows.taps + k] * wo
                                    for ox in 0..<wo { line[ox] += wy * row[ox] }
                                }
                            }
                            for iy in 0..<h {
                                for ox in 0..<wo {
                                    let v = t[iy * wo + ox]
                                    for k in 0..<cols.taps {
                                        dst[iy * w + cols.index[ox * cols.taps + k]] += cols.weight[ox * cols.taps + k] * v
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
