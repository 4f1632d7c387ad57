// VQGAN hyperparameters: taming-transformers' `ddconfig` plus the quantizer and the optional
// patch discriminator, read from a taming model.yaml or from vqclip's own JSON config.

import Checkpoints
import Foundation

extension DDConfig {
    /// A layout; the optional arguments default to taming's VQGAN values.
    public init(ch: Int, chMult: [Int], numResBlocks: Int, attnResolutions: [Int], zChannels: Int,
                resolution: Int, inChannels: Int = 3, outCh: Int = 3, doubleZ: Bool = false, dropout: Double = 0,
                normGroups: Int = 32) {
        self.init(doubleZ: doubleZ, zChannels: zChannels, resolution: resolution, inChannels: inChannels,
                  outCh: outCh, ch: ch, chMult: chMult, numResBlocks: numResBlocks,
                  attnResolutions: attnResolutions, dropout: dropout, normGroups: normGroups)
    }

    /// The JSON config's ddconfig keys (camelCase; the decoder converts from snake_case).
    fileprivate enum JSONKeys: String, CodingKey {
        case ch, chMult, numResBlocks, attnResolutions, zChannels, resolution, inChannels, outCh, doubleZ, dropout
        case normGroups
    }

    /// Decodes vqclip's JSON ddconfig with taming's defaults for the optional fields (3 channels in
    /// and out, double_z false, dropout 0, 32 norm groups).
    fileprivate init(json c: KeyedDecodingContainer<JSONKeys>) throws {
        self.init(ch: try c.decode(Int.self, forKey: .ch), chMult: try c.decode([Int].self, forKey: .chMult),
                  numResBlocks: try c.decode(Int.self, forKey: .numResBlocks),
                  attnResolutions: try c.decode([Int].self, forKey: .attnResolutions),
                  zChannels: try c.decode(Int.self, forKey: .zChannels),
                  resolution: try c.decode(Int.self, forKey: .resolution),
                  inChannels: try c.decodeIfPresent(Int.self, forKey: .inChannels) ?? 3,
                  outCh: try c.decodeIfPresent(Int.self, forKey: .outCh) ?? 3,
                  doubleZ: try c.decodeIfPresent(Bool.self, forKey: .doubleZ) ?? false,
                  dropout: try c.decodeIfPresent(Double.self, forKey: .dropout) ?? 0,
                  normGroups: try c.decodeIfPresent(Int.self, forKey: .normGroups) ?? 32)
    }
}

/// Which quantizer the checkpoint carries.
public enum QuantizerKind: String, Codable, Sendable {
    /// `VectorQuantizer2`: nearest codebook entry (key `quantize.embedding.weight`).
    case vector
    /// `GumbelQuantize` (taming.models.vqgan.GumbelVQ).
    case gumbel
}

/// NLayerDiscriminator settings (taming's lossconfig `disc_*` parameters).
public struct DiscriminatorConfig: Codable, Equatable, Sendable {
    /// Image channels (`disc_in_channels`).
    public var inChannels: Int
    /// Width of the first convolution (`disc_ndf`); later ones use up to 8× that.
    public var ndf: Int
    /// Stride-2 convolutions (`disc_num_layers`).
    public var nLayers: Int
    /// ActNorm instead of BatchNorm (`use_actnorm`).
    public var useActNorm: Bool

    /// Defaults are taming's (3 channels, ndf 64, 3 layers, BatchNorm).
    public init(inChannels: Int = 3, ndf: Int = 64, nLayers: Int = 3, useActNorm: Bool = false) {
        self.inChannels = inChannels
        self.ndf = ndf
        self.nLayers = nLayers
        self.useActNorm = useActNorm
    }
}

/// Everything needed to build a VQGAN: codebook size, latent width, encoder/decoder layout and
/// (when the checkpoint has one) the discriminator.
public struct VQGANConfig: Codable, Equatable, Sendable {
    /// Codebook vector size (`quant_conv` output channels).
    public var embedDim: Int
    /// Number of codebook entries.
    public var nEmbed: Int
    /// Encoder/decoder layout.
    public var ddconfig: DDConfig
    /// Vector (VQModel) or Gumbel (GumbelVQ) quantizer.
    public var quantizer: QuantizerKind
    /// The loss' discriminator, when the config declares one (`loss.discriminator.*` keys).
    public var discriminator: DiscriminatorConfig?

    /// A config from its parts.
    public init(embedDim: Int, nEmbed: Int, ddconfig: DDConfig, quantizer: QuantizerKind = .vector,
                discriminator: DiscriminatorConfig? = nil) {
        self.embedDim = embedDim
        self.nEmbed = nEmbed
        self.ddconfig = ddconfig
        self.quantizer = quantizer
        self.discriminator = discriminator
    }

    /// Decodes with defaults for the optional fields (vector quantizer, no discriminator).
    public init(from decoder: any Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(embedDim: try c.decode(Int.self, forKey: .embedDim), nEmbed: try c.decode(Int.self, forKey: .nEmbed),
                  ddconfig: try DDConfig(json: c.nestedContainer(keyedBy: DDConfig.JSONKeys.self, forKey: .ddconfig)),
                  quantizer: try c.decodeIfPresent(QuantizerKind.self, forKey: .quantizer) ?? .vector,
                  discriminator: try c.decodeIfPresent(DiscriminatorConfig.self, forKey: .discriminator))
    }

    /// The public `vqgan_imagenet_f16_16384` model.
    public static let f16_16384 = VQGANConfig(
        embedDim: 256, nEmbed: 16384,
        ddconfig: DDConfig(ch: 128, chMult: [1, 1, 2, 2, 4], numResBlocks: 2, attnResolutions: [16],
                           zChannels: 256, resolution: 256),
        discriminator: DiscriminatorConfig(nLayers: 2))

    /// The public `vqgan_imagenet_f16_1024` model.
    public static let f16_1024 = VQGANConfig(
        embedDim: 256, nEmbed: 1024,
        ddconfig: DDConfig(ch: 128, chMult: [1, 1, 2, 2, 4], numResBlocks: 2, attnResolutions: [16],
                           zChannels: 256, resolution: 256),
        discriminator: DiscriminatorConfig(nLayers: 3))

    /// The public `vqgan_gumbel_f8_8192` model (GumbelVQ, no loss tensors in its checkpoint).
    public static let gumbelF8_8192 = VQGANConfig(
        embedDim: 256, nEmbed: 8192,
        ddconfig: DDConfig(ch: 128, chMult: [1, 1, 2, 4], numResBlocks: 2, attnResolutions: [32],
                           zChannels: 256, resolution: 256),
        quantizer: .gumbel)

    /// Reads vqclip's own JSON config: this struct's fields in snake_case (`embed_dim`, `ddconfig.ch_mult`, ...).
    public init(json data: Data, file: String = "config") throws {
        do {
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            self = try decoder.decode(VQGANConfig.self, from: data)
        } catch let error as DecodingError {
            throw VQGANError("\(file): not a VQGAN JSON config: \(Self.explain(error))")
        } catch {
            throw VQGANError("\(file): not a VQGAN JSON config: \(error)")
        }
        try validate(file: file)
    }

    /// A decoding error in the JSON file's own (snake_case) terms, e.g. "missing ddconfig.ch_mult".
    static func explain(_ error: DecodingError) -> String {
        func snake(_ name: String) -> String {
            name.reduce(into: "") { out, ch in
                if ch.isUppercase { out += "_" + ch.lowercased() } else { out.append(ch) }
            }
        }
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? snake($0.stringValue) }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing " + path(context.codingPath + [key])
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(path(context.codingPath)) has the wrong type"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "invalid JSON" : "\(path(context.codingPath)) is invalid"
        @unknown default:
            return "\(error)"
        }
    }

    /// vqclip's own JSON form of this config.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(self)
    }

    /// Converts a parsed taming model.yaml (Checkpoints' ``TamingConfig``). The discriminator is
    /// declared when the loss is a `…WithDiscriminator`; its width (`disc_ndf`, default 64) and norm
    /// are not in the parsed config, so loaders refine them from the checkpoint's tensors (see
    /// ``VQModel/load(checkpoint:config:withDiscriminator:requiresGrad:)``).
    public init(taming t: TamingConfig, file: String = "model.yaml") throws {
        if let target = t.target, !(target.hasSuffix("VQModel") || target.hasSuffix("GumbelVQ")) {
            throw VQGANError("\(file): model.target \(target) is not a taming VQModel or GumbelVQ")
        }
        var discriminator: DiscriminatorConfig?
        if let loss = t.loss, loss.target?.hasSuffix("WithDiscriminator") ?? false {
            discriminator = DiscriminatorConfig(inChannels: loss.discInChannels ?? 3, ndf: 64,
                                                nLayers: loss.discNumLayers ?? 3, useActNorm: false)
        }
        self.init(embedDim: t.embedDim, nEmbed: t.nEmbed, ddconfig: t.ddconfig, quantizer: t.isGumbel ? .gumbel : .vector,
                  discriminator: discriminator)
        try validate(file: file)
    }

    /// Rejects layouts the network code cannot build (every normalised width must be a multiple of
    /// the GroupNorm group count).
    public func validate(file: String) throws {
        let d = ddconfig
        guard d.ch > 0, !d.chMult.isEmpty, d.chMult.allSatisfy({ $0 > 0 }), d.numResBlocks > 0,
              d.zChannels > 0, d.resolution > 0, d.inChannels > 0, d.outCh > 0, embedDim > 0, nEmbed > 0 else {
            throw VQGANError("\(file): VQGAN config has a non-positive size: \(self)")
        }
        guard d.normGroups > 0 else { throw VQGANError("\(file): ddconfig norm_groups must be positive") }
        for m in d.chMult where (d.ch * m) % d.normGroups != 0 {
            throw VQGANError("\(file): ddconfig ch \(d.ch) × ch_mult \(m) is not a multiple of GroupNorm's \(d.normGroups) groups")
        }
        if d.doubleZ { throw VQGANError("\(file): ddconfig double_z true is a KL autoencoder, not a VQGAN") }
        if let disc = discriminator, disc.nLayers < 1 || disc.ndf < 1 || disc.inChannels < 1 {
            throw VQGANError("\(file): discriminator config has a non-positive size: \(disc)")
        }
    }
}

/// A VQGAN construction or loading error: one line naming the file or key and the problem.
public struct VQGANError: Error, CustomStringConvertible, Equatable {
    /// The message: `file: problem`.
    public let description: String
    /// An error with a one-line message (line breaks of wrapped errors become spaces).
    public init(_ description: String) {
        self.description = description.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
