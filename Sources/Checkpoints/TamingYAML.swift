// Reading taming's `model.yaml` with Yams. Kept apart from the configuration types so that the
// fuzz build (scripts/fuzz.sh) can compile the readers without the YAML library.

import Foundation
import Yams

extension TamingConfig {
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
