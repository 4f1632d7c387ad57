// `vqclip inspect`'s question to the VQGAN module: is this state dict a taming first stage?

import Checkpoints
import Foundation
import Testing
import TestSupport
import VQGAN

@Suite struct RecognitionTests {
    @Test func recognizesTamingLayouts() throws {
        var taming: [(String, [Int])] = [("encoder.conv_in.weight", [1, 3, 3, 3]), ("decoder.conv_in.weight", [2, 256, 3, 3]),
                                         ("quantize.embedding.weight", [16384, 1])]
        taming += (0 ..< 5).map { ("decoder.up.\($0).block.0.conv1.bias", [1]) }
        #expect(VQModel.recognize(try syntheticStateDict(taming))?.model == "taming VQGAN f16, n_embed 16384, z_channels 256")

        var gumbel: [(String, [Int])] = [("decoder.conv_in.weight", [2, 256, 3, 3]), ("quantize.embed.weight", [8192, 1]),
                                         ("quantize.proj.weight", [1, 1, 1, 1])]
        gumbel += (0 ..< 4).map { ("decoder.up.\($0).block.0.conv1.bias", [1]) }
        #expect(VQModel.recognize(try syntheticStateDict(gumbel))?.model == "taming GumbelVQ f8, n_embed 8192, z_channels 256 (decoder only)")

        let net2net = try syntheticStateDict(taming.map { ("first_stage_model." + $0.0, $0.1) } + [("transformer.tok_emb.weight", [1])])
        #expect(VQModel.recognize(net2net)?.model == "taming Net2Net transformer; first stage: taming VQGAN f16, n_embed 16384, z_channels 256")
        #expect(VQModel.recognize(try syntheticStateDict([("token_embedding.weight", [1])])) == nil)
    }

    @Test func recognizesTheTinyCheckpointWithItsConfiguration() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("CheckpointsTests/Fixtures/vqgan_tiny.ckpt")
        let recognition = try #require(VQModel.recognize(try loadStateDict(contentsOf: url)))
        #expect(recognition.model == "taming VQGAN f2, n_embed 16, z_channels 4")
        #expect(recognition.configuration?.hasPrefix("VQModel f2: embed_dim 4, n_embed 16, ch 4, ch_mult [1, 2]") == true)
    }
}
