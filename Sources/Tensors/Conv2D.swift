// 2-D convolution (PyTorch's F.conv2d with groups = 1) as im2col + sgemm, and its backward pass.
// Frozen 3x3 stride-1 pad-1 kernels over enough channels go to Winograd.swift instead.
//
// The column matrix of a whole 256x256x128 3x3 input would take 300 MB, so columns are built one
// tile at a time: a band of output rows of one image, or several whole images when they are small
// (then one GEMM covers them all, which keeps the GEMM wide for CLIP's patch embedding over 32
// cutouts). The tiles are shared out to the cores, each building its own columns and running a
// single-threaded GEMM on them: column building overlaps with arithmetic, a tile's columns are still
// in cache when the GEMM reads them, and no thread spins waiting for the other. (A GEMM issued by a
// worker never splits further: one level of parallelism.)
//
// Backward for stride 1 (the decoder's convolutions) computes the input gradient as a convolution
// of the output gradient with the flipped, transposed kernel, which reuses the same tiled kernel and
// writes disjoint rows. Other strides build dcol = Wᵀ·dY and scatter it back (col2im). The weight
// gradient sums dY·colᵀ over tiles, each core into its own partial.

/// One output tile: `images` whole images from `n0`, or rows `oh0..<oh0+rows` of image `n0`.
typealias ConvTile = (n0: Int, images: Int, oh0: Int, rows: Int)

/// Extents of one convolution and its column tiling.
struct ConvGeometry {
    let n, cin, h, w, cout, kh, kw, stride, pad, ho, wo: Int
    /// Column floats per tile; tests lower it to exercise the row-band tiling.
    let columnBudget: Int
    /// 16 MB of columns per tile: wide enough for efficient GEMMs (T ≈ 3600 at 128 channels 3x3),
    /// and two workers' tiles still fit a 32 MB L3.
    static let defaultColumnBudget = 1 << 22

    /// Rows of the column matrix: Cin·kh·kw.
    var k: Int { cin * kh * kw }
    var planeOut: Int { ho * wo }

    /// Tiles covering the output in order, either bands of one image's rows or runs of whole
    /// images, never parts of two images. Their number is a multiple of `parts` when that is
    /// possible, with near-equal sizes, so that `parts` workers are balanced. Small images go
    /// whole, several to a tile, when the images share out evenly (or nearly: at least 4 per
    /// worker); otherwise each image is cut into bands.
    func tiles(parts: Int) -> [ConvTile] {
        let perImage = max(k * planeOut, 1)
        var result: [ConvTile] = []
        if perImage <= columnBudget && (n % parts == 0 || n >= 4 * parts) {
            let count = min(n, roundUp((n + columnBudget / perImage - 1) / (columnBudget / perImage), parts))
            for t in 0..<count {
                let lo = n * t / count, hi = n * (t + 1) / count
                result.append((lo, hi - lo, 0, ho))
            }
        } else {
            let rowsPerBand = max(1, columnBudget / max(k * wo, 1))
            var bands = (ho + rowsPerBand - 1) / rowsPerBand
            if n % parts != 0 { bands = roundUp(bands, parts) }
            bands = max(1, min(bands, ho))
            for i in 0..<n {
                for b in 0..<bands {
                    let lo = ho * b / bands, hi = ho * (b + 1) / bands
                    result.append((i, 1, lo, hi - lo))
                }
            }
        }
        return result
    }

    /// The output columns ow whose input column ow·stride − pad + j lies inside the image.
    @inline(__always) func validColumns(_ j: Int) -> (lo: Int, hi: Int) {
        let first = pad - j
        let lo = min(first <= 0 ? 0 : (first + stride - 1) / stride, wo)
        let last = w - 1 + pad - j
        let hi = last < 0 ? 0 : min(wo, last / stride + 1)
        return (lo, max(hi, lo))
    }
}

@inline(__always) private func roundUp(_ x: Int, _ m: Int) -> Int { (x + m - 1) / m * m }

/// Columns of the widest tile.
private func maxWidth(_ tiles: [ConvTile], _ g: ConvGeometry) -> Int { tiles.map { $0.images * $0.rows * g.wo }.max() ?? 0 }

/// Global output rows of a tile (row r = image r / Ho, output row r % Ho).
@inline(__always) private func globalRows(_ t: ConvTile, _ g: ConvGeometry) -> Range<Int> {
    let first = t.n0 * g.ho + t.oh0
    return first..<(first + t.images * t.rows)
}

/// Fills col [K, T] for the global output `rows`:
/// col[(ci·kh + i)·kw + j, t] = x[n, ci, oh·s − p + i, ow·s − p + j], zero outside the image.
private func im2col(_ x: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, _ g: ConvGeometry, rows: Range<Int>) {
    let width = rows.count * g.wo
    for k in 0..<g.k {
        let ci = k / (g.kh * g.kw), i = (k / g.kw) % g.kh, j = k % g.kw
        let (lo, hi) = g.validColumns(j)
        var dst = col + k * width
        for r in rows {
            let image = r / g.ho, oh = r % g.ho
            let ih = oh * g.stride - g.pad + i
            if ih < 0 || ih >= g.h {
                dst.update(repeating: 0, count: g.wo)
            } else {
                let src = x + ((image * g.cin + ci) * g.h + ih) * g.w - g.pad + j
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

/// The column matrix of a tile and its row stride. For a 1x1, stride-1, unpadded convolution of
/// one image the input planes already are the columns; otherwise they are built into `scratch`.
@inline(__always)
private func columns(_ x: UnsafePointer<Float>, _ scratch: UnsafeMutablePointer<Float>, _ g: ConvGeometry,
                     _ tile: ConvTile) -> (UnsafePointer<Float>, Int) {
    let rows = globalRows(tile, g)
    if g.kh == 1 && g.kw == 1 && g.stride == 1 && g.pad == 0 && tile.images == 1 {
        return (x + tile.n0 * g.cin * g.planeOut + tile.oh0 * g.wo, g.planeOut)
    }
    im2col(x, scratch, g, rows: rows)
    return (UnsafePointer(scratch), rows.count * g.wo)
}

/// The adjoint of ``im2col``: dx[n, ci, ih, iw] += dcol[k, t] for every column entry that read it.
/// With `parallel`, work is split by input channel, so no two workers touch the same plane.
private func col2im(_ dcol: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ g: ConvGeometry, rows: Range<Int>,
                    parallel: Bool) {
    let width = rows.count * g.wo
    let C = SendableConstPointer(dcol), D = SendablePointer(dx)
    Parallel.chunks(g.cin, costPerItem: parallel ? g.kh * g.kw * width : 0) { channels in
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

/// Moves a multi-image tile buffer [C, images·P] to or from NCHW planes [images, C, P]; into the
/// planes it overwrites or, with `accumulate`, adds.
private func copyTile(_ tile: UnsafeMutablePointer<Float>, _ planes: UnsafeMutablePointer<Float>, images: Int,
                      channels: Int, plane: Int, toPlanes: Bool, accumulate: Bool = false) {
    let width = images * plane
    for b in 0..<images {
        for c in 0..<channels {
            let t = tile + c * width + b * plane, p = planes + (b * channels + c) * plane
            if !toPlanes {
                t.update(from: p, count: plane)
            } else if accumulate {
                for i in 0..<plane { p[i] += t[i] }
            } else {
                p.update(from: t, count: plane)
            }
        }
    }
}

/// dY of a tile as a [Cout, T] matrix and its row stride: read in place for one image, gathered
/// into `buffer` from the NCHW planes for several.
@inline(__always)
private func outputGradient(_ dy: UnsafePointer<Float>, _ buffer: UnsafeMutablePointer<Float>, _ g: ConvGeometry,
                            _ tile: ConvTile) -> (UnsafeMutablePointer<Float>, Int) {
    let planes = UnsafeMutablePointer(mutating: dy + tile.n0 * g.cout * g.planeOut)
    if tile.images == 1 { return (planes + tile.oh0 * g.wo, g.planeOut) }
    copyTile(buffer, planes, images: tile.images, channels: g.cout, plane: g.planeOut, toPlanes: false)
    return (buffer, tile.images * tile.rows * g.wo)
}

/// Hands out tile indices 0..<count to `workers` worker slots. Shared: on request, so a worker
/// slowed by other load takes fewer tiles instead of holding the others up. In order: slot s takes
/// s, s + workers, s + 2·workers, ..., so which tiles a slot gets, and in which order, depends only
/// on the number of workers — what a slot sums into its own partial then comes out the same bits
/// on every run.
final class TileQueue: @unchecked Sendable {
    private let lock = Lock()
    private var next: [Int]
    private let count: Int, inOrder: Bool

    init(count: Int, workers: Int, inOrder: Bool) {
        self.count = count
        self.inOrder = inOrder
        next = inOrder ? Array(0..<workers) : [0]
    }

    /// The next index for worker `slot`, or nil when it has none left.
    func claim(_ slot: Int) -> Int? {
        lock.withLock {
            let cursor = inOrder ? slot : 0
            guard next[cursor] < count else { return nil }
            defer { next[cursor] += inOrder ? next.count : 1 }
            return next[cursor]
        }
    }
}

/// How many worker slots share `tiles` tiles.
func workerSlots(tiles: Int) -> Int { min(Parallel.maxThreads, max(tiles, 1)) }

/// Runs `body(slot, queue)` on each of the ``workerSlots(tiles:)`` worker slots concurrently (their
/// GEMMs each on one thread); each worker claims tiles from `queue` until it has none left.
func forEachWorker(tiles: Int, cost: Int, inOrder: Bool = false, _ body: @Sendable (Int, TileQueue) -> Void) {
    let parts = workerSlots(tiles: tiles)
    let queue = TileQueue(count: tiles, workers: parts, inOrder: inOrder)
    Parallel.chunks(parts, costPerItem: cost / parts) { slots in
        for slot in slots { body(slot, queue) }
    }
}

/// Shares `tiles` out to the workers (``forEachWorker(tiles:cost:inOrder:_:)``), each with its own scratch
/// (``withTileScratch(_:width:multi:_:)``), and runs `body(slot, tile, col, buffer)` once per tile.
private func forEachTile(_ tiles: [ConvTile], _ g: ConvGeometry, width: Int, inOrder: Bool = false,
                         _ body: @Sendable (Int, ConvTile, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
    let multi = tiles.contains { $0.images > 1 }
    forEachWorker(tiles: tiles.count, cost: 2 * g.n * g.cout * g.k * g.planeOut, inOrder: inOrder) { slot, queue in
        withTileScratch(g, width: width, multi: multi) { col, buffer in
            while let index = queue.claim(slot) { body(slot, tiles[index], col, buffer) }
        }
    }
}

/// Runs `body(col, buffer)` with one worker's scratch, allocated once and reused for all its tiles:
/// col [K, width] for the column matrix, and buffer [Cout, width] (one float when no tile holds
/// several images) for moving a multi-image tile to or from the NCHW planes.
private func withTileScratch(_ g: ConvGeometry, width: Int, multi: Bool,
                             _ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
    var col = uninitializedFloats(g.k * width)
    var buffer = uninitializedFloats(multi ? g.cout * width : 1)
    col.withUnsafeMutableBufferPointer { pc in
        buffer.withUnsafeMutableBufferPointer { pb in body(pc.baseAddress!, pb.baseAddress!) }
    }
}

/// out [N, Cout, Ho, Wo] = (or += with `accumulate`) the convolution of x with weight [Cout, K], no bias.
private func convolve(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                      _ g: ConvGeometry, accumulate: Bool) {
    let tiles = g.tiles(parts: Parallel.maxThreads)
    let width = maxWidth(tiles, g), P = g.planeOut
    guard width > 0 && g.k > 0 else {
        if !accumulate { out.update(repeating: 0, count: g.n * g.cout * P) }
        return
    }
    let X = SendableConstPointer(x), W = SendableConstPointer(weight), O = SendablePointer(out)
    forEachTile(tiles, g, width: width) { _, tile, C, B in
        let rows = globalRows(tile, g), n = rows.count * g.wo
        let (cols, colStride) = columns(X.pointer, C, g, tile)
        // y [Cout, T] = W [Cout, K] · col [K, T]
        let planes = O.pointer + tile.n0 * g.cout * P
        if tile.images == 1 {
            gemm(transA: false, transB: false, m: g.cout, n: n, k: g.k, W.pointer, lda: g.k,
                 cols, ldb: colStride, beta: accumulate ? 1 : 0, planes + tile.oh0 * g.wo, ldc: P)
        } else {
            gemm(transA: false, transB: false, m: g.cout, n: n, k: g.k, W.pointer, lda: g.k,
                 cols, ldb: colStride, beta: 0, B, ldc: n)
            copyTile(B, planes, images: tile.images, channels: g.cout, plane: P, toPlanes: true,
                     accumulate: accumulate)
        }
    }
}

/// dw [Cout, K] += Σ over tiles of dY [Cout, T] · colᵀ [T, K]. The first worker accumulates into dw
/// itself, every other one into its own zeroed partial, added at the end; the tiles go to the
/// workers in a fixed order, so a given thread count gives the same bits on every run.
private func weightGradient(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>,
                            _ g: ConvGeometry) {
    let tiles = g.tiles(parts: Parallel.maxThreads)
    let width = maxWidth(tiles, g), size = g.cout * g.k
    guard width > 0 && size > 0 else { return }
    let extra = workerSlots(tiles: tiles.count) - 1   // the slots forEachTile runs
    var partials = [Float](repeating: 0, count: extra > 0 ? extra * size : 1)
    partials.withUnsafeMutableBufferPointer { pp in
        let X = SendableConstPointer(x), G = SendableConstPointer(dy)
        let S = SendablePointer(pp.baseAddress!), D = SendablePointer(dw)
        forEachTile(tiles, g, width: width, inOrder: true) { slot, tile, C, B in
            let rows = globalRows(tile, g), n = rows.count * g.wo
            let (cols, colStride) = columns(X.pointer, C, g, tile)
            let (a, lda) = outputGradient(G.pointer, B, g, tile)
            gemm(transA: false, transB: true, m: g.cout, n: g.k, k: n, a, lda: lda,
                 cols, ldb: colStride, beta: 1, slot == 0 ? D.pointer : S.pointer + (slot - 1) * size, ldc: g.k)
        }
        for s in 0..<extra {
            let part = pp.baseAddress! + s * size
            for i in 0..<size { dw[i] += part[i] }
        }
    }
}

/// dx += (or = without `accumulate`) the input gradient of a stride-1 convolution with a square kernel and padding p < k:
/// the convolution of dy with the kernel flipped in space and transposed in channels, padding k−1−p.
private func inputGradientByConvolution(_ dy: UnsafePointer<Float>, _ weight: [Float], _ dx: UnsafeMutablePointer<Float>,
                                        _ g: ConvGeometry, accumulate: Bool) {
    let (kh, kw) = (g.kh, g.kw)
    var flipped = uninitializedFloats(weight.count)   // [Cin, Cout, kh, kw]
    let taps = kh * kw
    weight.withUnsafeBufferPointer { src in
        flipped.withUnsafeMutableBufferPointer { dst in
            for ci in 0..<g.cin {
                for co in 0..<g.cout {
                    let from = src.baseAddress! + (co * g.cin + ci) * taps, to = dst.baseAddress! + (ci * g.cout + co) * taps
                    for t in 0..<taps { to[t] = from[taps - 1 - t] }
                }
            }
        }
    }
    let t = ConvGeometry(n: g.n, cin: g.cout, h: g.ho, w: g.wo, cout: g.cin, kh: kh, kw: kw, stride: 1,
                         pad: kh - 1 - g.pad, ho: g.h, wo: g.w, columnBudget: g.columnBudget)
    flipped.withUnsafeBufferPointer { convolve(dy, $0.baseAddress!, dx, t, accumulate: accumulate) }
}

/// dx += col2im(Wᵀ · dY) tile by tile: the general input gradient (any stride). When no two tiles
/// touch the same dx rows (whole images per tile, or a kernel no taller than the stride, as in
/// patch embeddings) the tiles are shared out to the cores; otherwise they run in order with
/// GEMMs split over the cores and a parallel col2im.
private func inputGradientByCol2im(_ dy: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                   _ g: ConvGeometry) {
    let shared = g.tiles(parts: Parallel.maxThreads)
    let disjoint = g.kh <= g.stride || shared.allSatisfy { $0.rows == g.ho }
    let tiles = disjoint ? shared : g.tiles(parts: 1)
    let width = maxWidth(tiles, g)
    guard width > 0 && g.k > 0 else { return }
    let G = SendableConstPointer(dy), W = SendableConstPointer(weight), D = SendablePointer(dx)

    /// dcol [K, T] = Wᵀ [K, Cout] · dY [Cout, T] for one tile, scattered into dx.
    @Sendable func tileGradient(_ tile: ConvTile, _ col: UnsafeMutablePointer<Float>, _ buffer: UnsafeMutablePointer<Float>,
                                parallel: Bool) {
        let rows = globalRows(tile, g), n = rows.count * g.wo
        let (b, ldb) = outputGradient(G.pointer, buffer, g, tile)
        gemm(transA: true, transB: false, m: g.k, n: n, k: g.cout, W.pointer, lda: g.k, b, ldb: ldb, beta: 0, col, ldc: n)
        col2im(col, D.pointer, g, rows: rows, parallel: parallel)
    }

    if disjoint {
        forEachTile(tiles, g, width: width) { _, tile, col, buffer in tileGradient(tile, col, buffer, parallel: false) }
    } else {
        withTileScratch(g, width: width, multi: tiles.contains { $0.images > 1 }) { col, buffer in
            for tile in tiles { tileGradient(tile, col, buffer, parallel: true) }
        }
    }
}

/// How ``Tensor/conv2d(_:weight:bias:stride:padding:algorithm:)`` computes.
public enum ConvolutionAlgorithm: Sendable {
    /// Winograd where it pays (frozen 3x3 stride-1 pad-1 kernels), im2col + GEMM elsewhere.
    case automatic
    /// Always im2col + GEMM.
    case direct
}

extension Tensor {
    /// 2-D cross-correlation as `torch.nn.functional.conv2d` (groups = 1): x [N, Cin, H, W],
    /// weight [Cout, Cin, kh, kw], optional bias [Cout], the same `stride` on both axes and
    /// `padding` zeros on every side. Result [N, Cout, (H + 2p − kh)/s + 1, (W + 2p − kw)/s + 1].
    ///
    /// Backward forms the input gradient when x needs it; weight and bias gradients are computed
    /// only when those tensors require gradients, so frozen layers cost one convolution-sized GEMM.
    /// With `algorithm` `.automatic`, frozen 3x3 stride-1 pad-1 kernels over enough channels and
    /// pixels use Winograd F(4x4, 3x3) (a quarter of the multiplies; a few times the direct
    /// convolution's rounding error, around 1e-6 relative); `.direct` always uses im2col + GEMM.
    public static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0,
                              algorithm: ConvolutionAlgorithm = .automatic) -> Tensor {
        conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, columnBudget: ConvGeometry.defaultColumnBudget,
               winograd: algorithm == .automatic)
    }

    /// ``conv2d(_:weight:bias:stride:padding:)`` with an explicit column-tile budget in floats, and
    /// with Winograd allowed for frozen 3x3 kernels or not (tests compare the two).
    static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int, columnBudget: Int,
                       winograd allowWinograd: Bool = false) -> Tensor {
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
        let outShape = [g.n, cout, g.ho, g.wo]
        // Frozen 3x3 stride-1 pad-1 kernels (render-time decoding) go through Winograd F(4x4, 3x3),
        // forward and input gradient alike.
        let winogradShape = allowWinograd && kh == 3 && kw == 3 && stride == 1 && padding == 1 && !weight.requiresGrad
        let forwardWinograd = WinogradGeometry(n: g.n, cin: g.cin, cout: cout, h: h, w: w)
        let backwardWinograd = WinogradGeometry(n: g.n, cin: cout, cout: g.cin, h: h, w: w)
        let winogradForward = winogradShape && forwardWinograd.isWorthwhile ? forwardWinograd : nil
        let winogradBackward = winogradShape && backwardWinograd.isWorthwhile ? backwardWinograd : nil
        let P = g.planeOut

        var out = uninitializedFloats(product(outShape))
        x.data.withUnsafeBufferPointer { px in
            weight.data.withUnsafeBufferPointer { pw in
                out.withUnsafeMutableBufferPointer { po in
                    if let wg = winogradForward {
                        WinogradWeightCache.shared.weights(for: weight).withUnsafeBufferPointer {
                            winogradConvolve(px.baseAddress!, $0.baseAddress!, po.baseAddress!, wg, inputGradient: false,
                                             accumulate: false)
                        }
                    } else {
                        convolve(px.baseAddress!, pw.baseAddress!, po.baseAddress!, g, accumulate: false)
                    }
                    if let bias { addChannelBias(po.baseAddress!, bias.data, images: g.n, channels: cout, plane: P) }
                }
            }
        }

        var parents = [x, weight]
        if let bias { parents.append(bias) }
        return Tensor(shape: outShape, data: out, parents: parents) { grad in
            let G = grad.baseAddress!
            if let bias, bias.requiresGrad {
                bias.accumulateGrad { db in
                    for i in 0..<g.n { for c in 0..<cout { db[c] += sumOfRow(G + (i * cout + c) * P, P) } }
                }
            }
            if weight.requiresGrad {
                x.data.withUnsafeBufferPointer { px in
                    weight.accumulateGrad { dw in weightGradient(px.baseAddress!, G, dw.baseAddress!, g) }
                }
            }
            if x.requiresGrad {
                x.accumulateGrad(overwritingFresh: { dx, fresh in
                    if let wg = winogradBackward {
                        WinogradWeightCache.shared.weights(for: weight).withUnsafeBufferPointer {
                            winogradConvolve(G, $0.baseAddress!, dx.baseAddress!, wg, inputGradient: true, accumulate: !fresh)
                        }
                    } else if stride == 1 && kh == kw && padding < kh {
                        inputGradientByConvolution(G, weight.data, dx.baseAddress!, g, accumulate: !fresh)
                    } else {
                        if fresh { dx.update(repeating: 0) }
                        weight.data.withUnsafeBufferPointer { inputGradientByCol2im(G, $0.baseAddress!, dx.baseAddress!, g) }
                    }
                })
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
