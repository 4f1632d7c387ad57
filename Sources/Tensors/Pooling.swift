// Average and max pooling over the last two dimensions: fixed windows (F.avg_pool2d / F.max_pool2d
// without padding, floor mode) and PyTorch's adaptive bins (F.adaptive_avg_pool2d / _max_pool2d).
//
// Every variant is a set of rectangular windows given by per-output-row and per-output-column
// [start, end) ranges, so one kernel serves all four. Max pooling remembers the winning offset of
// each window (the first maximum in row-major order, as PyTorch) for backward.

/// Input ranges [start, end) of each output position along one axis.
private struct PoolBins {
    var start: [Int]
    var end: [Int]
    var count: Int { start.count }

    /// Windows of `kernel` every `stride`, as many as fit (floor mode, no padding).
    static func regular(input: Int, kernel: Int, stride: Int) -> PoolBins {
        precondition(kernel >= 1 && stride >= 1 && kernel <= input, "pool: kernel \(kernel) / stride \(stride) do not fit \(input)")
        let n = (input - kernel) / stride + 1
        return PoolBins(start: (0..<n).map { $0 * stride }, end: (0..<n).map { $0 * stride + kernel })
    }

    /// PyTorch's adaptive bins: start = ⌊i·in/out⌋, end = ⌈(i+1)·in/out⌉.
    static func adaptive(input: Int, output: Int) -> PoolBins {
        precondition(output >= 1 && input >= 1, "adaptive pool: sizes \(input) -> \(output) must be positive")
        return PoolBins(start: (0..<output).map { $0 * input / output },
                        end: (0..<output).map { (($0 + 1) * input + output - 1) / output })
    }
}

extension Tensor {
    /// Average pooling of x [..., H, W] with a square `kernel` moved by `stride` (no padding,
    /// floor mode): [..., (H − k)/s + 1, (W − k)/s + 1].
    public static func avgPool2d(_ x: Tensor, kernel: Int, stride: Int) -> Tensor {
        precondition(x.rank >= 2, "avgPool2d needs [..., H, W], got \(x.shape)")
        return pool(x, rows: .regular(input: x.shape[x.rank - 2], kernel: kernel, stride: stride),
                    cols: .regular(input: x.shape[x.rank - 1], kernel: kernel, stride: stride), max: false)
    }

    /// Max pooling of x [..., H, W] with a square `kernel` moved by `stride` (no padding, floor mode).
    /// The gradient goes to the first maximum of each window.
    public static func maxPool2d(_ x: Tensor, kernel: Int, stride: Int) -> Tensor {
        precondition(x.rank >= 2, "maxPool2d needs [..., H, W], got \(x.shape)")
        return pool(x, rows: .regular(input: x.shape[x.rank - 2], kernel: kernel, stride: stride),
                    cols: .regular(input: x.shape[x.rank - 1], kernel: kernel, stride: stride), max: true)
    }

    /// Adaptive average pooling of x [..., H, W] to [..., outputHeight, outputWidth] with PyTorch's
    /// bins (overlapping when the size does not divide evenly).
    public static func adaptiveAvgPool2d(_ x: Tensor, outputHeight: Int, outputWidth: Int) -> Tensor {
        precondition(x.rank >= 2, "adaptiveAvgPool2d needs [..., H, W], got \(x.shape)")
        return pool(x, rows: .adaptive(input: x.shape[x.rank - 2], output: outputHeight),
                    cols: .adaptive(input: x.shape[x.rank - 1], output: outputWidth), max: false)
    }

    /// Adaptive max pooling of x [..., H, W] to [..., outputHeight, outputWidth] with PyTorch's bins.
    public static func adaptiveMaxPool2d(_ x: Tensor, outputHeight: Int, outputWidth: Int) -> Tensor {
        precondition(x.rank >= 2, "adaptiveMaxPool2d needs [..., H, W], got \(x.shape)")
        return pool(x, rows: .adaptive(input: x.shape[x.rank - 2], output: outputHeight),
                    cols: .adaptive(input: x.shape[x.rank - 1], output: outputWidth), max: true)
    }

    /// x: [planes, H, W] -> [planes, rows.count, cols.count], each output the mean or max of its window.
    private static func pool(_ x: Tensor, rows: PoolBins, cols: PoolBins, max: Bool) -> Tensor {
        let h = x.shape[x.rank - 2], w = x.shape[x.rank - 1]
        let planes = product(x.shape.dropLast(2))
        let (ho, wo) = (rows.count, cols.count)
        let outShape = Array(x.shape.dropLast(2)) + [ho, wo]
        var out = uninitializedFloats(planes * ho * wo)
        // Offset within the plane of each window's maximum (max pooling only; one unused slot otherwise).
        var argmax = [Int32](repeating: 0, count: max ? out.count : 1)
        let window = 4 * product([rows.end[0] - rows.start[0], cols.end[0] - cols.start[0]])
        x.data.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                argmax.withUnsafeMutableBufferPointer { pa in
                    let X = SendableConstPointer(px.baseAddress!), O = SendablePointer(po.baseAddress!)
                    let A = SendablePointer(pa.baseAddress!)
                    Parallel.chunks(planes, costPerItem: ho * wo * window) { range in
                        for p in range {
                            let src = X.pointer + p * h * w
                            for oy in 0..<ho {
                                let (y0, y1) = (rows.start[oy], rows.end[oy])
                                for ox in 0..<wo {
                                    let (x0, x1) = (cols.start[ox], cols.end[ox])
                                    let o = (p * ho + oy) * wo + ox
                                    if max {
                                        var best = src[y0 * w + x0], at = y0 * w + x0
                                        for yy in y0..<y1 {
                                            for xx in x0..<x1 where src[yy * w + xx] > best || best.isNaN {
                                                best = src[yy * w + xx]
                                                at = yy * w + xx
                                            }
                                        }
                                        O[o] = best
                                        A[o] = Int32(at)
                                    } else {
                                        var acc: Float = 0
                                        for yy in y0..<y1 { for xx in x0..<x1 { acc += src[yy * w + xx] } }
                                        O[o] = acc / Float((y1 - y0) * (x1 - x0))
                                    }
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
                argmax.withUnsafeBufferPointer { pa in
                    let A = SendableConstPointer(pa.baseAddress!)
                    // Planes are independent, so workers never write the same element.
                    Parallel.chunks(planes, costPerItem: ho * wo * window) { range in
                        for p in range {
                            let dst = D.pointer + p * h * w
                            for oy in 0..<ho {
                                let (y0, y1) = (rows.start[oy], rows.end[oy])
                                for ox in 0..<wo {
                                    let o = (p * ho + oy) * wo + ox
                                    if max {
                                        dst[Int(A[o])] += G[o]
                                    } else {
                                        let (x0, x1) = (cols.start[ox], cols.end[ox])
                                        let share = G[o] / Float((y1 - y0) * (x1 - x0))
                                        for yy in y0..<y1 { for xx in x0..<x1 { dst[yy * w + xx] += share } }
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
