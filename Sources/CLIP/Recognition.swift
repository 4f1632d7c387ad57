// Whether a state dict holds a CLIP (OpenAI ViT or ResNet archives, Hugging Face CLIPModel), and
// which released geometry, from tensor names and shapes alone; `vqclip inspect` asks this.

import Checkpoints

extension CLIPModel {
    /// The CLIP `sd` holds, e.g. "OpenAI CLIP ViT-B/32" or "Hugging Face CLIP ViT-B/32"; nil
    /// for anything else. ResNet variants are named although only ViTs load.
    public static func recognize(_ sd: StateDict) -> ModelRecognition? {
        (recognizeOpenAI(sd) ?? recognizeHuggingFace(sd)).map { ModelRecognition(model: $0) }
    }

    private static func recognizeOpenAI(_ sd: StateDict) -> String? {
        guard sd["token_embedding.weight"] != nil, sd["visual.proj"] != nil || sd["visual.attnpool.c_proj.weight"] != nil else { return nil }
        if let conv = sd["visual.conv1.weight"], conv.shape.count == 4, let positions = sd["visual.positional_embedding"] {
            let layers = sd.indices(under: "visual.transformer.resblocks.").count
            return "OpenAI CLIP " + vitName(conv: conv, positions: positions, layers: layers)
        }
        // ModifiedResNet: visual.layer{1..4}.{i} blocks.
        let blocks = (1 ... 4).map { sd.indices(under: "visual.layer\($0).").count }
        let known: [[Int]: String] = [[3, 4, 6, 3]: "RN50", [3, 4, 23, 3]: "RN101", [4, 6, 10, 6]: "RN50x4",
                                      [6, 8, 18, 8]: "RN50x16", [3, 15, 36, 10]: "RN50x64"]
        return "OpenAI CLIP " + (known[blocks] ?? "ResNet (blocks \(blocks.map(String.init).joined(separator: "-")))")
    }

    private static func recognizeHuggingFace(_ sd: StateDict) -> String? {
        let p = sd["vision_model.embeddings.patch_embedding.weight"] != nil ? "" : "clip."
        guard let conv = sd[p + "vision_model.embeddings.patch_embedding.weight"], conv.shape.count == 4,
              sd[p + "text_model.embeddings.token_embedding.weight"] != nil,
              let positions = sd[p + "vision_model.embeddings.position_embedding.weight"] else { return nil }
        let layers = sd.indices(under: p + "vision_model.encoder.layers.").count
        return "Hugging Face CLIP " + vitName(conv: conv, positions: positions, layers: layers)
    }

    /// The ViT variant from the patch convolution [width, 3, patch, patch] and the position table
    /// [1 + grid², width], whose grid gives the input resolution.
    private static func vitName(conv: StoredTensor, positions: StoredTensor, layers: Int) -> String {
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
}
