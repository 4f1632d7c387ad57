// Timings of the attention shapes that vqclip runs every optimisation step (CLIP ViT-B/32 over the
// cutouts, the VQGAN mid-block attention) and of the decoder's GroupNorm+SiLU at full resolution.

import Tensors

/// Benchmarks scaled dot-product attention forward and forward+backward at the CLIP ViT-B/32 shape
/// (B=32 cutouts, 12 heads, L=50, D=64) and the VQGAN attention shape (B=1, 1 head, L=256,
/// D=512), plus GroupNorm(32 groups)+SiLU at [1, 128, 256, 256].
///
/// Attention FLOPs count the matrix products only: 4·B·H·L²·D forward and three times that for
/// forward+backward. GroupNorm+SiLU is memory-bound; its figure uses a nominal 20 flops per
/// element forward and 50 forward+backward, so treat it as a throughput index, not a FLOP rate.
func attentionBenchmarks(repeats: Int) -> [(name: String, seconds: Double, gflops: Double)] {
    var results: [(name: String, seconds: Double, gflops: Double)] = []

    func attention(_ label: String, b: Int, h: Int, l: Int, d: Int, scale: Float?) {
        let q = Tensor.randn([b, h, l, d], seed: 1, requiresGrad: true)
        let k = Tensor.randn([b, h, l, d], seed: 2, requiresGrad: true)
        let v = Tensor.randn([b, h, l, d], seed: 3, requiresGrad: true)
        let seed = [Float](repeating: 1, count: b * h * l * d)
        let flops = 4 * Double(b * h) * Double(l * l) * Double(d)
        let forward = bestSeconds(repeats: repeats) {
            _ = Autograd.withoutGrad { Tensor.scaledDotProductAttention(q, k, v, scale: scale) }
        }
        results.append((label + " fwd", forward, flops / forward * 1e-9))
        let both = bestSeconds(repeats: repeats) {
            for t in [q, k, v] { t.zeroGrad() }
            Tensor.scaledDotProductAttention(q, k, v, scale: scale).backward(seed: seed)
        }
        results.append((label + " fwd+bwd", both, 3 * flops / both * 1e-9))
    }

    attention("attention CLIP B=32 H=12 L=50 D=64", b: 32, h: 12, l: 50, d: 64, scale: nil)
    attention("attention VQGAN B=1 H=1 L=256 D=512", b: 1, h: 1, l: 256, d: 512, scale: 1 / Float(512).squareRoot())
    return results + groupNormBenchmarks(repeats: repeats)
}

/// GroupNorm(32 groups)+SiLU at [1, 128, 256, 256] (the fused op the VQGAN blocks use), forward and forward+backward.
func groupNormBenchmarks(repeats: Int) -> [(name: String, seconds: Double, gflops: Double)] {
    var results: [(name: String, seconds: Double, gflops: Double)] = []
    let shape = [1, 128, 256, 256]
    let x = Tensor.randn(shape, seed: 4, requiresGrad: true)
    let weight = Tensor.uniform([128], low: 0.5, high: 1.5, seed: 5, requiresGrad: true)
    let bias = Tensor.randn([128], seed: 6, requiresGrad: true)
    let seed = [Float](repeating: 1, count: x.count)
    let elements = Double(x.count)
    let forward = bestSeconds(repeats: repeats) {
        _ = Autograd.withoutGrad { Tensor.groupNormSiLU(x, groups: 32, weight: weight, bias: bias, eps: 1e-6) }
    }
    results.append(("groupnorm32+silu [1,128,256,256] fwd", forward, 20 * elements / forward * 1e-9))
    let both = bestSeconds(repeats: repeats) {
        for t in [x, weight, bias] { t.zeroGrad() }
        Tensor.groupNormSiLU(x, groups: 32, weight: weight, bias: bias, eps: 1e-6).backward(seed: seed)
    }
    results.append(("groupnorm32+silu [1,128,256,256] fwd+bwd", both, 50 * elements / both * 1e-9))
    return results
}
