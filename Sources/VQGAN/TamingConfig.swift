// taming-transformers first-stage configuration: the hyperparameters of the VQGAN that go with
// a checkpoint, read from its `model.yaml` or reconstructed from tensor shapes. Plain VQModel / GumbelVQ configs keep them at `model.params`; Net2Net transformer
// configs nest the VQGAN at `model.params.first_stage_config.params`, and their state dicts
// prefix its weights with `first_stage_model.`.

import Checkpoints
import Foundation

/// Encoder/decoder layout: taming's `ddconfig` block, shared by its Encoder and Decoder. Level i
/// has `ch * chMult[i]` channels; `attnResolutions` lists the feature-map sizes (relative to
/// `resolution`) after whose blocks an AttnBlock follows; `doubleZ` (KL autoencoders) must be
/// false; `dropout` only matters in training and is ignored here.
public struct DDConfig: Sendable, Codable, Equatable {
    public var doubleZ: Bool
    public var zChannels: Int
    public var resolution: Int
    public var inChannels: Int
    public var outCh: Int
    public var ch: Int
    public var chMult: [Int]
    public var numResBlocks: Int
    public var attnResolutions: [Int]
    public var dropout: Double
    /// GroupNorm groups in every `Normalize` layer. taming fixes 32; vqclip's small models use
    /// fewer so that narrow layers (16 or 24 channels) can be normalised. Not part of taming's
    /// yaml, so taming checkpoints always get 32.
    public var normGroups: Int

    public init(doubleZ: Bool, zChannels: Int, resolution: Int, inChannels: Int, outCh: Int, ch: Int,
                chMult: [Int], numResBlocks: Int, attnResolutions: [Int], dropout: Double, normGroups: Int = 32) {
        self.normGroups = normGroups
        self.doubleZ = doubleZ
        self.zChannels = zChannels
        self.resolution = resolution
        self.inChannels = inChannels
        self.outCh = outCh
        self.ch = ch
        self.chMult = chMult
        self.numResBlocks = numResBlocks
        self.attnResolutions = attnResolutions
        self.dropout = dropout
    }

    /// Spatial downsampling factor of the encoder, 2^(levels − 1) (16 for the f16 models).
    public var downsamplingFactor: Int { 1 << (chMult.count - 1) }
}

/// The `lossconfig.params.disc_*` entries that are present (only needed for training).
public struct TamingLossConfig: Sendable, Codable, Equatable {
    public var target: String?
    public var discStart: Int?
    public var discWeight: Double?
    public var discNumLayers: Int?
    public var discInChannels: Int?
    public var discConditional: Bool?
    public var codebookWeight: Double?

    public init(target: String? = nil, discStart: Int? = nil, discWeight: Double? = nil, discNumLayers: Int? = nil,
                discInChannels: Int? = nil, discConditional: Bool? = nil, codebookWeight: Double? = nil) {
        self.target = target
        self.discStart = discStart
        self.discWeight = discWeight
        self.discNumLayers = discNumLayers
        self.discInChannels = discInChannels
        self.discConditional = discConditional
        self.codebookWeight = codebookWeight
    }
}

/// A taming-transformers first-stage model configuration.
public struct TamingConfig: Sendable, Codable, Equatable {
    /// `model.target` of the first stage, e.g. `taming.models.vqgan.VQModel`.
    public var target: String?
    public var embedDim: Int
    public var nEmbed: Int
    public var ddconfig: DDConfig
    public var loss: TamingLossConfig?
    /// Prefix of the first stage's tensors in the checkpoint: "" or "first_stage_model.".
    public var stateDictPrefix: String

    public init(target: String?, embedDim: Int, nEmbed: Int, ddconfig: DDConfig,
                loss: TamingLossConfig? = nil, stateDictPrefix: String = "") {
        self.target = target
        self.embedDim = embedDim
        self.nEmbed = nEmbed
        self.ddconfig = ddconfig
        self.loss = loss
        self.stateDictPrefix = stateDictPrefix
    }

    /// True for `GumbelVQ` (codebook at `quantize.embed.weight`, logits from `quantize.proj`).
    public var isGumbel: Bool { target?.hasSuffix("GumbelVQ") ?? false }

    /// One line, e.g. "VQModel f16: embed_dim 256, n_embed 16384, ch 128, ch_mult [1, 1, 2, 2, 4], …".
    public var summary: String {
        let kind = target.map { String($0.split(separator: ".").last ?? "") } ?? "first stage"
        let dd = ddconfig
        return "\(kind) f\(dd.downsamplingFactor): embed_dim \(embedDim), n_embed \(nEmbed), ch \(dd.ch), "
            + "ch_mult \(dd.chMult), num_res_blocks \(dd.numResBlocks), attn_resolutions \(dd.attnResolutions), "
            + "z_channels \(dd.zChannels), resolution \(dd.resolution)"
            + (stateDictPrefix.isEmpty ? "" : ", weights under \(stateDictPrefix)")
    }
}

extension TamingConfig {
    /// Reconstructs the first-stage configuration from tensor shapes, for checkpoints that come
    /// without their `model.yaml`. `resolution` only places attention (taming computes
    /// `attn_resolutions` against it), so the default of the released models, 256, is assumed.
    /// Exact when the encoder is present; for a decoder-only file `ch_mult[0]` is taken as 1.
    public static func inferred(from sd: StateDict, resolution: Int = 256) throws -> TamingConfig {
        let prefix = ["", "first_stage_model."].first { sd[$0 + "decoder.conv_in.weight"] != nil }
        guard let prefix else {
            throw CheckpointError(file: sd.source, message: "not a taming VQGAN: no decoder.conv_in.weight")
        }
        func shape(_ name: String) throws -> [Int] {
            guard let tensor = sd[prefix + name] else {
                throw CheckpointError(file: sd.source, message: "cannot infer the VQGAN config: missing tensor '\(prefix + name)'")
            }
            return tensor.shape
        }
        func numbered(_ under: String) -> [Int] { sd.indices(under: prefix + under).sorted() }
        let gumbel = sd[prefix + "quantize.embed.weight"] != nil
        let codebook = try shape(gumbel ? "quantize.embed.weight" : "quantize.embedding.weight")
        let decoderIn = try shape("decoder.conv_in.weight")
        let decoderOut = try shape("decoder.conv_out.weight")
        guard codebook.count == 2, decoderIn.count == 4, decoderOut.count == 4 else {
            throw CheckpointError(file: sd.source, message: "cannot infer the VQGAN config: unexpected codebook or decoder conv shapes")
        }
        let hasEncoder = sd[prefix + "encoder.conv_in.weight"] != nil
        let ch = hasEncoder ? try shape("encoder.conv_in.weight")[0] : decoderOut[1]
        let levels = numbered("decoder.up.")
        guard !levels.isEmpty, levels == Array(0 ..< levels.count), ch > 0 else {
            throw CheckpointError(file: sd.source, message: "cannot infer the VQGAN config: decoder levels \(levels)")
        }
        let chMult = try levels.map { level -> Int in
            let width = try shape("decoder.up.\(level).block.0.conv2.weight")[0]
            guard width % ch == 0 else {
                throw CheckpointError(file: sd.source, message: "cannot infer the VQGAN config: level \(level) width \(width) is not a multiple of ch \(ch)")
            }
            return width / ch
        }
        let attnResolutions = levels.filter { !numbered("decoder.up.\($0).attn.").isEmpty }.map { resolution >> $0 }
        let zChannels = decoderIn[1]
        let encoderOut = hasEncoder ? try shape("encoder.conv_out.weight")[0] : zChannels
        let ddconfig = DDConfig(
            doubleZ: encoderOut == 2 * zChannels, zChannels: zChannels, resolution: resolution,
            inChannels: hasEncoder ? try shape("encoder.conv_in.weight")[1] : 3, outCh: decoderOut[0], ch: ch,
            chMult: chMult, numResBlocks: max(numbered("decoder.up.0.block.").count - 1, 1),
            attnResolutions: attnResolutions.sorted(), dropout: 0)
        return TamingConfig(target: gumbel ? "taming.models.vqgan.GumbelVQ" : "taming.models.vqgan.VQModel",
                            embedDim: codebook[1], nEmbed: codebook[0], ddconfig: ddconfig, loss: nil,
                            stateDictPrefix: prefix)
    }
}

extension TamingConfig {
    /// Reads and validates a `model.yaml`.
    public static func load(contentsOf url: URL) throws -> TamingConfig {
        try parse(YAMLNode.load(contentsOf: url))
    }

    /// Parses YAML text; `file` names the source in errors.
    public static func parse(yaml text: String, file: String) throws -> TamingConfig {
        try parse(YAMLNode.parse(text, file: file))
    }

    /// Plain VQModel / GumbelVQ configs keep the first stage at `model.params`; Net2Net
    /// transformer configs nest it at `model.params.first_stage_config.params`.
    private static func parse(_ root: YAMLNode) throws -> TamingConfig {
        guard let model = root["model"] else { throw root.error("no 'model' section in config") }
        var target = model["target"]?.string
        var params = try model.require("params")
        var prefix = ""
        if let firstStage = params["first_stage_config"] {
            target = firstStage["target"]?.string
            params = try firstStage.require("params")
            prefix = "first_stage_model."
        }
        let embedDim = try params.positive("embed_dim")
        let nEmbed = try params.positive("n_embed")
        let dd = try params.require("ddconfig")
        let ddconfig = DDConfig(
            doubleZ: try dd.bool("double_z") ?? true,
            zChannels: try dd.positive("z_channels"),
            resolution: try dd.positive("resolution"),
            inChannels: try dd.positive("in_channels"),
            outCh: try dd.positive("out_ch"),
            ch: try dd.positive("ch"),
            chMult: try dd.positiveList("ch_mult", allowEmpty: false),
            numResBlocks: try dd.positive("num_res_blocks"),
            attnResolutions: try dd.positiveList("attn_resolutions", allowEmpty: true),
            dropout: try dd.number("dropout") ?? 0)
        guard ddconfig.chMult.count <= 16 else { throw dd.error("\(dd.path).ch_mult has \(ddconfig.chMult.count) levels") }

        var loss: TamingLossConfig?
        if let lossNode = params["lossconfig"] {
            let lp = lossNode["params"]
            loss = TamingLossConfig(
                target: lossNode["target"]?.string,
                discStart: try lp?.integer("disc_start"),
                discWeight: try lp?.number("disc_weight"),
                discNumLayers: try lp?.integer("disc_num_layers"),
                discInChannels: try lp?.integer("disc_in_channels"),
                discConditional: try lp?.bool("disc_conditional"),
                codebookWeight: try lp?.number("codebook_weight"))
        }
        return TamingConfig(target: target, embedDim: embedDim, nEmbed: nEmbed, ddconfig: ddconfig,
                            loss: loss, stateDictPrefix: prefix)
    }
}
