// taming's VQModel (and GumbelVQ's layout): encoder → quant_conv → quantize for images to codes,
// post_quant_conv → decoder for codes to images, plus the loss' patch discriminator when asked for.
// Parameters are looked up under the checkpoint's own names (`encoder.down.0.block.1.norm1.weight`).

import Checkpoints
import FilePaths
import Foundation
import Layers
import Tensors
#if canImport(Glibc)
import Glibc
#endif

/// A VQGAN first-stage model.
///
/// Gumbel checkpoints (GumbelVQ) load with their `quantize.proj` and `quantize.embed` tensors;
/// their codebook is then used by nearest-neighbour quantization, as VQGAN+CLIP does. Gumbel-softmax
/// sampling itself is not implemented.
public final class VQModel {
    /// The layout the model was built with.
    public let config: VQGANConfig
    /// `encoder.*`: image → latent.
    public let encoder: Encoder
    /// `decoder.*`: latent → image.
    public let decoder: Decoder
    /// The loss' discriminator (`loss.discriminator.*`), built only when requested.
    public let discriminator: NLayerDiscriminator?
    /// `quantize.*`: the codebook and nearest-entry quantization.
    public let quantizer: VectorQuantizer
    /// GumbelQuantize's logit projection (`quantize.proj`), present for Gumbel checkpoints only.
    public let gumbelProjection: Conv2d?
    /// 1×1 convolution z_channels → embed_dim before quantization.
    public let quantConv: Conv2d
    /// 1×1 convolution embed_dim → z_channels before the decoder.
    public let postQuantConv: Conv2d
    /// Every parameter (not the BatchNorm running statistics) under its checkpoint key.
    public let parameters: [(name: String, tensor: Tensor)]
    /// The discriminator's buffers (BatchNorm running statistics and counters, ActNorm flags).
    public let buffers: [(name: String, tensor: Tensor)]

    /// Builds the model from `weights`, strictly: every tensor the model needs must be present
    /// with its exact shape, and every stored key must be used, except `loss.*` (LPIPS and, unless
    /// `withDiscriminator`, the discriminator), which are skipped.
    public init(config: VQGANConfig, weights: WeightLoader, withDiscriminator: Bool = false) throws {
        try config.validate(file: weights.file)
        self.config = config
        let root = weights.root
        let d = config.ddconfig
        encoder = try Encoder(root.scope("encoder"), config: d)
        decoder = try Decoder(root.scope("decoder"), config: d)
        if withDiscriminator {
            guard let discConfig = config.discriminator else {
                throw VQGANError("\(weights.file): a discriminator was requested but the config has none")
            }
            discriminator = try NLayerDiscriminator(root.scope("loss").scope("discriminator"), config: discConfig)
        } else {
            discriminator = nil
        }
        switch config.quantizer {
        case .vector:
            quantizer = try VectorQuantizer(root.scope("quantize"), nEmbed: config.nEmbed, embedDim: config.embedDim)
            gumbelProjection = nil
        case .gumbel:
            // GumbelQuantize registers proj before embed.
            gumbelProjection = try Conv2d(root.scope("quantize").scope("proj"), in: d.zChannels, out: config.nEmbed,
                                          kernel: 1)
            quantizer = try VectorQuantizer(root.scope("quantize"), name: "embed", nEmbed: config.nEmbed,
                                            embedDim: config.embedDim)
        }
        quantConv = try Conv2d(root.scope("quant_conv"), in: d.zChannels, out: config.embedDim, kernel: 1)
        postQuantConv = try Conv2d(root.scope("post_quant_conv"), in: config.embedDim, out: d.zChannels, kernel: 1)
        try weights.finish(ignoringPrefixes: withDiscriminator ? ["loss.perceptual_loss."] : ["loss."])
        parameters = weights.parameters
        buffers = weights.buffers
    }

    /// Writes the model in vqclip's own format: every parameter and buffer under its checkpoint
    /// key as Float32 safetensors at `weights`, and the config as JSON at `config`. Both files are
    /// replaced atomically. ``load(checkpoint:config:withDiscriminator:requiresGrad:)`` reads them back.
    public func save(weights weightsURL: URL, config configURL: URL) throws {
        let tensors = (parameters + buffers).map { (name: $0.name, shape: $0.tensor.shape, values: $0.tensor.data) }
        try SafeTensors.write(tensors, metadata: ["format": "vqclip-vqgan"], to: weightsURL)
        do { try Files.write(Array(config.jsonData()), to: configURL.path) } catch let error as FileError {
            throw VQGANError("\(configURL.path): cannot write config: \(error.problem)")
        }
    }

    /// Loads a checkpoint (`.ckpt` Lightning/torch file or vqclip's `.safetensors`) with its
    /// config: taming's `model.yaml` (`.yaml`/`.yml`, Net2Net first stages included: their
    /// `first_stage_model.` prefix is applied) or vqclip's JSON config (any other extension).
    /// The discriminator's width, input channels and norm (ActNorm vs BatchNorm) are read from
    /// the checkpoint's `loss.discriminator.main.*` tensors, since taming's yaml usually omits them.
    public static func load(checkpoint: URL, config configURL: URL, withDiscriminator: Bool = false,
                            requiresGrad: Bool = false) throws -> VQModel {
        var config: VQGANConfig
        var prefix = ""
        let ext = configURL.pathExtension.lowercased()
        if ext == "yaml" || ext == "yml" {
            let taming = try TamingConfig.load(contentsOf: configURL)
            config = try VQGANConfig(taming: taming, file: configURL.path)
            prefix = taming.stateDictPrefix
        } else {
            let data: Data
            do { data = Data(try Files.read(configURL.path)) } catch let error as FileError {
                throw VQGANError("\(configURL.path): cannot read config: \(error.problem)")
            }
            config = try VQGANConfig(json: data, file: configURL.path)
        }
        // A Net2Net checkpoint keeps the first stage under `first_stage_model.`.
        let stateDict = try loadStateDict(contentsOf: checkpoint).strippingPrefix(prefix)
        if withDiscriminator, var disc = config.discriminator {
            if let shape = stateDict.tensors["loss.discriminator.main.0.weight"]?.shape, shape.count == 4 {
                disc.ndf = shape[0]
                disc.inChannels = shape[1]
            }
            disc.useActNorm = stateDict.tensors["loss.discriminator.main.3.loc"] != nil
            config.discriminator = disc
        }
        let loader = WeightLoader(source: WeightSource(stateDict: stateDict), requiresGrad: requiresGrad)
        do { return try VQModel(config: config, weights: loader, withDiscriminator: withDiscriminator) } catch let error as WeightError {
            throw VQGANError(error.description)
        }
    }

    /// Image [N, in_channels, H, W] in [−1, 1] → continuous latent [N, embed_dim, H/f, W/f]
    /// (quant_conv(encoder(x)), before quantization).
    public func encode(_ x: Tensor) -> Tensor { quantConv(encoder(x)) }

    /// Nearest-codebook quantization with the straight-through gradient; indices in N·H·W order.
    public func quantize(_ z: Tensor) -> (quantized: Tensor, indices: [Int]) { quantizer(z) }

    /// Quantized latent [N, embed_dim, h, w] → image [N, out_ch, h·f, w·f] (about [−1, 1]).
    public func decode(_ zq: Tensor) -> Tensor { decoder(postQuantConv(zq)) }

    /// Codebook indices (N·H·W order) → image.
    public func decode(indices: [Int], batch: Int, height: Int, width: Int) -> Tensor {
        decode(quantizer.lookup(indices, batch: batch, height: height, width: width))
    }
}
