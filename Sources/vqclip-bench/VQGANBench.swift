// Timing of the VQGAN+CLIP generation step's VQGAN part: one decoder forward + backward with
// respect to the latent (frozen weights) at 256×256 with the full f16_16384 architecture.

import Dispatch
import Tensors
import VQGAN

/// Decoder (post_quant_conv + decoder) forward, and forward + backward with respect to z, for a
/// [1, 256, 16, 16] latent → [1, 3, 256, 256] image with random f16_16384 weights. Best of
/// `repeats` runs. The thread count is whatever Parallel and OpenBLAS use (2 on the reference machine).
func vqganBenchmarks(repeats: Int = 2) -> [(name: String, seconds: Double)] {
    let config = VQGANConfig.f16_16384
    let model: VQModel
    do {
        model = try VQModel(config: config, weights: WeightLoader(randomSeed: 7))
    } catch {
        return []
    }
    let z = Tensor.randn([1, config.embedDim, 16, 16], seed: 8, requiresGrad: true)
    let seed = Tensor.randn([1, 3, 256, 256], seed: 9).data

    func best(_ body: () -> Void) -> Double {
        var best = Double.infinity
        for _ in 0..<max(1, repeats) {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        }
        return best
    }
    let forward = best { _ = Autograd.withoutGrad { model.decode(z) } }
    let both = best {
        z.zeroGrad()
        model.decode(z).backward(seed: seed)
    }
    return [("VQGAN f16_16384 decoder 256x256 fwd", forward),
            ("VQGAN f16_16384 decoder 256x256 fwd+bwd (d/dz, frozen weights)", both)]
}
