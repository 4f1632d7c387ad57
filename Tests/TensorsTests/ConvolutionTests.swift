// conv2d against PyTorch values and a direct Double reference (every tiling path), its gradients
// for x, weight and bias, and the frozen-weight contract; pad and nearest upsampling.

import Testing
import TestSupport
@testable import Tensors

/// Direct convolution in Double: x [N,C,H,W], w [O,C,kh,kw] -> [N,O,Ho,Wo].
func referenceConv2d(_ x: Tensor, _ w: Tensor, _ b: Tensor?, stride s: Int, padding p: Int) -> [Float] {
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
    let ho = (h + 2 * p - kh) / s + 1, wo = (wd + 2 * p - kw) / s + 1
    var out = [Float]()
    for i in 0..<n { for oc in 0..<o { for oy in 0..<ho { for ox in 0..<wo {
        var acc = Double(b?.data[oc] ?? 0)
        for ic in 0..<c { for ky in 0..<kh { for kx in 0..<kw {
            let iy = oy * s - p + ky, ix = ox * s - p + kx
            guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
            acc += Double(x.data[((i * c + ic) * h + iy) * wd + ix]) * Double(w.data[((oc * c + ic) * kh + ky) * kw + kx])
        } } }
        out.append(Float(acc))
    } } } }
    return out
}

@Suite("Convolution")
struct ConvolutionTests {
    @Test func matchesTorchStrideAndPadding() {
        // x = sin(arange(40)).reshape(1,2,4,5); w = cos(0.5*arange(54)).reshape(3,2,3,3)
        // F.conv2d(x, w, tensor([0.1,-0.2,0.3]), stride=2, padding=1)
        let x = Tensor(shape: [1, 2, 4, 5], data: sinSequence(40))
        let w = Tensor(shape: [3, 2, 3, 3], data: cosSequence(54, step: 0.5))
        let b = Tensor(shape: [3], data: [0.1, -0.2, 0.3])
        let y = Tensor.conv2d(x, weight: w, bias: b, stride: 2, padding: 1)
        #expect(y.shape == [1, 3, 2, 3])
        assertClose(y.data, [1.5890058, -1.1984346, -2.4468932, -0.39303809, 3.2022121, 2.8655548,
                             -2.4944322, 0.23374544, 2.4968815, 1.8576636, -2.4013302, -3.8722339,
                             2.9920475, 0.80803734, -2.0675282, -2.9565613, 1.2091849, 4.226212],
                    atol: 1e-5, rtol: 1e-5)
        // F.conv2d(x, w) (stride 1, no padding)
        let v = Tensor.conv2d(x, weight: w, bias: nil)
        #expect(v.shape == [1, 3, 2, 3])
        assertClose(v.data, [3.3391979, 2.1173339, -1.0511968, 0.59033555, 3.1022122, 2.7619293,
                             -2.748158, -2.8019924, -0.27968785, 0.7214576, -2.2013302, -3.1002254,
                             1.6686627, 2.9886267, 1.5608612, -1.9050195, 0.90918481, 2.8874888],
                    atol: 1e-5, rtol: 1e-5)
    }

    @Test func handComputedOneByOneAndBoxKernel() {
        // 1x1: a per-pixel channel mix. out0 = 2·a − b, out1 = a + 3·b + 1.
        let x = Tensor(shape: [1, 2, 1, 2], data: [1, 2, 10, 20])
        let w = Tensor(shape: [2, 2, 1, 1], data: [2, -1, 1, 3])
        let y = Tensor.conv2d(x, weight: w, bias: Tensor(shape: [2], data: [0, 1]))
        #expect(y.data == [-8, -16, 32, 63])
        // A 3x3 box of ones over a 3x3 image of ones with padding 1 counts the neighbours in range.
        let ones = Tensor(repeating: 1, shape: [1, 1, 3, 3])
        let box = Tensor.conv2d(ones, weight: Tensor(repeating: 1, shape: [1, 1, 3, 3]), bias: nil, padding: 1)
        #expect(box.data == [4, 6, 4, 6, 9, 6, 4, 6, 4])
    }

    /// (N, Cin, H, W, Cout, k, stride, padding)
    static let configs: [[Int]] = [
        [2, 3, 5, 6, 4, 3, 2, 1], [1, 3, 7, 7, 2, 1, 1, 0], [2, 3, 8, 8, 4, 4, 2, 1], [3, 2, 6, 5, 3, 3, 1, 1],
        [1, 2, 9, 9, 3, 4, 1, 1], [2, 4, 5, 5, 2, 3, 1, 0], [1, 3, 8, 8, 2, 3, 2, 0], [2, 2, 7, 6, 3, 2, 3, 2],
        [1, 2, 5, 5, 2, 2, 1, 2], [5, 3, 4, 4, 3, 3, 1, 1], [3, 4, 5, 5, 6, 1, 1, 0], [4, 3, 5, 5, 2, 3, 1, 1],
        [9, 2, 6, 6, 3, 4, 2, 1], [4, 3, 6, 6, 4, 1, 1, 0],
    ]

    @Test(arguments: configs)
    func matchesDirectReferenceOnEveryTiling(cfg: [Int]) {
        let (n, c, h, w, o, k, s, p) = (cfg[0], cfg[1], cfg[2], cfg[3], cfg[4], cfg[5], cfg[6], cfg[7])
        let x = Tensor.randn([n, c, h, w], seed: 1), wt = Tensor.randn([o, c, k, k], seed: 2)
        let b = Tensor.randn([o], seed: 3)
        let expected = referenceConv2d(x, wt, b, stride: s, padding: p)
        // Default budget (several images per tile when N is even or >= 8, else bands), one image
        // per tile, and bands of 1 and 2 rows.
        let ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1, kk = c * k * k
        for budget in [ConvGeometry.defaultColumnBudget, kk * ho * wo, kk * wo, 2 * kk * wo] {
            let y = Tensor.conv2d(x, weight: wt, bias: b, stride: s, padding: p, columnBudget: budget)
            #expect(y.shape == [n, o, ho, wo])
            assertClose(y.data, expected, atol: 1e-4, rtol: 1e-4)
        }
    }

    @Test(arguments: configs)
    func gradients(cfg: [Int]) {
        let (n, c, h, w, o, k, s, p) = (cfg[0], cfg[1], cfg[2], cfg[3], cfg[4], cfg[5], cfg[6], cfg[7])
        let x = param([n, c, h, w], seed: 4), wt = param([o, c, k, k], seed: 5), b = param([o], seed: 6)
        let kk = c * k * k, wo = (w + 2 * p - k) / s + 1
        // Linear in each input, so the central difference is exact up to Float rounding.
        for budget in [ConvGeometry.defaultColumnBudget, kk * wo] {
            expectGradientsMatch([x, wt, b], maxChecks: 64) {
                Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], stride: s, padding: p, columnBudget: budget)
            }
        }
    }

    @Test(arguments: [[1, 16, 32, 32, 3, 1, 1], [3, 8, 20, 20, 3, 1, 1], [2, 8, 21, 19, 4, 2, 1], [1, 8, 32, 32, 8, 8, 0], [4, 8, 12, 12, 3, 1, 1]])
    func largeEnoughToRunOnAllCores(cfg: [Int]) {
        // (N, C, H, W, k, stride, padding) with C -> C channels: work above the threshold where
        // tiles are shared out to worker threads, for one image (row bands) and several, and a
        // patch embedding (kernel = stride) whose input-gradient bands never overlap.
        let (n, c, h, w, k, s, p) = (cfg[0], cfg[1], cfg[2], cfg[3], cfg[4], cfg[5], cfg[6])
        let x = param([n, c, h, w], seed: 13), wt = param([c, c, k, k], seed: 14, low: -0.2, high: 0.2)
        let b = param([c], seed: 15)
        let y = Tensor.conv2d(x, weight: wt, bias: b, stride: s, padding: p)
        assertClose(y.data, referenceConv2d(x, wt, b, stride: s, padding: p), atol: 1e-4, rtol: 1e-4)
        let ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1
        for budget in [ConvGeometry.defaultColumnBudget, c * k * k * ho * wo, 3 * c * k * k * wo] {
            let z = Tensor.conv2d(x, weight: wt, bias: b, stride: s, padding: p, columnBudget: budget)
            assertClose(z.data, y.data, atol: 1e-5, rtol: 1e-5)
            expectGradientsMatch([x, wt, b], maxChecks: 24) {
                Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], stride: s, padding: p, columnBudget: budget)
            }
        }
    }

    @Test func tilePlanCoversEveryRowOnceAndBalances() {
        func geometry(n: Int, c: Int, side: Int, budget: Int = ConvGeometry.defaultColumnBudget) -> ConvGeometry {
            ConvGeometry(n: n, cin: c, h: side, w: side, cout: c, kh: 3, kw: 3, stride: 1, pad: 1, ho: side, wo: side,
                         columnBudget: budget)
        }
        for g in [geometry(n: 1, c: 128, side: 256), geometry(n: 1, c: 512, side: 16), geometry(n: 32, c: 3, side: 7),
                  geometry(n: 3, c: 8, side: 20), geometry(n: 9, c: 4, side: 6), geometry(n: 4, c: 8, side: 12, budget: 100)] {
            let tiles = g.tiles(parts: 2)
            var next = 0
            for t in tiles {
                #expect(t.n0 * g.ho + t.oh0 == next)
                #expect(t.images == 1 || (t.oh0 == 0 && t.rows == g.ho))
                next += t.images * t.rows
            }
            #expect(next == g.n * g.ho)
            #expect(tiles.count % 2 == 0 || tiles.count >= 8)
        }
        // The big decoder shape: bands within the column budget; 32 small cutouts: two runs of 16.
        let big = geometry(n: 1, c: 128, side: 256).tiles(parts: 2)
        #expect(big.allSatisfy { 128 * 9 * $0.rows * 256 <= ConvGeometry.defaultColumnBudget })
        #expect(geometry(n: 32, c: 3, side: 7).tiles(parts: 2).map(\.images) == [16, 16])
    }

    @Test func frozenWeightsGetNoGradientAndSameInputGradient() {
        let x = param([2, 3, 6, 6], seed: 7)
        let frozen = Tensor.randn([4, 3, 3, 3], seed: 8), frozenBias = Tensor.randn([4], seed: 9)
        let trained = Tensor(shape: frozen.shape, data: frozen.data, requiresGrad: true)
        let seed = Tensor.randn([2, 4, 3, 3], seed: 10).data
        Tensor.conv2d(x, weight: frozen, bias: frozenBias, stride: 2, padding: 1).backward(seed: seed)
        let dxFrozen = x.gradData!
        #expect(frozen.gradData == nil && frozenBias.gradData == nil)
        x.zeroGrad()
        Tensor.conv2d(x, weight: trained, bias: frozenBias, stride: 2, padding: 1).backward(seed: seed)
        #expect(x.gradData! == dxFrozen)
        #expect(trained.gradData != nil)
        // Weight-only gradient (constant input) also works.
        let constant = Tensor.randn([1, 3, 5, 5], seed: 11)
        let w2 = param([2, 3, 3, 3], seed: 12)
        expectGradientsMatch([w2]) { Tensor.conv2d(constant, weight: $0[0], bias: nil, padding: 1) }
    }
}

@Suite("Padding and upsampling")
struct PaddingTests {
    @Test func padForwardAndGradient() {
        let x = Tensor(shape: [1, 1, 2, 2], data: [1, 2, 3, 4])
        let y = Tensor.pad(x, left: 1, right: 0, top: 0, bottom: 2, value: -1)
        #expect(y.shape == [1, 1, 4, 3])
        #expect(y.data == [-1, 1, 2, -1, 3, 4, -1, -1, -1, -1, -1, -1])
        // VQGAN's Downsample: pad (0, 1, 0, 1) before a stride-2 conv.
        let z = Tensor.pad(Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6]), left: 0, right: 1, top: 0, bottom: 1)
        #expect(z.data == [1, 2, 3, 0, 4, 5, 6, 0, 0, 0, 0, 0])
        let p = param([2, 3, 4, 5], seed: 1)
        expectGradientsMatch([p]) { Tensor.pad($0[0], left: 2, right: 1, top: 0, bottom: 3, value: 0.5) }
    }

    @Test func upsampleNearestForwardAndGradient() {
        let x = Tensor(shape: [1, 1, 2, 3], data: [1, 2, 3, 4, 5, 6])
        let y = Tensor.upsampleNearest2x(x)
        #expect(y.shape == [1, 1, 4, 6])
        #expect(y.data == [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6])
        // The backward sums each 2x2 block.
        let leaf = Tensor(shape: [1, 1, 1, 2], data: [0, 0], requiresGrad: true)
        Tensor.upsampleNearest2x(leaf).backward(seed: [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(leaf.gradData! == [14, 22] as [Float])  // 1+2+5+6, 3+4+7+8
        let p = param([2, 3, 3, 4], seed: 2)
        expectGradientsMatch([p]) { Tensor.upsampleNearest2x($0[0]) }
    }
}

@Suite("Tile queue")
struct TileQueueTests {
    /// In order, worker s gets s, s + 3, s + 6, ... however the claims interleave, and every
    /// index exactly once; shared, the indices go out in request order.
    @Test func inOrderClaimsAreStridedPerWorker() {
        let queue = TileQueue(count: 8, workers: 3, inOrder: true)
        var got: [[Int]] = [[], [], []]
        for slot in [2, 2, 0, 1, 2, 0, 0, 1, 1, 0, 2, 1] {
            if let i = queue.claim(slot) { got[slot].append(i) }
        }
        #expect(got == [[0, 3, 6], [1, 4, 7], [2, 5]])
        let shared = TileQueue(count: 3, workers: 2, inOrder: false)
        #expect([1, 0, 1, 0].map { shared.claim($0) } == [0, 1, 2, nil])
    }
}
