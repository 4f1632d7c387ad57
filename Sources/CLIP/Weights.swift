// CLIP weights under OpenAI's names (the canonical ones), the model size inferred from their
// shapes as OpenAI's build_model does, and one rename table per foreign format (Hugging Face).
// Loading is strict: a missing, extra or mis-shaped tensor is an error naming the key.

import Checkpoints
import Foundation
import Tensors

/// The size of a ViT CLIP, as inferred from its weights.
public struct CLIPConfiguration: Equatable, Sendable, CustomStringConvertible {
    /// Width of the joint image/text embedding.
    public var embedDim: Int
    /// Side of the square input image (patch × grid).
    public var imageResolution: Int
    public var visionLayers: Int
    public var visionWidth: Int
    public var patchSize: Int
    public var contextLength: Int
    public var vocabSize: Int
    public var textWidth: Int
    public var textLayers: Int

    /// Heads of 64 channels, as OpenAI's models use.
    public var visionHeads: Int { visionWidth / 64 }
    public var textHeads: Int { textWidth / 64 }
    /// Patches per side.
    public var gridSize: Int { imageResolution / patchSize }
    /// Vision tokens: one per patch plus the class token.
    public var visionTokens: Int { gridSize * gridSize + 1 }

    public init(embedDim: Int, imageResolution: Int, visionLayers: Int, visionWidth: Int, patchSize: Int,
                contextLength: Int, vocabSize: Int, textWidth: Int, textLayers: Int) {
        self.embedDim = embedDim
        self.imageResolution = imageResolution
        self.visionLayers = visionLayers
        self.visionWidth = visionWidth
        self.patchSize = patchSize
        self.contextLength = contextLength
        self.vocabSize = vocabSize
        self.textWidth = textWidth
        self.textLayers = textLayers
    }

    /// ViT-B/32's size.
    public static let vitB32 = CLIPConfiguration(embedDim: 512, imageResolution: 224, visionLayers: 12, visionWidth: 768,
                                                 patchSize: 32, contextLength: 77, vocabSize: 49408,
                                                 textWidth: 512, textLayers: 12)

    public var description: String {
        "ViT \(imageResolution)px/\(patchSize) width \(visionWidth)x\(visionLayers), text width \(textWidth)x\(textLayers), context \(contextLength), vocab \(vocabSize), embed \(embedDim)"
    }

    /// Infers the size from OpenAI-named shapes (clip/model.py build_model).
    init(shapes: [String: [Int]], source: String) throws {
        func shape(_ name: String, rank: Int) throws -> [Int] {
            guard let s = shapes[name] else {
                if shapes["visual.layer1.0.conv1.weight"] != nil {
                    throw CLIPError("\(source): ResNet CLIP models are not supported (only ViT)")
                }
                throw CLIPError("\(source): missing tensor '\(name)'")
            }
            guard s.count == rank else { throw CLIPError("\(source): tensor '\(name)' has shape \(s), expected rank \(rank)") }
            return s
        }
        let conv = try shape("visual.conv1.weight", rank: 4)
        let visionPositions = try shape("visual.positional_embedding", rank: 2)[0]
        let grid = Int((Double(visionPositions - 1)).squareRoot().rounded())
        guard grid > 0 && grid * grid + 1 == visionPositions else {
            throw CLIPError("\(source): visual.positional_embedding has \(visionPositions) rows, not a square grid plus one")
        }
        func layerCount(_ prefix: String) -> Int {
            Set(shapes.keys.compactMap { key -> Int? in
                guard key.hasPrefix(prefix) else { return nil }
                return Int(key.dropFirst(prefix.count).prefix { $0 != "." })
            }).count
        }
        self.init(embedDim: try shape("text_projection", rank: 2)[1],
                  imageResolution: conv[3] * grid,
                  visionLayers: layerCount("visual.transformer.resblocks."),
                  visionWidth: conv[0],
                  patchSize: conv[3],
                  contextLength: try shape("positional_embedding", rank: 2)[0],
                  vocabSize: try shape("token_embedding.weight", rank: 2)[0],
                  textWidth: try shape("ln_final.weight", rank: 1)[0],
                  textLayers: layerCount("transformer.resblocks."))
        guard visionWidth % 64 == 0 && textWidth % 64 == 0 && visionWidth > 0 && textWidth > 0 else {
            throw CLIPError("\(source): widths \(visionWidth)/\(textWidth) are not multiples of the 64-channel heads")
        }
    }

    /// Every tensor a model of this size has, with its shape, in OpenAI's state-dict order.
    public var expectedShapes: [(name: String, shape: [Int])] {
        func block(_ prefix: String, _ d: Int) -> [(String, [Int])] {
            [("attn.in_proj_weight", [3 * d, d]), ("attn.in_proj_bias", [3 * d]),
             ("attn.out_proj.weight", [d, d]), ("attn.out_proj.bias", [d]),
             ("ln_1.weight", [d]), ("ln_1.bias", [d]),
             ("mlp.c_fc.weight", [4 * d, d]), ("mlp.c_fc.bias", [4 * d]),
             ("mlp.c_proj.weight", [d, 4 * d]), ("mlp.c_proj.bias", [d]),
             ("ln_2.weight", [d]), ("ln_2.bias", [d])].map { (prefix + $0.0, $0.1) }
        }
        let v = visionWidth, t = textWidth
        var list: [(String, [Int])] = [
            ("positional_embedding", [contextLength, t]), ("text_projection", [t, embedDim]), ("logit_scale", []),
            ("visual.class_embedding", [v]), ("visual.positional_embedding", [visionTokens, v]),
            ("visual.proj", [v, embedDim]), ("visual.conv1.weight", [v, 3, patchSize, patchSize]),
            ("visual.ln_pre.weight", [v]), ("visual.ln_pre.bias", [v]),
        ]
        for i in 0..<visionLayers { list += block("visual.transformer.resblocks.\(i).", v) }
        list += [("visual.ln_post.weight", [v]), ("visual.ln_post.bias", [v])]
        for i in 0..<textLayers { list += block("transformer.resblocks.\(i).", t) }
        list += [("token_embedding.weight", [vocabSize, t]), ("ln_final.weight", [t]), ("ln_final.bias", [t])]
        return list.map { (name: $0.0, shape: $0.1) }
    }
}

/// A tensor read from a checkpoint: its shape and its values as Float32.
typealias RawTensor = (shape: [Int], values: [Float])

/// CLIP's weights under OpenAI's names, checked against the size inferred from them.
public struct CLIPWeights {
    /// Canonical name → frozen tensor.
    public let tensors: [String: Tensor]
    /// The model size the shapes describe.
    public let configuration: CLIPConfiguration
    /// Where the weights came from (for error messages).
    public let source: String

    /// Builds the weights from a checkpoint's state dict, recognising the naming: OpenAI's
    /// (`visual.transformer.resblocks.0.attn.in_proj_weight`, also in TorchScript archives) or
    /// Hugging Face's (`vision_model.encoder.layers.0.self_attn.q_proj.weight`, renamed and fused).
    public init(stateDict: StateDict) throws {
        let source = (stateDict.source as NSString).lastPathComponent
        var raw: [String: RawTensor] = [:]
        for name in stateDict.names {
            guard let st = stateDict.tensors[name] else { continue }
            if Self.ignoredNames.contains(name) { continue }
            do {
                raw[name] = (st.shape, try st.floats())
            } catch {
                throw CLIPError("\(source): tensor '\(name)' cannot be read as floats (\(error))")
            }
        }
        if raw.keys.contains(where: { $0.hasPrefix("vision_model.") || $0.hasPrefix("text_model.") }) {
            raw = try HuggingFaceNames.toOpenAI(raw, source: source)
        }
        try self.init(openAI: raw, source: source)
    }

    /// Buffers that carry no weights: TorchScript's scalar attributes, Hugging Face's position ids.
    static let ignoredNames: Set<String> = [
        "input_resolution", "context_length", "vocab_size",
        "text_model.embeddings.position_ids", "vision_model.embeddings.position_ids",
    ]

    /// Validates OpenAI-named tensors strictly against the size inferred from them.
    init(openAI raw: [String: RawTensor], source: String) throws {
        let config = try CLIPConfiguration(shapes: raw.mapValues(\.shape), source: source)
        let expected = config.expectedShapes
        var tensors: [String: Tensor] = [:]
        for (name, shape) in expected {
            guard let t = raw[name] else { throw CLIPError("\(source): missing tensor '\(name)'") }
            guard t.shape == shape else {
                throw CLIPError("\(source): tensor '\(name)' has shape \(t.shape), expected \(shape) for \(config)")
            }
            tensors[name] = Tensor(shape: t.shape, data: t.values)
        }
        if raw.count != expected.count {
            let known = Set(expected.map(\.name))
            let extra = raw.keys.filter { !known.contains($0) }.sorted()
            throw CLIPError("\(source): unexpected tensor '\(extra.first ?? "?")'\(extra.count > 1 ? " (and \(extra.count - 1) more)" : "")")
        }
        self.tensors = tensors
        self.configuration = config
        self.source = source
    }

    /// Random weights of a given size (normal, std 0.02; LayerNorm scales 1; logit scale ln 100),
    /// for benchmarks and tests that need the shapes, not trained values.
    public static func random(_ configuration: CLIPConfiguration, seed: UInt64 = 0) -> CLIPWeights {
        var raw: [String: RawTensor] = [:]
        for (i, (name, shape)) in configuration.expectedShapes.enumerated() {
            let values: [Float]
            if name.hasSuffix("ln_1.weight") || name.hasSuffix("ln_2.weight") || name.contains("ln_pre.weight")
                || name.contains("ln_post.weight") || name == "ln_final.weight" {
                values = [Float](repeating: 1, count: shape.reduce(1, *))
            } else if name == "logit_scale" {
                values = [Float(Foundation.log(100.0))]
            } else {
                values = Tensor.randn(shape, std: 0.02, seed: seed &+ UInt64(i)).data
            }
            raw[name] = (shape, values)
        }
        // The shapes come from the configuration itself, so validation cannot fail.
        return try! CLIPWeights(openAI: raw, source: "random")
    }

    /// A tensor by canonical name.
    func tensor(_ name: String) throws -> Tensor {
        guard let t = tensors[name] else { throw CLIPError("\(source): missing tensor '\(name)'") }
        return t
    }
}

/// Hugging Face `transformers` CLIPModel names ↔ OpenAI names.
enum HuggingFaceNames {
    /// Top-level tensors: HF name, OpenAI name, whether the HF matrix is the transpose.
    static let topLevel: [(hf: String, openAI: String, transposed: Bool)] = [
        ("text_model.embeddings.token_embedding.weight", "token_embedding.weight", false),
        ("text_model.embeddings.position_embedding.weight", "positional_embedding", false),
        ("text_model.final_layer_norm.weight", "ln_final.weight", false),
        ("text_model.final_layer_norm.bias", "ln_final.bias", false),
        ("text_projection.weight", "text_projection", true),
        ("vision_model.embeddings.class_embedding", "visual.class_embedding", false),
        ("vision_model.embeddings.patch_embedding.weight", "visual.conv1.weight", false),
        ("vision_model.embeddings.position_embedding.weight", "visual.positional_embedding", false),
        ("vision_model.pre_layrnorm.weight", "visual.ln_pre.weight", false),
        ("vision_model.pre_layrnorm.bias", "visual.ln_pre.bias", false),
        ("vision_model.post_layernorm.weight", "visual.ln_post.weight", false),
        ("vision_model.post_layernorm.bias", "visual.ln_post.bias", false),
        ("visual_projection.weight", "visual.proj", true),
        ("logit_scale", "logit_scale", false),
    ]
    /// Layer prefixes (followed by the layer index and '.').
    static let layerPrefixes: [(hf: String, openAI: String)] = [
        ("vision_model.encoder.layers.", "visual.transformer.resblocks."),
        ("text_model.encoder.layers.", "transformer.resblocks."),
    ]
    /// Per-layer tensors: HF suffix, OpenAI suffix, and for q/k/v the third of in_proj it fills.
    static let layer: [(hf: String, openAI: String, part: Int?)] = [
        ("layer_norm1.weight", "ln_1.weight", nil), ("layer_norm1.bias", "ln_1.bias", nil),
        ("layer_norm2.weight", "ln_2.weight", nil), ("layer_norm2.bias", "ln_2.bias", nil),
        ("self_attn.q_proj.weight", "attn.in_proj_weight", 0), ("self_attn.k_proj.weight", "attn.in_proj_weight", 1),
        ("self_attn.v_proj.weight", "attn.in_proj_weight", 2),
        ("self_attn.q_proj.bias", "attn.in_proj_bias", 0), ("self_attn.k_proj.bias", "attn.in_proj_bias", 1),
        ("self_attn.v_proj.bias", "attn.in_proj_bias", 2),
        ("self_attn.out_proj.weight", "attn.out_proj.weight", nil), ("self_attn.out_proj.bias", "attn.out_proj.bias", nil),
        ("mlp.fc1.weight", "mlp.c_fc.weight", nil), ("mlp.fc1.bias", "mlp.c_fc.bias", nil),
        ("mlp.fc2.weight", "mlp.c_proj.weight", nil), ("mlp.fc2.bias", "mlp.c_proj.bias", nil),
    ]

    /// Renames HF tensors to OpenAI's, transposing the two projections and stacking q, k, v rows
    /// into in_proj. An HF name outside the table is an error naming it.
    static func toOpenAI(_ hf: [String: RawTensor], source: String) throws -> [String: RawTensor] {
        var out: [String: RawTensor] = [:]
        var parts: [String: [Int: (hfName: String, tensor: RawTensor)]] = [:]
        for (name, t) in hf {
            if let entry = topLevel.first(where: { $0.hf == name }) {
                out[entry.openAI] = entry.transposed ? try transpose(t, name: name, source: source) : t
                continue
            }
            guard let (prefix, index, suffix) = splitLayerName(name, hfSide: true),
                  let entry = layer.first(where: { $0.hf == suffix }) else {
                throw CLIPError("\(source): unexpected tensor '\(name)'")
            }
            let target = prefix.openAI + "\(index)." + entry.openAI
            if let part = entry.part {
                parts[target, default: [:]][part] = (name, t)
            } else {
                out[target] = t
            }
        }
        for (target, pieces) in parts {
            let names = ["q_proj", "k_proj", "v_proj"]
            var values: [Float] = []
            var shape: [Int]? = nil
            for p in 0..<3 {
                guard let piece = pieces[p] else {
                    let some = pieces.values.first!.hfName
                    let missing = some.replacingOccurrences(of: #"[qkv]_proj"#, with: names[p], options: .regularExpression)
                    throw CLIPError("\(source): missing tensor '\(missing)'")
                }
                if let shape, shape != piece.tensor.shape {
                    throw CLIPError("\(source): tensor '\(piece.hfName)' has shape \(piece.tensor.shape), expected \(shape)")
                }
                shape = piece.tensor.shape
                values += piece.tensor.values
            }
            var fused = shape!
            fused[0] *= 3
            out[target] = (fused, values)
        }
        return out
    }

    /// The inverse renaming (OpenAI → HF), used to write and test Hugging Face layouts.
    static func fromOpenAI(_ openAI: [String: RawTensor], source: String) throws -> [String: RawTensor] {
        var out: [String: RawTensor] = [:]
        for (name, t) in openAI {
            if let entry = topLevel.first(where: { $0.openAI == name }) {
                out[entry.hf] = entry.transposed ? try transpose(t, name: name, source: source) : t
                continue
            }
            let split = splitLayerName(name, hfSide: false)
            let entries = split.map { s in layer.filter { $0.openAI == s.suffix } } ?? []
            guard let (prefix, index, _) = split, !entries.isEmpty else {
                throw CLIPError("\(source): tensor '\(name)' has no Hugging Face name")
            }
            for entry in entries {
                let hfName = prefix.hf + "\(index)." + entry.hf
                if let part = entry.part {
                    let n = t.values.count / 3
                    var shape = t.shape
                    shape[0] /= 3
                    out[hfName] = (shape, Array(t.values[(part * n)..<((part + 1) * n)]))
                } else {
                    out[hfName] = t
                }
            }
        }
        return out
    }

    /// "<layer prefix><index>.<suffix>" split for the first prefix of the given side that matches.
    private static func splitLayerName(_ name: String, hfSide: Bool)
        -> (prefix: (hf: String, openAI: String), index: Int, suffix: Substring)? {
        guard let prefix = layerPrefixes.first(where: { name.hasPrefix(hfSide ? $0.hf : $0.openAI) }) else { return nil }
        let rest = name.dropFirst((hfSide ? prefix.hf : prefix.openAI).count)
        guard let dot = rest.firstIndex(of: "."), let index = Int(rest[..<dot]) else { return nil }
        return (prefix, index, rest[rest.index(after: dot)...])
    }

    private static func transpose(_ t: RawTensor, name: String, source: String) throws -> RawTensor {
        guard t.shape.count == 2 else { throw CLIPError("\(source): tensor '\(name)' has shape \(t.shape), expected a matrix") }
        let r = t.shape[0], c = t.shape[1]
        var out = [Float](repeating: 0, count: r * c)
        for i in 0..<r { for j in 0..<c { out[j * r + i] = t.values[i * c + j] } }
        return ([c, r], out)
    }
}
