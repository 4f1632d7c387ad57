// CLIP's share of a rendering step: the ViT-B/32 image tower over a batch of 224x224 cutouts,
// forward and forward+backward with respect to the images (weights frozen, random values).

import CLIP
import Tensors

/// Timings (best of two after a warm-up) of ViT-B/32 encodeImage on 32 cutouts: forward only,
/// and forward + backward to the pixels of a loss that weights every feature.
func clipBenchmarks() -> [(name: String, seconds: Double)] {
    let config = CLIPConfiguration.vitB32
    let model = CLIPModel.random(config, seed: 11)
    let batch = 32
    let images = Tensor.randn([batch, 3, config.imageResolution, config.imageResolution], seed: 12, requiresGrad: true)
    let seed = Tensor.randn([batch, config.embedDim], seed: 13).data

    let forward = bestSeconds(repeats: 2) { _ = Autograd.withoutGrad { model.encodeImage(images) } }
    let both = bestSeconds(repeats: 2) {
        images.zeroGrad()
        model.encodeImage(images).backward(seed: seed)
    }
    return [("CLIP ViT-B/32 encodeImage fwd, \(batch) cutouts 224x224", forward),
            ("CLIP ViT-B/32 encodeImage fwd+bwd (d images, frozen weights), \(batch) cutouts", both)]
}
