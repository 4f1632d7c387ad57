// 2-D convolution (PyTorch's F.conv2d with groups = 1) as im2col + sgemm, and its backward pass.
//
// The column matrix of a whole 256x256x128 3x3 input would take 300 MB, so columns are built one
// tile at a time: a band of output rows of one image, or several whole images when they are small
// (then one GEMM covers them all, which keeps N large for CLIP's patch embedding over 32 cutouts).
// Column building and col2im run on both cores; the GEMMs between them use OpenBLAS's own threads,
// so the two kinds of parallelism never nest.

/// Extents of one convolution and its column tiling.
struct ConvGeometry {
    let n, cin, h, w, cout, kh, kw, stride, pad, ho, wo: Int
    /// Rows of the column matrix: Cin·kh·kw.
    var k: Int { cin * kh * kw }
    var planeIn: Int { h * w }
    var planeOut: Int { ho * wo }

    /// Column floats per tile (16 MB); tests lower it to exercise the row-band tiling.
    let columnBudget: Int
    static let defaultColumnBudget = 1 << 22

    /// Tiles as (first image, image count, first output row, row count). Either a band of rows of one
    /// image or a run of whole images, never parts of two images.
    var tiles: [(n0: Int, images: Int, oh0: Int, rows: Int)] {
        var result: [(n0: Int, images: Int, oh0: Int, rows: Int)] = []
        let perImage = k * planeOut
        if perImage <= columnBudget {
            let images = max(1, columnBudget / max(perImage, 1))
            for n0 in Swift.stride(from: 0, to: n, by: images) { result.append((n0, min(images, n - n0), 0, ho)) }
        } else {
            let rows = max(1, columnBudget / max(k * wo, 1))
            for i in 0..<n {
                for oh0 in Swift.stride(from: 0, to: ho, by: rows) { result.append((i, 1, oh0, min(rows, ho - oh0))) }
            }
        }
        return result
    }

    /// Largest tile width (columns of the column matrix).
    var maxTileWidth: Int { tiles.map { $0.images * $0.rows * wo }.max() ?? 0 }

    /// The output columns ow whose input column ow·stride − pad + j lies inside the image.
    @inline(__always) func validColumns(_ j: Int) -> (lo: Int, hi: Int) {
        let first = pad - j
        let lo = first <= 0 ? 0 : (first + stride - 1) / stride
        let last = w - 1 + pad - j
        let hi = last < 0 ? 0 : min(wo, last / stride + 1)
        return (min(lo, wo), max(hi, min(lo, wo)))
    }
}

/// Fills col [K, T] for the global output rows `rows` (row r = image r / Ho, output row r % Ho):
/// col[(ci·kh + i)·kw + j, t] = x[n, ci, oh·s − p + i, ow·s − p + j], zero outside the image.
private func im2col(_ x: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, _ g: ConvGeometry,
                    rows: Range<Int>) {
    let width = rows.count * g.wo
    let X = SendableConstPointer(x), C = SendablePointer(col)
    Parallel.chunks(g.k, costPerItem: width) { ks in
        for k in ks {
            let ci = k / (g.kh * g.kw), i = (k / g.kw) % g.kh, j = k % g.kw
            let (lo, hi) = g.validColumns(j)
            var dst = C.pointer + k * width
            for r in rows {
                let image = r / g.ho, oh = r % g.ho
                let ih = oh * g.stride - g.pad + i
                if ih < 0 || ih >= g.h {
                    dst.update(repeating: 0, count: g.wo)
                } else {
                    let src = X.pointer + ((image * g.cin + ci) * g.h + ih) * g.w - g.pad + j
                    for ow in 0..<lo { dst[ow] = 0 }
                    if g.stride == 1 {
                        (dst + lo).update(from: src + lo, count: hi - lo)
                    } else {
                        for ow in lo..<hi { dst[ow] = src[ow * g.stride] }
                    }
                    for ow in hi..<g.wo { dst[ow] = 0 }
                }
                dst += g.wo
            }
        }
    }
}

/// The adjoint of ``im2col``: dx[n, ci, ih, iw] += dcol[k, t] for every column entry that read it.
/// Work is split by input channel, so no two workers touch the same plane.
private func col2im(_ dcol: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ g: ConvGeometry,
                    rows: Range<Int>) {
    let width = rows.count * g.wo
    let C = SendableConstPointer(dcol), D = SendablePointer(dx)
    Parallel.chunks(g.cin, costPerItem: g.kh * g.kw * width) { channels in
        for ci in channels {
            for i in 0..<g.kh {
                for j in 0..<g.kw {
                    let (lo, hi) = g.validColumns(j)
                    var src = C.pointer + ((ci * g.kh + i) * g.kw + j) * width
                    for r in rows {
                        let image = r / g.ho, oh = r % g.ho
                        let ih = oh * g.stride - g.pad + i
                        if ih >= 0 && ih < g.h {
                            let dst = D.pointer + ((image * g.cin + ci) * g.h + ih) * g.w - g.pad + j
                            if g.stride == 1 {
                                for ow in lo..<hi { dst[ow] += src[ow] }
                            } else {
                                for ow in lo..<hi { dst[ow * g.stride] += src[ow] }
                            }
                        }
                        src += g.wo
                    }
                }
            }
        }
    }
}

/// Copies between a multi-image tile buffer [Cout, images·P] and NCHW planes [images, Cout, P].
private func copyTile(_ tile: UnsafeMutablePointer<Float>, _ planes: UnsafeMutablePointer<Float>,
                      images: Int, channels: Int, plane: Int, toPlanes: Bool) {
    let width = images * plane
    for b in 0..<images {
        for c in 0..<channels {
            let t = tile + c * width + b * plane, p = planes + (b * channels + c) * plane
            if toPlanes { p.update(from: t, count: plane) } else { t.update(from: p, count: plane) }
        }
    }
}

/// Runs `body` with a pointer to `t`'s gradient buffer (allocated on first use) when `need`, else nil.
func withGradPointer<R>(_ t: Tensor?, _ need: Bool, _ body: (UnsafeMutablePointer<Float>?) -> R) -> R {
    guard need, let t else { return body(nil) }
    var result: R?
    t.accumulateGrad { result = body($0.baseAddress!) }
    return result!
}

extension Tensor {
    /// 2-D cross-correlation as `torch.nn.functional.conv2d` (groups = 1): x [N, Cin, H, W],
    /// weight [Cout, Cin, kh, kw], optional bias [Cout], the same `stride` on both axes and
    /// `padding` zeros on every side. Result [N, Cout, (H + 2p − kh)/s + 1, (W + 2p − kw)/s + 1].
    ///
    /// Backward always forms the input gradient when x needs it; weight and bias gradients are
    /// computed only when those tensors require gradients, so frozen layers cost one GEMM and a
    /// col2im per tile.
    public static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0) -> Tensor {
        conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, columnBudget: ConvGeometry.defaultColumnBudget)
    }

    /// ``conv2d(_:weight:bias:stride:padding:)`` with an explicit column-tile budget in floats.
    static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int, columnBudget: Int) -> Tensor {
        precondition(x.rank == 4 && weight.rank == 4, "conv2d needs x [N,C,H,W] and weight [O,C,kh,kw], got \(x.shape), \(weight.shape)")
        precondition(x.shape[1] == weight.shape[1], "conv2d: input has \(x.shape[1]) channels, weight expects \(weight.shape[1])")
        precondition(stride >= 1 && padding >= 0, "conv2d: stride \(stride) / padding \(padding) out of range")
        let cout = weight.shape[0]
        if let bias { precondition(bias.shape == [cout], "conv2d: bias \(bias.shape) must be [\(cout)]") }
        let (kh, kw) = (weight.shape[2], weight.shape[3])
        let (h, w) = (x.shape[2], x.shape[3])
        precondition(h + 2 * padding >= kh && w + 2 * padding >= kw, "conv2d: kernel \(kh)x\(kw) larger than padded input \(x.shape)")
        let g = ConvGeometry(n: x.shape[0], cin: x.shape[1], h: h, w: w, cout: cout, kh: kh, kw: kw,
                             stride: stride, pad: padding,
                             ho: (h + 2 * padding - kh) / stride + 1, wo: (w + 2 * padding - kw) / stride + 1,
                             columnBudget: columnBudget)
        let tiles = g.tiles
        let outShape = [g.n, cout, g.ho, g.wo]
        let P = g.planeOut
        let needsTileBuffer = tiles.contains { $0.images > 1 }

        // y[n] [Cout, P] = W [Cout, K] · col [K, P], tile by tile.
        var out = uninitializedFloats(product(outShape))
        var col = uninitializedFloats(g.k * g.maxTileWidth)
        var tileBuffer = uninitializedFloats(needsTileBuffer ? cout * g.maxTileWidth : 0)
        x.data.withUnsafeBufferPointer { px in
            weight.data.withUnsafeBufferPointer { pw in
                out.withUnsafeMutableBufferPointer { po in
                    col.withUnsafeMutableBufferPointer { pc in
                        tileBuffer.withUnsafeMutableBufferPointer { pt in
                            for tile in tiles {
                                let first = tile.n0 * g.ho + tile.oh0
                                let width = tile.images * tile.rows * g.wo
                                im2col(px.baseAddress!, pc.baseAddress!, g, rows: first..<(first + tile.images * tile.rows))
                                let planes = po.baseAddress! + tile.n0 * cout * P
                                if tile.images == 1 {
                                    gemm(transA: false, transB: false, m: cout, n: width, k: g.k, pw.baseAddress!, lda: g.k,
                                         pc.baseAddress!, ldb: width, beta: 0, planes + tile.oh0 * g.wo, ldc: P)
                                } else {
                                    gemm(transA: false, transB: false, m: cout, n: width, k: g.k, pw.baseAddress!, lda: g.k,
                                         pc.baseAddress!, ldb: width, beta: 0, pt.baseAddress!, ldc: width)
                                    copyTile(pt.baseAddress!, planes, images: tile.images, channels: cout, plane: P, toPlanes: true)
                                }
                            }
                            if let bias { addChannelBias(po.baseAddress!, bias.data, images: g.n, channels: cout, plane: P) }
                        }
                    }
                }
            }
        }

        var parents = [x, weight]
        if let bias { parents.append(bias) }
        return Tensor(shape: outShape, data: out, parents: parents) { grad in
            let needX = x.requiresGrad, needW = weight.requiresGrad, needB = bias?.requiresGrad ?? false
            let G = UnsafeMutablePointer(mutating: grad.baseAddress!)
            if needB, let bias {
                bias.accumulateGrad { db in
                    for i in 0..<g.n { for c in 0..<cout { db[c] += sumOfRow(G + (i * cout + c) * P, P) } }
                }
            }
            guard needX || needW else { return }
            var col = uninitializedFloats(g.k * g.maxTileWidth)
            var tileBuffer = uninitializedFloats(needsTileBuffer ? cout * g.maxTileWidth : 0)
            withGradPointer(x, needX) { dx in
                withGradPointer(weight, needW) { dw in
                    x.data.withUnsafeBufferPointer { px in
                        weight.data.withUnsafeBufferPointer { pw in
                            col.withUnsafeMutableBufferPointer { pc in
                                tileBuffer.withUnsafeMutableBufferPointer { pt in
                                    for tile in tiles {
                                        let first = tile.n0 * g.ho + tile.oh0
                                        let rows = first..<(first + tile.images * tile.rows)
                                        let width = rows.count * g.wo
                                        // dY tile [Cout, width]: straight from the planes for one image.
                                        let dy: UnsafeMutablePointer<Float>, ldy: Int
                                        if tile.images == 1 {
                                            (dy, ldy) = (G + tile.n0 * cout * P + tile.oh0 * g.wo, P)
                                        } else {
                                            copyTile(pt.baseAddress!, G + tile.n0 * cout * P, images: tile.images,
                                                     channels: cout, plane: P, toPlanes: false)
                                            (dy, ldy) = (pt.baseAddress!, width)
                                        }
                                        if let dw {
                                            // dW [Cout, K] += dY [Cout, T] · colᵀ [T, K]
                                            im2col(px.baseAddress!, pc.baseAddress!, g, rows: rows)
                                            gemm(transA: false, transB: true, m: cout, n: g.k, k: width, dy, lda: ldy,
                                                 pc.baseAddress!, ldb: width, beta: 1, dw, ldc: g.k)
                                        }
                                        if let dx {
                                            // dcol [K, T] = Wᵀ [K, Cout] · dY [Cout, T], then scattered back.
                                            gemm(transA: true, transB: false, m: g.k, n: width, k: cout, pw.baseAddress!, lda: g.k,
                                                 dy, ldb: ldy, beta: 0, pc.baseAddress!, ldc: width)
                                            col2im(pc.baseAddress!, dx, g, rows: rows)
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
}

/// y[n, c, :] += bias[c] over NCHW planes.
func addChannelBias(_ y: UnsafeMutablePointer<Float>, _ bias: [Float], images: Int, channels: Int, plane: Int) {
    let Y = SendablePointer(y)
    bias.withUnsafeBufferPointer { pb in
        let B = SendableConstPointer(pb.baseAddress!)
        Parallel.chunks(images * channels, costPerItem: plane) { range in
            for k in range {
                let b = B[k % channels], p = Y.pointer + k * plane
                for i in 0..<plane { p[i] += b }
            }
        }
    }
}
