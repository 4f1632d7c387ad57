// 3x3 stride-1 pad-1 convolution by Winograd's minimal filtering F(4x4, 3x3) (Lavin & Gray 2015):
// each 6x6 input tile d and each kernel g go to a 6x6 transform domain, where the convolution is an
// element-wise product summed over input channels, i.e. 36 independent GEMMs
//   M[p] [Cout, T] = U[p] [Cout, Cin] · V[p] [Cin, T],  U = G g Gᵀ,  V = Bᵀ d B,
// and every 6x6 M tile goes back to a 4x4 output tile as Aᵀ M A. That is 36 multiplies per 16
// outputs against 144 for the direct convolution: a quarter of the GEMM work.
//
// The interpolation points are 0, ±√2, ±√2/2 and ∞ rather than the textbook 0, ±1, ±2: the
// transforms' entries stay between 1/4 and 5/2, which halves the rounding error (about 5x that of
// the direct convolution in fp32, RMS ≈ 1.5e-6 relative). The matrices were derived from those
// points and checked against the exact 1-D correlation to 1e-15 in double precision.
//
// Only frozen weights take this path (render-time decoding): their transform is computed once and
// cached, and backward needs only the input gradient, itself a 3x3 pad-1 convolution of dY with
// the flipped, channel-transposed kernel (cached the same way). Tiles are processed in blocks that
// stay in cache: a worker transforms a block of input tiles, runs the 36 GEMMs on one core, and
// transforms the products straight into the output, so the full transformed tensors never exist.

private let r2: Float = 1.41421356237309505   // √2
private let h2: Float = 0.70710678118654752   // √2/2

/// Eight tiles' values of one transform entry: the transforms run on eight tiles at once.
private typealias F8 = SIMD8<Float>

/// Bᵀ d for one column of six samples (the input transform along one axis), for eight tiles.
@inline(__always)
private func inputTransform(_ d0: F8, _ d1: F8, _ d2: F8, _ d3: F8, _ d4: F8, _ d5: F8) -> (F8, F8, F8, F8, F8, F8) {
    let a = d4 - 0.5 * d2, b = r2 * d3 - h2 * d1
    let c = d4 - 2 * d2, e = h2 * d3 - r2 * d1
    return (d0 - 2.5 * d2 + d4, a + b, a - b, c + e, c - e, d1 - 2.5 * d3 + d5)
}

/// Aᵀ m for six transform-domain samples (the output transform along one axis), for eight tiles.
@inline(__always)
private func outputTransform(_ m0: F8, _ m1: F8, _ m2: F8, _ m3: F8, _ m4: F8, _ m5: F8) -> (F8, F8, F8, F8) {
    let p = m1 + m2, q = m1 - m2, s = m3 + m4, t = m3 - m4
    return (m0 + p + s, r2 * q + h2 * t, 2 * p + 0.5 * s, (2 * r2) * q + (0.5 * h2) * t + m5)
}

/// G [6, 3] in double precision (rows for the points 0, √2, −√2, √2/2, −√2/2, ∞).
private let winogradG: [[Double]] = {
    let s = 2.0.squareRoot()
    return [[1, 0, 0], [1.0 / 6, s / 6, 1.0 / 3], [1.0 / 6, -s / 6, 1.0 / 3],
            [-2.0 / 3, -s / 3, -1.0 / 3], [-2.0 / 3, s / 3, -1.0 / 3], [0, 0, 1]]
}()

/// U [36, Cout, Cin] = G g Gᵀ for every kernel g of `weight` [Cout, Cin, 3, 3].
func winogradWeights(_ weight: UnsafePointer<Float>, cout: Int, cin: Int) -> [Float] {
    var u = uninitializedFloats(36 * cout * cin)
    let G = winogradG
    for o in 0..<cout {
        for i in 0..<cin {
            let kernel = weight + (o * cin + i) * 9
            // t = G g [6, 3], then U = t Gᵀ [6, 6], in double precision.
            var t = [Double](repeating: 0, count: 18)
            for a in 0..<6 {
                for c in 0..<3 {
                    t[a * 3 + c] = G[a][0] * Double(kernel[c]) + G[a][1] * Double(kernel[3 + c]) + G[a][2] * Double(kernel[6 + c])
                }
            }
            for a in 0..<6 {
                for b in 0..<6 {
                    let v = t[a * 3] * G[b][0] + t[a * 3 + 1] * G[b][1] + t[a * 3 + 2] * G[b][2]
                    u[((a * 6 + b) * cout + o) * cin + i] = Float(v)
                }
            }
        }
    }
    return u
}

/// The transform of the input-gradient kernel from the forward one. The points are closed under
/// p → 1/p (0 ↔ ∞, √2 ↔ √2/2, −√2 ↔ −√2/2), and for a flipped 3-tap kernel G·flip(g) at point i
/// equals σ_i · (G·g) at point π(i). So the flipped, channel-transposed kernel's U′ at (i, j) is
/// σ_i σ_j · U[π(i), π(j)]ᵀ: backward reuses the forward transform with a transposed GEMM whose
/// alpha carries the scale, and no second copy of the weights is kept.
private let flippedPoint = [5, 3, 4, 1, 2, 0]
private let flippedScale: [Float] = [1, -0.5, -0.5, -2, -2, 1]

/// Geometry of one Winograd convolution: N images of Cin x H x W to Cout x H x W (stride 1, pad 1).
struct WinogradGeometry {
    let n, cin, cout, h, w: Int
    var tilesY: Int { (h + 3) / 4 }
    var tilesX: Int { (w + 3) / 4 }
    var tiles: Int { n * tilesY * tilesX }

    /// Tiles per block: enough columns for efficient GEMMs (448 at 128 channels), few enough that
    /// a worker's V and M blocks (36 · C · block floats each, 8 MB) stay in the L3 cache. Measured
    /// on the decoder's shapes: 2 MB blocks were 10–20% slower, 16 MB ones no faster.
    var block: Int {
        let fit = (1 << 21) / (36 * max(cin, cout))
        return max(16, min(tiles, fit / 8 * 8))
    }

    /// Whether Winograd pays here: both channel counts wide enough for the per-point GEMMs, and
    /// enough tiles for them to be wide too.
    var isWorthwhile: Bool { cin >= 32 && cout >= 32 && tiles >= 64 }
}

/// out [N, Cout, H, W] = (or += with `accumulate`) the 3x3 pad-1 convolution of x with the kernels
/// whose transform is `u` [36, Cout, Cin] (``winogradWeights(_:cout:cin:)``); no bias. With
/// `inputGradient`, `u` is the transform of the forward kernels [36, Cin, Cout] and x is dY: the
/// result is the input gradient of that forward convolution.
func winogradConvolve(_ x: UnsafePointer<Float>, _ u: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                      _ g: WinogradGeometry, inputGradient: Bool, accumulate: Bool) {
    let block = g.block
    let blocks = (g.tiles + block - 1) / block
    let X = SendableConstPointer(x), U = SendableConstPointer(u), O = SendablePointer(out)
    forEachWorker(tiles: blocks, cost: 2 * 36 * g.cin * g.cout * g.tiles) { _, queue in
        var v = uninitializedFloats(36 * g.cin * block)
        var m = uninitializedFloats(36 * g.cout * block)
        v.withUnsafeMutableBufferPointer { pv in
            m.withUnsafeMutableBufferPointer { pm in
                while let b = queue.claim() {
                    let first = b * block, count = min(block, g.tiles - first)
                    transformInput(X.pointer, pv.baseAddress!, g, first: first, count: count, stride: block)
                    for p in 0..<36 {
                        // M[p] [Cout, count] = U[p] [Cout, Cin] · V[p] [Cin, count], or for the input
                        // gradient σ · U[π(p)]ᵀ · V[p].
                        let (i, j) = (p / 6, p % 6)
                        let source = inputGradient ? flippedPoint[i] * 6 + flippedPoint[j] : p
                        gemm(transA: inputGradient, transB: false, m: g.cout, n: count, k: g.cin,
                             alpha: inputGradient ? flippedScale[i] * flippedScale[j] : 1,
                             U.pointer + source * g.cout * g.cin, lda: inputGradient ? g.cout : g.cin,
                             pv.baseAddress! + p * g.cin * block, ldb: block,
                             beta: 0, pm.baseAddress! + p * g.cout * block, ldc: block)
                    }
                    transformOutput(pm.baseAddress!, O.pointer, g, first: first, count: count, stride: block,
                                    accumulate: accumulate)
                }
            }
        }
    }
}

/// Where tile `tile` (counted over all images) starts: its image and the top-left output pixel.
@inline(__always)
private func tileOrigin(_ tile: Int, _ g: WinogradGeometry) -> (image: Int, y: Int, x: Int) {
    let perImage = g.tilesY * g.tilesX
    let inImage = tile % perImage
    return (tile / perImage, 4 * (inImage / g.tilesX), 4 * (inImage % g.tilesX))
}

/// Whether tiles `first ..< first + 8` lie in one tile row with all their 6x6 input patches inside
/// the image, so that their samples can be read without bounds checks.
@inline(__always)
private func isInteriorRun(_ first: Int, _ g: WinogradGeometry) -> Bool {
    let a = tileOrigin(first, g), b = tileOrigin(first + 7, g)
    return a.image == b.image && a.y == b.y && a.y >= 1 && a.y + 5 <= g.h && a.x >= 1 && b.x + 5 <= g.w
}

/// V[p, ci, j] = (Bᵀ d B)[p] for the tiles `first ..< first + count` (j = tile − first), where d is
/// the 6x6 input patch at rows y − 1 ..< y + 5 and columns x − 1 ..< x + 5 of the tile's origin,
/// zero outside the image. Eight tiles at a time, one per SIMD lane.
private func transformInput(_ x: UnsafePointer<Float>, _ v: UnsafeMutablePointer<Float>, _ g: WinogradGeometry,
                            first: Int, count: Int, stride: Int) {
    let pointStride = g.cin * stride
    let plane = g.h * g.w
    let d = UnsafeMutablePointer<F8>.allocate(capacity: 36)   // d[r][c] for the eight tiles
    defer { d.deallocate() }
    for j0 in Swift.stride(from: 0, to: count, by: 8) {
        let lanes = min(8, count - j0)
        let fast = lanes == 8 && isInteriorRun(first + j0, g)
        let origins = (0..<8).map { tileOrigin(first + j0 + min($0, lanes - 1), g) }
        for ci in 0..<g.cin {
            if fast {
                let o = origins[0]
                for r in 0..<6 {
                    let row = x + (o.image * g.cin + ci) * plane + (o.y - 1 + r) * g.w + o.x - 1
                    for c in 0..<6 {
                        d[r * 6 + c] = F8(row[c], row[c + 4], row[c + 8], row[c + 12],
                                          row[c + 16], row[c + 20], row[c + 24], row[c + 28])
                    }
                }
            } else {
                d.update(repeating: F8(), count: 36)
                for lane in 0..<lanes {
                    let o = origins[lane]
                    let base = x + (o.image * g.cin + ci) * plane
                    for r in 0..<6 {
                        let y = o.y - 1 + r
                        guard y >= 0 && y < g.h else { continue }
                        for c in 0..<6 {
                            let xx = o.x - 1 + c
                            if xx >= 0 && xx < g.w { d[r * 6 + c][lane] = base[y * g.w + xx] }
                        }
                    }
                }
            }
            // Columns: t = Bᵀ d (in place, column by column); then rows: V = t B.
            for c in 0..<6 {
                let o = inputTransform(d[c], d[6 + c], d[12 + c], d[18 + c], d[24 + c], d[30 + c])
                d[c] = o.0; d[6 + c] = o.1; d[12 + c] = o.2; d[18 + c] = o.3; d[24 + c] = o.4; d[30 + c] = o.5
            }
            let dst = v + ci * stride + j0
            for r in 0..<6 {
                let o = inputTransform(d[r * 6], d[r * 6 + 1], d[r * 6 + 2], d[r * 6 + 3], d[r * 6 + 4], d[r * 6 + 5])
                let base = dst + r * 6 * pointStride
                @inline(__always) func store(_ k: Int, _ value: F8) {
                    let p = base + k * pointStride
                    if lanes == 8 {
                        UnsafeMutableRawPointer(p).storeBytes(of: value, as: F8.self)
                    } else {
                        for lane in 0..<lanes { p[lane] = value[lane] }
                    }
                }
                store(0, o.0); store(1, o.1); store(2, o.2); store(3, o.3); store(4, o.4); store(5, o.5)
            }
        }
    }
}

/// out tile (4x4, clipped at the image's edge) = Aᵀ M A for every output channel of the tiles
/// `first ..< first + count`, written or (with `accumulate`) added. Eight tiles at a time.
private func transformOutput(_ m: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ g: WinogradGeometry,
                             first: Int, count: Int, stride: Int, accumulate: Bool) {
    let pointStride = g.cout * stride
    let plane = g.h * g.w
    let t = UnsafeMutablePointer<F8>.allocate(capacity: 24)   // [4, 6]
    defer { t.deallocate() }
    for j0 in Swift.stride(from: 0, to: count, by: 8) {
        let lanes = min(8, count - j0)
        let origins = (0..<8).map { tileOrigin(first + j0 + min($0, lanes - 1), g) }
        let run = lanes == 8 && isInteriorRun(first + j0, g)
        for co in 0..<g.cout {
            let src = m + co * stride + j0
            // Columns of M: t = Aᵀ M.
            for c in 0..<6 {
                @inline(__always) func load(_ r: Int) -> F8 {
                    let p = src + (r * 6 + c) * pointStride
                    if lanes == 8 { return UnsafeRawPointer(p).loadUnaligned(as: F8.self) }
                    var v = F8()
                    for lane in 0..<lanes { v[lane] = p[lane] }
                    return v
                }
                let o = outputTransform(load(0), load(1), load(2), load(3), load(4), load(5))
                t[c] = o.0; t[6 + c] = o.1; t[12 + c] = o.2; t[18 + c] = o.3
            }
            for r in 0..<4 {
                let o = outputTransform(t[r * 6], t[r * 6 + 1], t[r * 6 + 2], t[r * 6 + 3], t[r * 6 + 4], t[r * 6 + 5])
                if run {
                    // Eight tiles side by side: row r of the output is 32 consecutive samples,
                    // o.0..o.3 interleaved.
                    let origin = origins[0]
                    let row = out + (origin.image * g.cout + co) * plane + (origin.y + r) * g.w + origin.x
                    for lane in 0..<8 {
                        let q = row + 4 * lane
                        if accumulate {
                            q[0] += o.0[lane]; q[1] += o.1[lane]; q[2] += o.2[lane]; q[3] += o.3[lane]
                        } else {
                            q[0] = o.0[lane]; q[1] = o.1[lane]; q[2] = o.2[lane]; q[3] = o.3[lane]
                        }
                    }
                    continue
                }
                for lane in 0..<lanes {
                    let origin = origins[lane]
                    guard origin.y + r < g.h else { continue }
                    let row = out + (origin.image * g.cout + co) * plane + (origin.y + r) * g.w + origin.x
                    let cols = min(4, g.w - origin.x)
                    let values = (o.0[lane], o.1[lane], o.2[lane], o.3[lane])
                    if cols == 4 {
                        if accumulate {
                            row[0] += values.0; row[1] += values.1; row[2] += values.2; row[3] += values.3
                        } else {
                            row[0] = values.0; row[1] = values.1; row[2] = values.2; row[3] = values.3
                        }
                    } else {
                        for c in 0..<cols {
                            let value = c == 0 ? values.0 : c == 1 ? values.1 : c == 2 ? values.2 : values.3
                            if accumulate { row[c] += value } else { row[c] = value }
                        }
                    }
                }
            }
        }
    }
}

/// Transformed weights of frozen convolution kernels, computed on first use. An entry is keyed by
/// the weight tensor and checked against a checksum of its values, so a tensor whose values were
/// changed in place is transformed again rather than served stale.
final class WinogradWeightCache: @unchecked Sendable {
    static let shared = WinogradWeightCache()

    private struct Entry {
        weak var tensor: Tensor?
        let checksum: UInt64
        let u: [Float]
    }
    private let lock = Lock()
    private var entries: [ObjectIdentifier: Entry] = [:]

    /// U [36, Cout, Cin] for `weight` [Cout, Cin, 3, 3].
    func weights(for weight: Tensor) -> [Float] {
        let key = ObjectIdentifier(weight)
        let sum = checksum(weight.data)
        if let hit = lock.withLock({ entries[key] }), hit.tensor === weight, hit.checksum == sum { return hit.u }
        let u = weight.data.withUnsafeBufferPointer {
            winogradWeights($0.baseAddress!, cout: weight.shape[0], cin: weight.shape[1])
        }
        lock.withLock {
            // Drop entries whose tensors are gone, so the cache does not outlive the models.
            entries = entries.filter { $0.value.tensor != nil }
            entries[key] = Entry(tensor: weight, checksum: sum, u: u)
        }
        return u
    }

    /// FNV-1a over the values' bit patterns.
    private func checksum(_ values: [Float]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for v in values { h = (h ^ UInt64(v.bitPattern)) &* 0x100_0000_01b3 }
        return h
    }
}
