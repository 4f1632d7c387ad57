// Timing of the VQGAN+CLIP generation step's VQGAN part: one decoder forward + backward with
// respect to the latent (frozen weights) at 256×256 with the full f16_16384 architecture.

import Layers
import Tensors
import VQGAN

/// post_quant_conv + decoder forward, and forward + backward with respect to z, for a
/// [1, 256, 16, 16] latent → [1, 3, 256, 256] image with random f16_16384 weights. Best of
/// `repeats` runs after one warm-up run, on the threads Parallel and OpenBLAS are set to use.
func vqganBenchmarks(repeats: Int = 1) -> [(name: String, seconds: Double)] {
    let config = VQGANConfig.f16_16384
    let weights = WeightLoader(randomSeed: 7)
    guard let decoder = try? Decoder(weights.scope("decoder"), config: config.ddconfig),
          let postQuantConv = try? Conv2d(weights.scope("post_quant_conv"), in: config.embedDim,
                                          out: config.ddconfig.zChannels, kernel: 1) else { return [] }
    let z = Tensor.randn([1, config.embedDim, 16, 16], seed: 8, requiresGrad: true)
    let seed = Tensor.randn([1, 3, 256, 256], seed: 9).data

    let forward = bestSeconds(repeats: repeats) { _ = Autograd.withoutGrad { decoder(postQuantConv(z)) } }
    let both = bestSeconds(repeats: repeats) {
        z.zeroGrad()
        decoder(postQuantConv(z)).backward(seed: seed)
    }
    return [("VQGAN f16_16384 decoder 256x256 fwd", forward),
            ("VQGAN f16_16384 decoder 256x256 fwd+bwd (d/dz, frozen weights)", both)]
}
