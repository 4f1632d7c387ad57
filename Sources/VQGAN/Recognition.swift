// Whether a state dict holds a taming first stage (VQModel, GumbelVQ, or one inside a Net2Net
// transformer), from its tensor names and shapes alone; `vqclip inspect` asks this.

import Checkpoints

extension VQModel {
    /// The taming first stage `sd` holds, e.g. "taming VQGAN f16, n_embed 16384, z_channels 256",
    /// with its configuration reconstructed from the shapes; nil for anything else.
    public static func recognize(_ sd: StateDict) -> ModelRecognition? {
        for prefix in ["", "first_stage_model."] {
            guard let decoderIn = sd[prefix + "decoder.conv_in.weight"] else { continue }
            let levels = sd.indices(under: prefix + "decoder.up.").count
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
            let config = try? TamingConfig.inferred(from: sd)
            return ModelRecognition(model: description,
                                    configuration: config.map { "\($0.summary) (from shapes, resolution assumed)" })
        }
        return nil
    }
}
