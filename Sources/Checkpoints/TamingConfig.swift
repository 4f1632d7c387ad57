// taming-transformers `model.yaml`: the hyperparameters of the first-stage VQGAN that go with
// a checkpoint. Plain VQModel / GumbelVQ configs keep them at `model.params`; Net2Net
// transformer configs nest the VQGAN at `model.params.first_stage_config.params`, and their
// state dicts prefix its weights with `first_stage_model.`.

import Foundation
import Yams

/// The `ddconfig` block shared by taming's Encoder and Decoder.
public struct TamingDDConfig: Sendable, Codable, Equatable {
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

    public init(doubleZ: Bool, zChannels: Int, resolution: Int, inChannels: Int, outCh: Int, ch: Int,
                chMult: [Int], numResBlocks: Int, attnResolutions: [Int], dropout: Double) {
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
}

/// A taming-transformers first-stage model configuration.
public struct TamingConfig: Sendable, Codable, Equatable {
    /// `model.target` of the first stage, e.g. `taming.models.vqgan.VQModel`.
    public var target: String?
    public var embedDim: Int
    public var nEmbed: Int
    public var ddconfig: TamingDDConfig
    public var loss: TamingLossConfig?
    /// Prefix of the first stage's tensors in the checkpoint: "" or "first_stage_model.".
    public var stateDictPrefix: String

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

    /// Reads and validates a `model.yaml`.
    public static func load(contentsOf url: URL) throws -> TamingConfig {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw CheckpointError(file: url.path, message: "cannot read config: \(error.localizedDescription)")
        }
        return try parse(yaml: text, file: url.path)
    }

    /// Parses YAML text; `file` names the source in errors.
    public static func parse(yaml text: String, file: String) throws -> TamingConfig {
        // The YAML composer recurses per nesting level: refuse inputs that could exhaust the stack.
        guard text.utf8.count <= 4 << 20 else { throw CheckpointError(file: file, message: "config larger than 4 MB") }
        guard flowDepth(text) <= 64 else { throw CheckpointError(file: file, message: "YAML nested deeper than 64 levels") }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            let line = "\(error)".split(separator: "\n").joined(separator: " ")
            throw CheckpointError(file: file, message: "invalid YAML: \(line)")
        }
        return try naming(file) {
            guard let model = root?["model"] else { throw FormatError("no 'model' section in config") }
            var target = model["target"]?.string
            var params = try require(model["params"], "model.params")
            var path = "model.params"
            var prefix = ""
            if let firstStage = params["first_stage_config"] {
                target = firstStage["target"]?.string
                params = try require(firstStage["params"], "model.params.first_stage_config.params")
                path = "model.params.first_stage_config.params"
                prefix = "first_stage_model."
            }
            let embedDim = try positive(params, "embed_dim", path)
            let nEmbed = try positive(params, "n_embed", path)
            let dd = try require(params["ddconfig"], "\(path).ddconfig")
            let ddPath = "\(path).ddconfig"
            let ddconfig = TamingDDConfig(
                doubleZ: try bool(dd, "double_z", ddPath, default: true),
                zChannels: try positive(dd, "z_channels", ddPath),
                resolution: try positive(dd, "resolution", ddPath),
                inChannels: try positive(dd, "in_channels", ddPath),
                outCh: try positive(dd, "out_ch", ddPath),
                ch: try positive(dd, "ch", ddPath),
                chMult: try positiveList(dd, "ch_mult", ddPath, allowEmpty: false),
                numResBlocks: try positive(dd, "num_res_blocks", ddPath),
                attnResolutions: try positiveList(dd, "attn_resolutions", ddPath, allowEmpty: true),
                dropout: try number(dd, "dropout", ddPath) ?? 0)
            guard ddconfig.chMult.count <= 16 else { throw FormatError("\(ddPath).ch_mult has \(ddconfig.chMult.count) levels") }

            var loss: TamingLossConfig?
            if let lossNode = params["lossconfig"] {
                let lp = lossNode["params"]
                let lossPath = "\(path).lossconfig.params"
                loss = TamingLossConfig(
                    target: lossNode["target"]?.string,
                    discStart: try lp.flatMap { try integer($0, "disc_start", lossPath) },
                    discWeight: try lp.flatMap { try number($0, "disc_weight", lossPath) },
                    discNumLayers: try lp.flatMap { try integer($0, "disc_num_layers", lossPath) },
                    discInChannels: try lp.flatMap { try integer($0, "disc_in_channels", lossPath) },
                    discConditional: try lp.flatMap { $0["disc_conditional"] == nil ? nil : try bool($0, "disc_conditional", lossPath, default: false) },
                    codebookWeight: try lp.flatMap { try number($0, "codebook_weight", lossPath) })
            }
            return TamingConfig(target: target, embedDim: embedDim, nEmbed: nEmbed, ddconfig: ddconfig,
                                loss: loss, stateDictPrefix: prefix)
        }
    }

    /// Deepest nesting of flow collections (`[`, `{`) outside quoted scalars. Block nesting
    /// needs one more indentation column per level, so the size limit already bounds it.
    static func flowDepth(_ text: String) -> Int {
        var depth = 0, deepest = 0
        var quote: UInt8?
        for byte in text.utf8 {
            if let q = quote {
                if byte == q { quote = nil }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "'"): quote = byte
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                deepest = max(deepest, depth)
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth = max(depth - 1, 0)
            case UInt8(ascii: "\n"): quote = nil
            default: break
            }
        }
        return deepest
    }

    private static func require(_ node: Node?, _ path: String) throws -> Node {
        guard let node else { throw FormatError("\(path) missing from config") }
        return node
    }

    private static func integer(_ node: Node, _ key: String, _ path: String) throws -> Int? {
        guard let value = node[key] else { return nil }
        guard let int = value.int else { throw FormatError("\(path).\(key) is not an integer") }
        return int
    }

    private static func positive(_ node: Node, _ key: String, _ path: String) throws -> Int {
        guard let value = try integer(node, key, path) else { throw FormatError("\(path).\(key) missing from config") }
        guard value > 0, value <= 1 << 24 else { throw FormatError("\(path).\(key) = \(value) is out of range") }
        return value
    }

    private static func number(_ node: Node, _ key: String, _ path: String) throws -> Double? {
        guard let value = node[key] else { return nil }
        guard let number = value.float ?? value.int.map(Double.init), number.isFinite else {
            throw FormatError("\(path).\(key) is not a number")
        }
        return number
    }

    private static func bool(_ node: Node, _ key: String, _ path: String, default fallback: Bool) throws -> Bool {
        guard let value = node[key] else { return fallback }
        guard let bool = value.bool else { throw FormatError("\(path).\(key) is not a boolean") }
        return bool
    }

    private static func positiveList(_ node: Node, _ key: String, _ path: String, allowEmpty: Bool) throws -> [Int] {
        guard let value = node[key] else { throw FormatError("\(path).\(key) missing from config") }
        guard let sequence = value.sequence, sequence.count <= 64 else { throw FormatError("\(path).\(key) is not a list") }
        let items = try sequence.map { item -> Int in
            guard let int = item.int, int > 0, int <= 1 << 24 else { throw FormatError("\(path).\(key) holds \(item.string ?? "a non-integer")") }
            return int
        }
        guard allowEmpty || !items.isEmpty else { throw FormatError("\(path).\(key) is empty") }
        return items
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
        func indices(_ under: String) -> [Int] {
            var found = Set<Int>()
            for name in sd.names where name.hasPrefix(prefix + under) {
                let rest = name.dropFirst(prefix.count + under.count)
                if let dot = rest.firstIndex(of: "."), let i = Int(rest[..<dot]) { found.insert(i) }
            }
            return found.sorted()
        }
        let gumbel = sd[prefix + "quantize.embed.weight"] != nil
        let codebook = try shape(gumbel ? "quantize.embed.weight" : "quantize.embedding.weight")
        let decoderIn = try shape("decoder.conv_in.weight")
        let decoderOut = try shape("decoder.conv_out.weight")
        guard codebook.count == 2, decoderIn.count == 4, decoderOut.count == 4 else {
            throw CheckpointError(file: sd.source, message: "cannot infer the VQGAN config: unexpected codebook or decoder conv shapes")
        }
        let hasEncoder = sd[prefix + "encoder.conv_in.weight"] != nil
        let ch = hasEncoder ? try shape("encoder.conv_in.weight")[0] : decoderOut[1]
        let levels = indices("decoder.up.")
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
        let attnResolutions = levels.filter { !indices("decoder.up.\($0).attn.").isEmpty }.map { resolution >> $0 }
        let zChannels = decoderIn[1]
        let encoderOut = hasEncoder ? try shape("encoder.conv_out.weight")[0] : zChannels
        let ddconfig = TamingDDConfig(
            doubleZ: encoderOut == 2 * zChannels, zChannels: zChannels, resolution: resolution,
            inChannels: hasEncoder ? try shape("encoder.conv_in.weight")[1] : 3, outCh: decoderOut[0], ch: ch,
            chMult: chMult, numResBlocks: max(indices("decoder.up.0.block.").count - 1, 1),
            attnResolutions: attnResolutions.sorted(), dropout: 0)
        return TamingConfig(target: gumbel ? "taming.models.vqgan.GumbelVQ" : "taming.models.vqgan.VQModel",
                            embedDim: codebook[1], nEmbed: codebook[0], ddconfig: ddconfig, loss: nil,
                            stateDictPrefix: prefix)
    }
}
