// Winograd F(4x4, 3x3) against the direct (im2col) convolution and a Double reference: forward,
// the input gradient (written fresh and accumulated), ragged edges, several images, and the
// transformed-weight cache noticing weights changed in place.

import CWinograd
import Testing
import TestSupport
@testable import Tensors

@Suite struct WinogradTests {
    /// (N, Cin, Cout, H, W): whole tiles, ragged tiles on both axes, several images, Cin ≠ Cout.
    static let configs: [[Int]] = [[1, 32, 32, 48, 64], [1, 32, 32, 32, 32], [3, 40, 33, 17, 23], [1, 64, 48, 36, 32], [2, 32, 64, 13, 30]]

    static func result(_ x: Tensor, _ w: Tensor, _ b: Tensor, winograd: Bool) -> Tensor {
        Tensor.conv2d(x, weight: w, bias: b, stride: 1, padding: 1, columnBudget: ConvGeometry.defaultColumnBudget,
                      winograd: winograd)
    }

    @Test(arguments: configs)
    func forwardMatchesDirect(cfg: [Int]) {
        let (n, cin, cout, h, w) = (cfg[0], cfg[1], cfg[2], cfg[3], cfg[4])
        #expect(WinogradGeometry(n: n, cin: cin, cout: cout, h: h, w: w).isWorthwhile)
        let x = Tensor.randn([n, cin, h, w], seed: 1)
        let weight = Tensor.randn([cout, cin, 3, 3], std: (2 / Float(9 * cin)).squareRoot(), seed: 2)
        let bias = Tensor.randn([cout], seed: 3)
        let exact = Tensor(shape: [n, cout, h, w], data: referenceConv2d(x, weight, bias, stride: 1, padding: 1))
        let direct = Self.result(x, weight, bias, winograd: false)
        let fast = Self.result(x, weight, bias, winograd: true)
        let directError = assertParity(direct, exact, tolerance: 2e-6, "direct")
        let winogradError = assertParity(fast, exact, tolerance: 1e-5, "winograd")
        #expect(winogradError > 0 && directError < winogradError, "the Winograd path was not taken")
        print("conv \(cfg) against double: direct \(directError), winograd \(winogradError)")
    }

    @Test(arguments: configs)
    func inputGradientMatchesDirect(cfg: [Int]) {
        let (n, cin, cout, h, w) = (cfg[0], cfg[1], cfg[2], cfg[3], cfg[4])
        let weight = Tensor.randn([cout, cin, 3, 3], std: (2 / Float(9 * cin)).squareRoot(), seed: 5)
        let bias = Tensor.randn([cout], seed: 6)
        let seed = Tensor.randn([n, cout, h, w], seed: 7)
        var grads: [Tensor] = []
        for winograd in [false, true] {
            // x feeds the convolution and a product, so the convolution's gradient is added to one
            // already there in one order or the other: both the fresh and the accumulating write.
            for convolutionFirst in [false, true] {
                let x = Tensor.randn([n, cin, h, w], seed: 4, requiresGrad: true)
                let y = Self.result(x, weight, bias, winograd: winograd)
                let side = (x * x).sum()
                let loss = convolutionFirst ? (y * seed).sum() + side : side + (y * seed).sum()
                loss.backward()
                grads.append(x.grad!)
            }
        }
        assertParity(grads[1], grads[0], tolerance: 1e-6, "direct, either order")
        assertParity(grads[2], grads[0], tolerance: 1e-5, "winograd, accumulated")
        assertParity(grads[3], grads[0], tolerance: 1e-5, "winograd, fresh")
        #expect(parityError(grads[2], grads[0]) > 0, "the Winograd path was not taken")
    }

    @Test func bothInstructionSetsGiveTheSameBits() {
        // The transforms are compiled for AVX2 and for the baseline, without FMA contraction.
        let x = Tensor.randn([2, 40, 19, 37], seed: 10, requiresGrad: true)
        let weight = Tensor.randn([48, 40, 3, 3], std: 0.07, seed: 11)
        let bias = Tensor.randn([48], seed: 12)
        var outputs: [[Float]] = [], grads: [[Float]] = []
        for baseline in [false, true] {
            vqclip_winograd_force_baseline(baseline ? 1 : 0)
            x.zeroGrad()
            let y = Self.result(x, weight, bias, winograd: true)
            (y * y).sum().backward()
            outputs.append(y.data)
            grads.append(x.grad!.data)
        }
        vqclip_winograd_force_baseline(0)
        #expect(outputs[0] == outputs[1])
        #expect(grads[0] == grads[1])
    }

    @Test func weightsChangedInPlaceAreTransformedAgain() {
        let x = Tensor.randn([1, 32, 16, 16], seed: 8)
        let weight = Tensor.randn([32, 32, 3, 3], std: 0.1, seed: 9)
        let bias = Tensor(repeating: 0, shape: [32])
        let before = Self.result(x, weight, bias, winograd: true)
        for i in weight.data.indices { weight.data[i] *= -2 }
        let after = Self.result(x, weight, bias, winograd: true)
        assertParity(after, before * -2, tolerance: 1e-5, "after scaling the weights by -2")
    }

    @Test func unworthyShapesAreLeftToTheDirectPath() {
        #expect(!WinogradGeometry(n: 1, cin: 3, cout: 64, h: 64, w: 64).isWorthwhile)
        #expect(!WinogradGeometry(n: 1, cin: 64, cout: 3, h: 64, w: 64).isWorthwhile)
        #expect(!WinogradGeometry(n: 1, cin: 64, cout: 64, h: 8, w: 8).isWorthwhile)
    }
}
