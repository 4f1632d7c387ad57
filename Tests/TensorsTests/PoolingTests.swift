// Pooling: forward against PyTorch and hand-computed windows, adaptive bins, gradients.

import Testing
import TestSupport
@testable import Tensors

/// A leaf holding 0.1·(a permutation of 0..<count): distinct values 0.1 apart, so a finite
/// difference of 1e-2 never changes which element wins a max-pool window.
func distinctParam(_ shape: [Int], seed: UInt64) -> Tensor {
    var values = (0..<product(shape)).map { Float($0) * 0.1 }
    var state = seed
    for i in stride(from: values.count - 1, to: 0, by: -1) {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        values.swapAt(i, Int((state >> 33) % UInt64(i + 1)))
    }
    return Tensor(shape: shape, data: values, requiresGrad: true)
}

@Suite("Pooling")
struct PoolingTests {
    @Test func handComputedWindows() {
        let x = Tensor(shape: [1, 1, 4, 4], data: (0..<16).map(Float.init))
        #expect(Tensor.avgPool2d(x, kernel: 2, stride: 2).data == [2.5, 4.5, 10.5, 12.5])
        #expect(Tensor.maxPool2d(x, kernel: 2, stride: 2).data == [5, 7, 13, 15])
        // Overlapping 3x3 windows every 1: the centre values of each window.
        #expect(Tensor.avgPool2d(x, kernel: 3, stride: 1).data == [5, 6, 9, 10])
        // Adaptive to 1x1 is the global mean / max; an even split equals the fixed pool.
        #expect(Tensor.adaptiveAvgPool2d(x, outputHeight: 1, outputWidth: 1).data == [7.5])
        #expect(Tensor.adaptiveMaxPool2d(x, outputHeight: 1, outputWidth: 1).data == [15])
        #expect(Tensor.adaptiveAvgPool2d(x, outputHeight: 2, outputWidth: 2).data == [2.5, 4.5, 10.5, 12.5])
        // 4 -> 3 bins: [0,2), [1,3), [2,4) on each axis.
        let y = Tensor.adaptiveMaxPool2d(x, outputHeight: 3, outputWidth: 3)
        #expect(y.data == [5, 6, 7, 9, 10, 11, 13, 14, 15])
    }

    @Test func matchesTorch() {
        // x = sin(arange(70)).reshape(1,2,5,7)
        let x = Tensor(shape: [1, 2, 5, 7], data: sinSequence(70))
        // F.adaptive_avg_pool2d(x, (3,4))
        assertClose(Tensor.adaptiveAvgPool2d(x, outputHeight: 3, outputWidth: 4).data,
                    [0.62195396, 0.45822397, -0.60919851, -0.33868641, 0.68584067, -0.16691194, -0.43538478, 0.44422516,
                     0.10876904, -0.63605887, 0.14532153, 0.81198227, -0.79206443, -0.2170196, 0.64692366, -0.014547765,
                     -0.50830168, 0.38856533, 0.22953759, -0.65142065, 0.25049889, 0.63101315, -0.40236488, -0.67950273],
                    atol: 1e-6, rtol: 1e-5)
        // F.adaptive_max_pool2d(x, (3,4))
        assertClose(Tensor.adaptiveMaxPool2d(x, outputHeight: 3, outputWidth: 4).data,
                    [0.98935825, 0.98935825, 0.14112, 0.42016703, 0.99060738, 0.98935825, 0.76255846, 0.95637596,
                     0.83665562, -0.0088513093, 0.99991184, 0.99991184, -0.42818266, 0.85090351, 0.96379542, 0.74511313,
                     0.43616477, 0.99287266, 0.98662758, 0.12357312, 0.92002606, 0.99287266, 0.636738, -0.11478481],
                    atol: 1e-7, rtol: 1e-6)
        // F.avg_pool2d(x, 3, 2) and F.max_pool2d(x, 3, 2)
        let avg = Tensor.avgPool2d(x, kernel: 3, stride: 2)
        #expect(avg.shape == [1, 2, 2, 3])
        assertClose(avg.data, [0.57358038, -0.31539622, -0.31107813, -0.0051315161, -0.52500892, 0.44209325,
                               -0.48222139, 0.49331129, 0.071641527, 0.25286651, 0.36914885, -0.56010669],
                    atol: 1e-6, rtol: 1e-5)
        assertClose(Tensor.maxPool2d(x, kernel: 3, stride: 2).data,
                    [0.99060738, 0.90929741, 0.91294527, 0.99060738, 0.55142671, 0.99991184,
                     0.6702292, 0.98662758, 0.96379542, 0.99287266, 0.99287266, 0.39592516],
                    atol: 1e-7, rtol: 1e-6)
    }

    @Test func adaptiveUpsamplingMatchesTorch() {
        // Output larger than input (cutouts smaller than the CLIP input): bins overlap and repeat.
        // x = sin(arange(12)).reshape(1,1,3,4); F.adaptive_avg_pool2d / F.adaptive_max_pool2d(x, (5,7))
        let x = Tensor(shape: [1, 1, 3, 4], data: sinSequence(12))
        assertClose(Tensor.adaptiveAvgPool2d(x, outputHeight: 5, outputWidth: 7).data,
                    [0, 0.42073548, 0.84147096, 0.87538421, 0.90929741, 0.52520871, 0.14112, -0.37840125, -0.21856396,
                     -0.058726668, 0.12810716, 0.31494096, 0.35699713, 0.39905331, -0.7568025, -0.85786343, -0.95892429,
                     -0.61916989, -0.27941549, 0.18878555, 0.65698659, 0.11627787, -0.078562528, -0.2734029, -0.34256059,
                     -0.41171831, -0.29161006, -0.17150182, 0.98935825, 0.70073837, 0.41211849, -0.065951318, -0.54402113,
                     -0.77200568, -0.99999022], atol: 1e-6, rtol: 1e-5)
        assertClose(Tensor.adaptiveMaxPool2d(x, outputHeight: 5, outputWidth: 7).data,
                    [0, 0.84147096, 0.84147096, 0.90929741, 0.90929741, 0.90929741, 0.14112, 0, 0.84147096, 0.84147096,
                     0.90929741, 0.90929741, 0.90929741, 0.65698659, -0.7568025, -0.7568025, -0.95892429, -0.27941549,
                     -0.27941549, 0.65698659, 0.65698659, 0.98935825, 0.98935825, 0.41211849, 0.41211849, -0.27941549,
                     0.65698659, 0.65698659, 0.98935825, 0.98935825, 0.41211849, 0.41211849, -0.54402113, -0.54402113,
                     -0.99999022], atol: 1e-7, rtol: 1e-6)
        let p = param([2, 3, 3, 4], seed: 3), d = distinctParam([2, 3, 3, 4], seed: 4)
        expectGradientsMatch([p]) { Tensor.adaptiveAvgPool2d($0[0], outputHeight: 5, outputWidth: 7) }
        expectGradientsMatch([d]) { Tensor.adaptiveMaxPool2d($0[0], outputHeight: 5, outputWidth: 7) }
    }

    @Test func maxPoolGradientGoesToTheWinner() {
        let x = Tensor(shape: [1, 1, 2, 4], data: [1, 9, 2, 2, 3, 4, 8, 5], requiresGrad: true)
        Tensor.maxPool2d(x, kernel: 2, stride: 2).backward(seed: [10, 20])
        // Window 1 wins at 9; window 2 at 8. Ties (2, 2) would go to the first.
        #expect(x.gradData! == [0, 10, 0, 0, 0, 0, 20, 0])
    }

    @Test func gradientsMatchFiniteDifferences() {
        let x = param([2, 3, 7, 6], seed: 1)
        expectGradientsMatch([x]) { Tensor.avgPool2d($0[0], kernel: 2, stride: 2) }
        expectGradientsMatch([x]) { Tensor.avgPool2d($0[0], kernel: 3, stride: 2) }
        expectGradientsMatch([x]) { Tensor.adaptiveAvgPool2d($0[0], outputHeight: 3, outputWidth: 4) }
        expectGradientsMatch([x]) { Tensor.adaptiveAvgPool2d($0[0], outputHeight: 5, outputWidth: 5) }
        let d = distinctParam([2, 3, 7, 6], seed: 2)
        expectGradientsMatch([d]) { Tensor.maxPool2d($0[0], kernel: 2, stride: 2) }
        expectGradientsMatch([d]) { Tensor.maxPool2d($0[0], kernel: 3, stride: 1) }
        expectGradientsMatch([d]) { Tensor.adaptiveMaxPool2d($0[0], outputHeight: 3, outputWidth: 4) }
        expectGradientsMatch([d]) { Tensor.adaptiveMaxPool2d($0[0], outputHeight: 5, outputWidth: 5) }
    }
}
