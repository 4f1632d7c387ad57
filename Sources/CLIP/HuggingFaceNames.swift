// Hugging Face `transformers` CLIPModel names → OpenAI's, the names the CLIP module is built
// under: the one place that knows the Hugging Face layout.

import Foundation
import Layers

/// Hugging Face `transformers` CLIPModel names ↔ OpenAI names.
enum HuggingFaceNames {
    typealias Entry = WeightSource.Entry

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
    /// into in_proj. Values stay lazy: they are converted when the loader asks for the key. An HF
    /// name outside the table is an error naming it.
    static func toOpenAI(_ hf: [String: Entry], source: String) throws -> [String: Entry] {
        var out: [String: Entry] = [:]
        var parts: [String: [Int: (hfName: String, entry: Entry)]] = [:]
        for (name, t) in hf {
            if let entry = topLevel.first(where: { $0.hf == name }) {
                out[entry.openAI] = entry.transposed ? try transposed(t, name: name, source: source) : t
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
            var stacked: [Entry] = []
            for p in 0..<3 {
                guard let piece = pieces[p] else {
                    let some = pieces.values.first!.hfName
                    let missing = some.replacingOccurrences(of: #"[qkv]_proj"#, with: names[p], options: .regularExpression)
                    throw CLIPError("\(source): missing tensor '\(missing)'")
                }
                if let first = stacked.first, first.shape != piece.entry.shape {
                    throw CLIPError("\(source): tensor '\(piece.hfName)' has shape \(piece.entry.shape), expected \(first.shape)")
                }
                stacked.append(piece.entry)
            }
            var fused = stacked[0].shape
            fused[0] *= 3
            out[target] = Entry(shape: fused, values: { try stacked.flatMap { try $0.values() } })
        }
        return out
    }

    /// The inverse renaming (OpenAI → HF), used to write and test Hugging Face layouts.
    static func fromOpenAI(_ openAI: [String: Entry], source: String) throws -> [String: Entry] {
        var out: [String: Entry] = [:]
        for (name, t) in openAI {
            if let entry = topLevel.first(where: { $0.openAI == name }) {
                out[entry.hf] = entry.transposed ? try transposed(t, name: name, source: source) : t
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
                    var shape = t.shape
                    shape[0] /= 3
                    out[hfName] = Entry(shape: shape, values: {
                        let all = try t.values()
                        let n = all.count / 3
                        return Array(all[(part * n)..<((part + 1) * n)])
                    })
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

    /// The matrix entry transposed (HF's Linear [out, in] against OpenAI's [in, out] parameters).
    private static func transposed(_ t: Entry, name: String, source: String) throws -> Entry {
        guard t.shape.count == 2 else { throw CLIPError("\(source): tensor '\(name)' has shape \(t.shape), expected a matrix") }
        let r = t.shape[0], c = t.shape[1]
        return Entry(shape: [c, r], values: {
            let values = try t.values()
            var out = [Float](repeating: 0, count: r * c)
            for i in 0..<r { for j in 0..<c { out[j * r + i] = values[i * c + j] } }
            return out
        })
    }
}
