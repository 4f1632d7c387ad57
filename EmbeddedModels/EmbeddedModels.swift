// The embedded default: the small VQGAN and CLIP trained by vqclip on ShapeWorld (see MODELS.md),
// shipped as package resources so that `vqclip render` works on a fresh clone with no download.

import Foundation

public enum EmbeddedModels {
    /// The name recorded for them in every render's metadata (and accepted by --replay).
    public static let name = "embedded"

    /// The VQGAN folder (model.safetensors + config.json).
    public static var vqgan: URL? { folder("vqgan", holding: "config.json") }

    /// The CLIP folder (model.safetensors, OpenAI names; the bundled BPE vocabulary).
    public static var clip: URL? { folder("clip", holding: "model.safetensors") }

    private static func folder(_ name: String, holding file: String) -> URL? {
        guard let url = Bundle.module.url(forResource: name, withExtension: nil),
              FileManager.default.fileExists(atPath: url.appendingPathComponent(file).path) else { return nil }
        return url
    }
}
