// taming's NLayerDiscriminator (the pix2pix PatchGAN used by VQLPIPSWithDiscriminator): 4×4
// convolutions with padding 1 (stride 2, then stride 1 for the last two), LeakyReLU(0.2), and
// BatchNorm (or ActNorm) after every convolution but the first and the last. Output: one logit
// per overlapping patch, no sigmoid.

import Layers
import Tensors

/// PatchGAN discriminator; parameters under `loss.discriminator.main.{k}` as in the checkpoint.
public struct NLayerDiscriminator {
    /// The normalization after a hidden convolution.
    public enum Norm {
        /// BatchNorm2d (eps 1e-5, momentum 0.1): affine weight/bias plus running statistics.
        case batch(weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor)
        /// ActNorm: y = scale · (x + loc), loc and scale [1, C, 1, 1]; `initialized` [] is 0 until
        /// the first training batch sets loc and scale from the data.
        case act(loc: Tensor, scale: Tensor, initialized: Tensor)
    }

    /// One `Conv2d` followed by an optional norm and an optional LeakyReLU(0.2).
    public struct Layer {
        public let conv: Conv2d
        public let norm: Norm?
        public let activation: Bool
    }

    /// `main.*` in order: the stride-2 convolutions, the stride-1 one, the logit convolution.
    public let layers: [Layer]
    /// The settings the layers were built from.
    public let config: DiscriminatorConfig

    /// Builds the discriminator under `w` (normally `loss.discriminator`).
    public init(_ w: WeightScope, config: DiscriminatorConfig) throws {
        self.config = config
        let main = w.scope("main")
        var index = 0
        var layers: [Layer] = []
        // Convolutions before a norm have no bias exactly when the norm is BatchNorm.
        let hiddenBias = config.useActNorm
        func add(in cin: Int, out cout: Int, stride: Int, bias: Bool, norm: Bool, activation: Bool) throws {
            let conv = try Conv2d(main.scope(String(index)), in: cin, out: cout, kernel: 4, stride: stride,
                                  padding: 1, bias: bias)
            index += 1
            var normLayer: Norm?
            if norm {
                let s = main.scope(String(index))
                if config.useActNorm {
                    normLayer = .act(loc: try s.tensor("loc", shape: [1, cout, 1, 1], initializer: .zeros),
                                     scale: try s.tensor("scale", shape: [1, cout, 1, 1], initializer: .ones),
                                     initialized: try s.buffer("initialized", shape: [], initial: 0))
                } else {
                    normLayer = .batch(
                        weight: try s.tensor("weight", shape: [cout], initializer: .ones),
                        bias: try s.tensor("bias", shape: [cout], initializer: .zeros),
                        runningMean: try s.tensor("running_mean", shape: [cout], initializer: .zeros, buffer: true),
                        runningVar: try s.tensor("running_var", shape: [cout], initializer: .ones, buffer: true))
                    try s.buffer("num_batches_tracked", shape: [])
                }
                index += 1
            }
            if activation { index += 1 }
            layers.append(Layer(conv: conv, norm: normLayer, activation: activation))
        }
        let ndf = config.ndf
        try add(in: config.inChannels, out: ndf, stride: 2, bias: true, norm: false, activation: true)
        var mult = 1
        for n in 1..<max(config.nLayers, 1) {
            let previous = mult
            mult = min(1 << n, 8)
            try add(in: ndf * previous, out: ndf * mult, stride: 2, bias: hiddenBias, norm: true, activation: true)
        }
        let previous = mult
        mult = min(1 << config.nLayers, 8)
        try add(in: ndf * previous, out: ndf * mult, stride: 1, bias: hiddenBias, norm: true, activation: true)
        try add(in: ndf * mult, out: 1, stride: 1, bias: true, norm: false, activation: false)
        self.layers = layers
    }

    /// x [N, in_channels, H, W] → patch logits [N, 1, H', W'] (256² → 30² for 3 layers).
    /// BatchNorm uses its running statistics unless `training`, in which case it normalises with
    /// the batch statistics (biased variance) and updates the running ones as PyTorch does. An
    /// uninitialised ActNorm (a fresh model) is initialised from the first training batch.
    public func callAsFunction(_ x: Tensor, training: Bool = false) -> Tensor {
        var h = x
        for layer in layers {
            h = layer.conv(h)
            switch layer.norm {
            case .batch(let weight, let bias, let runningMean, let runningVar)?:
                h = Self.batchNorm(h, weight: weight, bias: bias, runningMean: runningMean,
                                   runningVar: runningVar, training: training)
            case .act(let loc, let scale, let initialized)?:
                if training && initialized.data[0] == 0 {
                    Self.initializeActNorm(h, loc: loc, scale: scale)
                    initialized.data[0] = 1
                }
                h = scale * (h + loc)
            case nil:
                break
            }
            if layer.activation { h = h.leakyReLU(0.2) }
        }
        return h
    }

    /// ActNorm's data-dependent initialisation from x [N, C, H, W]: loc = −mean and
    /// scale = 1 / (std + 1e-6) per channel (unbiased std), so the first batch comes out
    /// normalised. Writes into the parameters in place; no gradient flows through it.
    static func initializeActNorm(_ x: Tensor, loc: Tensor, scale: Tensor) {
        let (n, c) = (x.shape[0], x.shape[1])
        let plane = x.count / max(n * c, 1)
        let count = Double(n * plane)
        for ch in 0..<c {
            var sum = 0.0
            for b in 0..<n { for i in 0..<plane { sum += Double(x.data[(b * c + ch) * plane + i]) } }
            let mean = sum / count
            var squares = 0.0
            for b in 0..<n {
                for i in 0..<plane {
                    let d = Double(x.data[(b * c + ch) * plane + i]) - mean
                    squares += d * d
                }
            }
            let std = count > 1 ? (squares / (count - 1)).squareRoot() : 0
            loc.data[ch] = Float(-mean)
            scale.data[ch] = Float(1 / (std + 1e-6))
        }
    }

    /// BatchNorm2d over x [N, C, H, W] with eps 1e-5 and momentum 0.1.
    static func batchNorm(_ x: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor,
                          training: Bool) -> Tensor {
        let c = x.shape[1]
        let eps: Float = 1e-5
        let w = weight.reshaped([1, c, 1, 1]), b = bias.reshaped([1, c, 1, 1])
        if !training {
            // A per-channel affine map: (x − mean) / √(var + eps) · w + b.
            let inverse = Tensor(shape: [1, c, 1, 1], data: runningVar.data.map { 1 / ($0 + eps).squareRoot() })
            let mean = Tensor(shape: [1, c, 1, 1], data: runningMean.data)
            return (x - mean) * (w * inverse) + b
        }
        let mean = x.mean(axes: [0, 2, 3], keepDims: true)
        let centred = x - mean
        let variance = centred.pow(2).mean(axes: [0, 2, 3], keepDims: true)
        let y = centred / (variance + eps).sqrt() * w + b
        let count = Float(x.count / c)
        let unbiased = count > 1 ? count / (count - 1) : 1
        for i in 0..<c {
            runningMean.data[i] = 0.9 * runningMean.data[i] + 0.1 * mean.data[i]
            runningVar.data[i] = 0.9 * runningVar.data[i] + 0.1 * variance.data[i] * unbiased
        }
        return y
    }
}
