// The loss terms of VQGAN training that are not the quantizer's own: the pixel reconstruction
// terms, the hinge GAN losses, and taming's adaptive weight that balances the generator's GAN
// term against reconstruction at the decoder's last layer.

import Foundation
import Tensors

/// Loss functions of ``VQGANTrainer``, each a plain function of tensors.
public enum VQGANLosses {
    /// mean |x − y|.
    public static func l1(_ x: Tensor, _ y: Tensor) -> Tensor { (x - y).abs().mean() }

    /// L1 between the horizontal and between the vertical neighbour differences of x and y
    /// [N, C, H, W] (the mean of the two). Stands in for a perceptual term: a reconstruction that
    /// softens an edge over a few pixels pays little plain L1 but the full contrast here.
    public static func edgeL1(_ x: Tensor, _ y: Tensor) -> Tensor {
        let (h, w) = (x.shape[2], x.shape[3])
        func dx(_ t: Tensor) -> Tensor {
            Tensor.slice(t, axis: 3, range: 1..<w) - Tensor.slice(t, axis: 3, range: 0..<(w - 1))
        }
        func dy(_ t: Tensor) -> Tensor {
            Tensor.slice(t, axis: 2, range: 1..<h) - Tensor.slice(t, axis: 2, range: 0..<(h - 1))
        }
        return ((dx(x) - dx(y)).abs().mean() + (dy(x) - dy(y)).abs().mean()) * 0.5
    }

    /// The discriminator's hinge loss (taming's `hinge_d_loss`):
    /// ½ (mean relu(1 − real) + mean relu(1 + fake)).
    public static func hingeDiscriminator(real: Tensor, fake: Tensor) -> Tensor {
        ((1 - real).relu().mean() + (1 + fake).relu().mean()) * 0.5
    }

    /// The generator's GAN loss: −mean(logits on reconstructions).
    public static func generator(fake: Tensor) -> Tensor { -fake.mean() }

    /// taming's `calculate_adaptive_weight`: ‖∇_W L_rec‖ / (‖∇_W L_gan‖ + 1e−4), clamped to
    /// [0, 1e4], times `discriminatorWeight`, where W is the last decoder layer's weight. The
    /// gradients are given at that layer's output (`reconstructionGrad`, `ganGrad`), and the
    /// weight gradient of each is recovered from the layer's input `features` with one extra
    /// convolution, since the network's graph can be run backward only once.
    public static func adaptiveWeight(features: Tensor, weight: Tensor, padding: Int, reconstructionGrad: [Float],
                                      ganGrad: [Float], discriminatorWeight: Float) -> Float {
        let input = features.detached()
        func weightGradientNorm(_ outputGrad: [Float]) -> Float {
            let w = Tensor(shape: weight.shape, data: weight.data, requiresGrad: true)
            Tensor.conv2d(input, weight: w, bias: nil, padding: padding).backward(seed: outputGrad)
            let g = w.gradData ?? []
            var sum: Double = 0
            for v in g { sum += Double(v) * Double(v) }
            return Float(sum.squareRoot())
        }
        let ratio = weightGradientNorm(reconstructionGrad) / (weightGradientNorm(ganGrad) + 1e-4)
        return min(max(ratio, 0), 1e4) * discriminatorWeight
    }
}
