// The size of a ViT CLIP, inferred from its OpenAI-named weight shapes as OpenAI's build_model
// does.

/// The size of a ViT CLIP, as inferred from its weights.
public struct CLIPConfiguration: Codable, Equatable, Sendable, CustomStringConvertible {
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
    public init(shapes: [String: [Int]], source: String) throws {
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
}
