// `vqclip inspect`'s question to the CLIP module: is this state dict a CLIP, and which one?

import Checkpoints
import Foundation
import Testing
import TestSupport
import CLIP

/// The OpenAI CLIP ViT key layout with tiny widths but the given geometry.
func clipViTShapes(width: Int, patch: Int, grid: Int, layers: Int, prefixBlocks: String = "visual.transformer.resblocks.") -> [(String, [Int])] {
    var shapes: [(String, [Int])] = [
        ("token_embedding.weight", [10, 4]), ("visual.proj", [width, 4]),
        ("visual.conv1.weight", [width, 3, patch, patch]), ("visual.positional_embedding", [grid * grid + 1, 1]),
    ]
    for i in 0 ..< layers { shapes.append(("\(prefixBlocks)\(i).attn.in_proj_bias", [1])) }
    return shapes
}

@Suite struct RecognitionTests {
    func name(_ shapes: [(String, [Int])]) throws -> String? { CLIPModel.recognize(try syntheticStateDict(shapes))?.model }

    @Test func recognizesReleasedGeometries() throws {
        #expect(try name(clipViTShapes(width: 768, patch: 32, grid: 7, layers: 12)) == "OpenAI CLIP ViT-B/32")
        #expect(try name(clipViTShapes(width: 768, patch: 16, grid: 14, layers: 12)) == "OpenAI CLIP ViT-B/16")
        #expect(try name(clipViTShapes(width: 1024, patch: 14, grid: 16, layers: 24)) == "OpenAI CLIP ViT-L/14")
        #expect(try name(clipViTShapes(width: 64, patch: 4, grid: 2, layers: 1)) == "OpenAI CLIP ViT (width 64, patch 4, resolution 8, 1 layer)")

        let hf: [(String, [Int])] = [
            ("text_model.embeddings.token_embedding.weight", [10, 4]),
            ("vision_model.embeddings.patch_embedding.weight", [768, 3, 32, 32]),
            ("vision_model.embeddings.position_embedding.weight", [50, 1]),
        ] + (0 ..< 12).map { ("vision_model.encoder.layers.\($0).layer_norm1.bias", [1]) }
        #expect(try name(hf) == "Hugging Face CLIP ViT-B/32")
        #expect(try name([("decoder.conv_in.weight", [1])]) == nil)
    }

    @Test func recognizesTheFixtures() throws {
        #expect(CLIPModel.recognize(try loadStateDict(contentsOf: fixtureURL("clip-small.pt")))?.model
                == "OpenAI CLIP ViT (width 128, patch 8, resolution 32, 2 layers)")
        #expect(CLIPModel.recognize(try loadStateDict(contentsOf: fixtureURL("hf-clip-small/model.safetensors")))?.model
                == "Hugging Face CLIP ViT (width 128, patch 8, resolution 32, 2 layers)")
    }
}
