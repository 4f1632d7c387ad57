// Timing of the VQGAN+CLIP generation step's VQGAN part: one decoder forward + backward with
// respect to the latent (frozen weights) at 256×256 with the full f16_16384 architecture.

import Glibc
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

/// The decoder's 3x3 convolution shapes at 256x256 (frozen weights): direct (im2col + GEMM)
/// against Winograd F(4x4, 3x3), forward and input gradient, in seconds.
func conv3x3Benchmarks(repeats: Int = 2) -> [(name: String, direct: Double, winograd: Double)] {
    // (Cin, Cout, side)
    let shapes = [(512, 512, 16), (512, 256, 32), (256, 256, 32), (256, 256, 64), (256, 128, 128), (128, 128, 128), (128, 128, 256)]
    return shapes.map { cin, cout, side in
        let weight = Tensor.randn([cout, cin, 3, 3], std: (2 / Float(9 * cin)).squareRoot(), seed: 1)
        let x = Tensor.randn([1, cin, side, side], seed: 2, requiresGrad: true)
        let seed = Tensor.randn([1, cout, side, side], seed: 3).data
        // CPU seconds of the process (all threads), best of `repeats`: steadier than wall time
        // when other processes share the cores.
        func time(_ algorithm: ConvolutionAlgorithm) -> Double {
            var best = Double.infinity
            for _ in 0...repeats {
                let start = cpuSeconds()
                x.zeroGrad()
                Tensor.conv2d(x, weight: weight, bias: nil, padding: 1, algorithm: algorithm).backward(seed: seed)
                best = min(best, cpuSeconds() - start)
            }
            return best
        }
        return ("conv3x3 \(cin)->\(cout) at \(side)x\(side) fwd+bwd", time(.direct), time(.automatic))
    }
}

/// User + system CPU time of the process so far.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) * 1e-6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
