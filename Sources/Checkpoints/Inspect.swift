// `vqclip inspect`: what a checkpoint contains and which known model it is, recognised from
// tensor names and shapes alone (taming VQGAN / GumbelVQ / Net2Net first stages, OpenAI CLIP
// ViT and ResNet archives, Hugging Face CLIP).

import Foundation

/// A description of one checkpoint: format, tensors, parameter count and the recognised model.
public struct InspectReport: Sendable, Codable {
    /// One tensor's name, dtype and shape.
    public struct Entry: Sendable, Codable, Equatable {
        public var name: String
        public var dtype: String
        public var shape: [Int]
    }

    public var file: String
    /// Format identifier (``CheckpointFormat`` raw value).
    public var format: String
    /// Human-readable container description, e.g. "PyTorch zip (torch.save), Lightning checkpoint".
    public var formatDescription: String
    /// The recognised model, e.g. "taming VQGAN f16, n_embed 16384", or nil.
    public var model: String?
    /// Total number of elements over all tensors.
    public var parameterCount: Int
    public var tensors: [Entry]
    public var metadata: [String: String]
    /// For a taming VQGAN, its configuration as reconstructed from the tensor shapes.
    public var tamingConfig: TamingConfig?

    /// Multi-line text: a summary followed by one aligned line per tensor.
    public func text() -> String {
        var lines = ["file: \(file)", "format: \(formatDescription)", "model: \(model ?? "not recognized")",
                     "tensors: \(tensors.count), parameters: \(groupedDigits(parameterCount))"]
        if let config = tamingConfig { lines.append("config (from shapes, resolution assumed): \(config.summary)") }
        // Lightning facts already appear in the format line.
        let hidden: Set<String> = metadata["lightning"] == "true"
            ? ["lightning", "state_dict_key", "epoch", "global_step", "pytorch-lightning_version"]
            : ["state_dict_key"]
        let shown = metadata.filter { !hidden.contains($0.key) }
        if !shown.isEmpty {
            lines.append("metadata: " + shown.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))
        }
        let nameWidth = min(tensors.map(\.name.count).max() ?? 0, 72)
        let dtypeWidth = tensors.map(\.dtype.count).max() ?? 0
        for entry in tensors {
            let name = entry.name.padding(toLength: max(nameWidth, entry.name.count), withPad: " ", startingAt: 0)
            let dtype = entry.dtype.padding(toLength: dtypeWidth, withPad: " ", startingAt: 0)
            lines.append("  \(name)  \(dtype)  [\(entry.shape.map(String.init).joined(separator: ", "))]")
        }
        return lines.joined(separator: "\n")
    }

    /// Pretty-printed JSON with sorted keys.
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Describes a loaded state dict for `vqclip inspect`.
public func describe(_ sd: StateDict) -> InspectReport {
    var formatDescription = sd.format.displayName
    if sd.metadata["lightning"] == "true" {
        var facts: [String] = []
        if let version = sd.metadata["pytorch-lightning_version"] { facts.append("pytorch-lightning \(version)") }
        if let epoch = sd.metadata["epoch"] { facts.append("epoch \(epoch)") }
        if let step = sd.metadata["global_step"] { facts.append("global_step \(step)") }
        formatDescription += ", Lightning checkpoint" + (facts.isEmpty ? "" : " (\(facts.joined(separator: ", ")))")
    }
    let taming = recognizeTaming(sd)
    return InspectReport(
        file: sd.source, format: sd.format.rawValue, formatDescription: formatDescription,
        model: taming ?? recognizeCLIP(sd), parameterCount: sd.parameterCount,
        tensors: sd.names.compactMap { name in sd[name].map { .init(name: name, dtype: $0.dtype.rawValue, shape: $0.shape) } },
        metadata: sd.metadata,
        tamingConfig: taming == nil ? nil : try? TamingConfig.inferred(from: sd))
}

/// Names the model a state dict holds, from its key layout and shapes, or nil.
public func recognizeModel(_ sd: StateDict) -> String? {
    recognizeTaming(sd) ?? recognizeCLIP(sd)
}

private func recognizeCLIP(_ sd: StateDict) -> String? {
    recognizeOpenAICLIP(sd) ?? recognizeHuggingFaceCLIP(sd)
}

/// Distinct integers `i` of keys `prefix + "{i}." + …`.
func indices(_ sd: StateDict, under prefix: String) -> Set<Int> {
    var found = Set<Int>()
    for name in sd.names where name.hasPrefix(prefix) {
        let rest = name.dropFirst(prefix.count)
        if let dot = rest.firstIndex(of: "."), let i = Int(rest[..<dot]) { found.insert(i) }
    }
    return found
}

private func recognizeTaming(_ sd: StateDict) -> String? {
    for prefix in ["", "first_stage_model."] {
        guard let decoderIn = sd[prefix + "decoder.conv_in.weight"] else { continue }
        let levels = indices(sd, under: prefix + "decoder.up.").count
        let factor = levels > 0 ? 1 << (levels - 1) : 0
        var description: String
        if let codebook = sd[prefix + "quantize.embed.weight"], sd[prefix + "quantize.proj.weight"] != nil {
            description = "taming GumbelVQ f\(factor), n_embed \(codebook.shape.first ?? 0)"
        } else if let codebook = sd[prefix + "quantize.embedding.weight"] {
            description = "taming VQGAN f\(factor), n_embed \(codebook.shape.first ?? 0)"
        } else {
            continue
        }
        if let width = decoderIn.shape.dropFirst().first { description += ", z_channels \(width)" }
        if sd[prefix + "encoder.conv_in.weight"] == nil { description += " (decoder only)" }
        if !prefix.isEmpty { description = "taming Net2Net transformer; first stage: " + description }
        return description
    }
    return nil
}

private func recognizeOpenAICLIP(_ sd: StateDict) -> String? {
    guard sd["token_embedding.weight"] != nil, sd["visual.proj"] != nil || sd["visual.attnpool.c_proj.weight"] != nil else { return nil }
    if let conv = sd["visual.conv1.weight"], conv.shape.count == 4, let positions = sd["visual.positional_embedding"] {
        let layers = indices(sd, under: "visual.transformer.resblocks.").count
        return "OpenAI CLIP " + vitName(conv: conv, positions: positions, layers: layers)
    }
    // ModifiedResNet: visual.layer{1..4}.{i} blocks.
    let blocks = (1 ... 4).map { indices(sd, under: "visual.layer\($0).").count }
    let known: [[Int]: String] = [[3, 4, 6, 3]: "RN50", [3, 4, 23, 3]: "RN101", [4, 6, 10, 6]: "RN50x4",
                                  [6, 8, 18, 8]: "RN50x16", [3, 15, 36, 10]: "RN50x64"]
    return "OpenAI CLIP " + (known[blocks] ?? "ResNet (blocks \(blocks.map(String.init).joined(separator: "-")))")
}

/// The ViT variant from the patch convolution [width, 3, patch, patch] and the position table
/// [1 + grid², width], whose grid gives the input resolution.
private func vitName(conv: StoredTensor, positions: StoredTensor, layers: Int) -> String {
    let width = conv.shape[0]
    let patch = conv.shape[3]
    let tokens = positions.shape.first ?? 1
    let resolution = patch * Int(Double(max(tokens - 1, 0)).squareRoot().rounded())
    switch (width, patch, resolution, layers) {
    case (768, 32, 224, 12): return "ViT-B/32"
    case (768, 16, 224, 12): return "ViT-B/16"
    case (1024, 14, 224, 24): return "ViT-L/14"
    case (1024, 14, 336, 24): return "ViT-L/14@336px"
    default: return "ViT (width \(width), patch \(patch), resolution \(resolution), \(layers) layer\(layers == 1 ? "" : "s"))"
    }
}

private func recognizeHuggingFaceCLIP(_ sd: StateDict) -> String? {
    let p = sd["vision_model.embeddings.patch_embedding.weight"] != nil ? "" : "clip."
    guard let conv = sd[p + "vision_model.embeddings.patch_embedding.weight"], conv.shape.count == 4,
          sd[p + "text_model.embeddings.token_embedding.weight"] != nil,
          let positions = sd[p + "vision_model.embeddings.position_embedding.weight"] else { return nil }
    let layers = indices(sd, under: p + "vision_model.encoder.layers.").count
    return "Hugging Face CLIP " + vitName(conv: conv, positions: positions, layers: layers)
}

/// 91234567 → "91,234,567".
func groupedDigits(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return value < 0 ? "-" + out : out
}
