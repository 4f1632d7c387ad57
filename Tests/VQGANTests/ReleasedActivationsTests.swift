// A decoder with frozen weights releases the activations its backward pass does not read (the
// inputs of its convolutions and of the residual sums) as soon as they are used; the gradient
// through it is unchanged, and a trainable decoder keeps everything.

import Testing
import TestSupport
import Layers
import Tensors
@testable import VQGAN

@Suite struct ReleasedActivationsTests {
    static func block(trainable: Bool) throws -> ResnetBlock {
        try ResnetBlock(WeightLoader(randomSeed: 3, requiresGrad: trainable).scope("block"), in: 8, out: 16, groups: 4)
    }

    @Test func frozenConvolutionReleasesItsConsumedInput() throws {
        let conv = try Conv2d(WeightLoader(randomSeed: 1).scope("conv"), in: 4, out: 4, kernel: 3, padding: 1)
        let x = Tensor.randn([1, 4, 6, 6], seed: 2, requiresGrad: true)
        let hidden = x * 2
        let y = conv(consuming: hidden)
        #expect(hidden.data.isEmpty && hidden.count == 4 * 36)
        y.sum().backward()
        // d/dx of sum(conv(2x)) = 2 · (the same with x): compare with a plain call.
        let x2 = Tensor.randn([1, 4, 6, 6], seed: 2, requiresGrad: true)
        conv(x2 * 2).sum().backward()
        assertClose(x.grad!.data, x2.grad!.data, atol: 1e-7, rtol: 1e-5)
    }

    @Test func leavesAndTrainableWeightsKeepTheirValues() throws {
        let frozen = try Conv2d(WeightLoader(randomSeed: 1).scope("conv"), in: 4, out: 4, kernel: 3, padding: 1)
        let trainable = try Conv2d(WeightLoader(randomSeed: 1, requiresGrad: true).scope("conv"), in: 4, out: 4, kernel: 3, padding: 1)
        let leaf = Tensor.randn([1, 4, 6, 6], seed: 2, requiresGrad: true)
        _ = frozen(consuming: leaf)
        #expect(leaf.data.count == 4 * 36)
        let hidden = leaf * 2
        _ = trainable(consuming: hidden)
        #expect(hidden.data.count == 4 * 36)
    }

    @Test func residualBlockGradientIsUnchanged() throws {
        // The same block twice: frozen (activations released) and trainable (all kept); the
        // input gradients must agree, the arithmetic being the same.
        var grads: [[Float]] = []
        for trainable in [false, true] {
            let block = try Self.block(trainable: trainable)
            let x = Tensor.randn([1, 8, 10, 10], seed: 4, requiresGrad: true)
            let y = block(x * 1)
            (y * Tensor.randn(y.shape, seed: 5)).sum().backward()
            grads.append(x.grad!.data)
        }
        #expect(grads[0] == grads[1])
    }
}
