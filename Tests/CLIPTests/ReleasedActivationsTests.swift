// With frozen weights the towers release the temporaries their backward passes do not read
// (LayerNorm outputs, merged heads, projections, the MLP's activations); the image gradient is the
// same as through a trainable copy of the model, which keeps everything.

import Testing
import TestSupport
import Tensors
@testable import CLIP

@Suite struct CLIPReleasedActivationsTests {
    @Test func imageGradientIsUnchanged() {
        let config = CLIPConfiguration(embedDim: 16, imageResolution: 32, visionLayers: 2, visionWidth: 128, patchSize: 8,
                                       contextLength: 8, vocabSize: 64, textWidth: 64, textLayers: 1)
        var grads: [[Float]] = []
        for trainable in [false, true] {
            let model = CLIPModel.random(config, seed: 3, requiresGrad: trainable)
            let images = Tensor.randn([3, 3, 32, 32], seed: 4, requiresGrad: true)
            let features = model.encodeImage(images * 1)
            (features * Tensor.randn(features.shape, seed: 5)).sum().backward()
            grads.append(images.grad!.data)
        }
        #expect(grads[0] == grads[1])
    }
}
