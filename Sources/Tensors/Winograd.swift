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
// the flipped, channel-transposed kernel, whose transform is read off the forward one. Tiles are
// processed in blocks that stay in cache: a worker transforms a block of input tiles (CWinograd,
// eight tiles per vector), runs the 36 GEMMs on one core, and transforms the products straight
// into the output, so the full transformed tensors never exist.

import CWinograd

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
    forEachWorker(tiles: blocks, cost: 2 * 36 * g.cin * g.cout * g.tiles) { slot, queue in
        var v = uninitializedFloats(36 * g.cin * block)
        var m = uninitializedFloats(36 * g.cout * block)
        v.withUnsafeMutableBufferPointer { pv in
            m.withUnsafeMutableBufferPointer { pm in
                while let b = queue.claim(slot) {
                    let first = b * block, count = min(block, g.tiles - first)
                    vqclip_winograd_input(X.pointer, pv.baseAddress!, Int32(g.cin), Int32(g.h), Int32(g.w),
                                          Int32(g.tilesY), Int32(g.tilesX), first, Int32(count), Int32(block))
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
                    vqclip_winograd_output(pm.baseAddress!, O.pointer, Int32(g.cout), Int32(g.h), Int32(g.w),
                                           Int32(g.tilesY), Int32(g.tilesX), first, Int32(count), Int32(block),
                                           accumulate ? 1 : 0)
                }
            }
        }
    }
}

/// Transformed weights of frozen convolution kernels, computed on first use. An entry is keyed by
/// the weight tensor and remembers the tensor's ``Tensor/version``, so a tensor whose values were
/// changed in place is transformed again rather than served stale.
final class WinogradWeightCache: @unchecked Sendable {
    static let shared = WinogradWeightCache()

    private struct Entry {
        weak var tensor: Tensor?
        let version: Int
        let u: [Float]
    }
    private let lock = Lock()
    private var entries: [ObjectIdentifier: Entry] = [:]

    /// U [36, Cout, Cin] for `weight` [Cout, Cin, 3, 3].
    func weights(for weight: Tensor) -> [Float] {
        let key = ObjectIdentifier(weight)
        if let hit = lock.withLock({ entries[key] }), hit.tensor === weight, hit.version == weight.version { return hit.u }
        let u = weight.data.withUnsafeBufferPointer {
            winogradWeights($0.baseAddress!, cout: weight.shape[0], cin: weight.shape[1])
        }
        lock.withLock {
            // Drop entries whose tensors are gone, so the cache does not outlive the models.
            entries = entries.filter { $0.value.tensor != nil }
            entries[key] = Entry(tensor: weight, version: weight.version, u: u)
        }
        return u
    }
}
