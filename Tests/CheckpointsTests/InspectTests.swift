import Foundation
import Testing
@testable import Checkpoints

/// Writes zero tensors with the given shapes to a safetensors file and loads it back.
func syntheticStateDict(_ shapes: [(String, [Int])]) throws -> StateDict {
    let url = try temporaryDirectory().appendingPathComponent("synthetic.safetensors")
    try SafeTensors.write(shapes.map { ($0.0, $0.1, [Float](repeating: 0, count: $0.1.reduce(1, *))) }, metadata: [:], to: url)
    return try SafeTensors.read(contentsOf: url)
}

/// The OpenAI CLIP ViT key layout with tiny widths but the given geometry.
func clipViTShapes(width: Int, patch: Int, grid: Int, layers: Int, prefixBlocks: String = "visual.transformer.resblocks.") -> [(String, [Int])] {
    var shapes: [(String, [Int])] = [
        ("token_embedding.weight", [10, 4]), ("visual.proj", [width, 4]),
        ("visual.conv1.weight", [width, 3, patch, patch]), ("visual.positional_embedding", [grid * grid + 1, 1]),
    ]
    for i in 0 ..< layers { shapes.append(("\(prefixBlocks)\(i).attn.in_proj_bias", [1])) }
    return shapes
}

@Suite struct InspectTests {
    @Test func recognizesFixtures() throws {
        let vq = describe(try loadStateDict(contentsOf: fixture("vqgan_tiny.ckpt")))
        #expect(vq.model == "taming VQGAN f2, n_embed 16, z_channels 4")
        #expect(vq.formatDescription == "PyTorch zip (torch.save), Lightning checkpoint (pytorch-lightning 1.0.8, epoch 7, global_step 1234)")
        let expected = try SafeTensors.read(contentsOf: fixture("vqgan_tiny_expected.safetensors"))
        #expect(vq.parameterCount == expected.parameterCount)
        #expect(!vq.text().contains("metadata:"))
        #expect(vq.tamingConfig?.nEmbed == 16)
        #expect(vq.text().contains("config (from shapes, resolution assumed): VQModel f2: embed_dim 4, n_embed 16, ch 4, ch_mult [1, 2]"))
        #expect(vq.tensors.first == .init(name: "encoder.conv_in.weight", dtype: "float32", shape: [4, 3, 3, 3]))

        let clip = describe(try loadStateDict(contentsOf: fixture("clip_tiny.pt")))
        #expect(clip.model == "OpenAI CLIP ViT (width 64, patch 4, resolution 8, 1 layer)")
        #expect(clip.format == "torchScript")
        let text = clip.text()
        #expect(text.contains("visual.conv1.weight"))
        #expect(text.contains("float16  [64, 3, 4, 4]"))
        #expect(text.contains("format: TorchScript archive (torch.jit.save)"))

        let json = clip.json()
        let decoded = try JSONDecoder().decode(InspectReport.self, from: Data(json.utf8))
        #expect(decoded.tensors == clip.tensors && decoded.model == clip.model)

        #expect(describe(try loadStateDict(contentsOf: fixture("views.pt"))).model == nil)
    }

    @Test func recognizesReleasedGeometries() throws {
        let b32 = try syntheticStateDict(clipViTShapes(width: 768, patch: 32, grid: 7, layers: 12))
        #expect(recognizeModel(b32) == "OpenAI CLIP ViT-B/32")
        let b16 = try syntheticStateDict(clipViTShapes(width: 768, patch: 16, grid: 14, layers: 12))
        #expect(recognizeModel(b16) == "OpenAI CLIP ViT-B/16")
        let l14 = try syntheticStateDict(clipViTShapes(width: 1024, patch: 14, grid: 16, layers: 24))
        #expect(recognizeModel(l14) == "OpenAI CLIP ViT-L/14")

        let hf = try syntheticStateDict([
            ("text_model.embeddings.token_embedding.weight", [10, 4]),
            ("vision_model.embeddings.patch_embedding.weight", [768, 3, 32, 32]),
            ("vision_model.embeddings.position_embedding.weight", [50, 1]),
        ] + (0 ..< 12).map { ("vision_model.encoder.layers.\($0).layer_norm1.bias", [1]) })
        #expect(recognizeModel(hf) == "Hugging Face CLIP ViT-B/32")

        var taming: [(String, [Int])] = [("encoder.conv_in.weight", [1, 3, 3, 3]), ("decoder.conv_in.weight", [2, 256, 3, 3]),
                                         ("quantize.embedding.weight", [16384, 1])]
        taming += (0 ..< 5).map { ("decoder.up.\($0).block.0.conv1.bias", [1]) }
        #expect(recognizeModel(try syntheticStateDict(taming)) == "taming VQGAN f16, n_embed 16384, z_channels 256")

        var gumbel: [(String, [Int])] = [("decoder.conv_in.weight", [2, 256, 3, 3]), ("quantize.embed.weight", [8192, 1]),
                                         ("quantize.proj.weight", [1, 1, 1, 1])]
        gumbel += (0 ..< 4).map { ("decoder.up.\($0).block.0.conv1.bias", [1]) }
        #expect(recognizeModel(try syntheticStateDict(gumbel)) == "taming GumbelVQ f8, n_embed 8192, z_channels 256 (decoder only)")

        let net2net = try syntheticStateDict(taming.map { ("first_stage_model." + $0.0, $0.1) } + [("transformer.tok_emb.weight", [1])])
        #expect(recognizeModel(net2net) == "taming Net2Net transformer; first stage: taming VQGAN f16, n_embed 16384, z_channels 256")
    }

    @Test func textListsEveryTensorAndGroupsDigits() throws {
        let sd = try syntheticStateDict([("a", [1000, 1000]), ("bb.weight", [3])])
        let text = describe(sd).text()
        #expect(text.contains("tensors: 2, parameters: 1,000,003"))
        #expect(text.contains("  a          float32  [1000, 1000]"))
        #expect(text.contains("  bb.weight  float32  [3]"))
        #expect(groupedDigits(0) == "0" && groupedDigits(999) == "999" && groupedDigits(1234) == "1,234")
    }
}
