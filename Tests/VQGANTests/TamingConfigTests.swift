// taming's model.yaml (plain, Gumbel and Net2Net layouts, errors by path) and the configuration
// reconstructed from a checkpoint's shapes, on the Checkpoints module's taming fixtures.

import Checkpoints
import Foundation
import Testing
@testable import VQGAN

/// A fixture of the Checkpoints tests (scripts/make_checkpoint_fixtures.py), by path.
private func fixture(_ name: String) -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("CheckpointsTests/Fixtures").appendingPathComponent(name)
}

@Suite struct TamingConfigTests {
    @Test func readsFixtureConfig() throws {
        let config = try TamingConfig.load(contentsOf: fixture("vqgan_tiny.yaml"))
        #expect(config.target == "taming.models.vqgan.VQModel")
        #expect(config.embedDim == 4 && config.nEmbed == 16)
        #expect(config.ddconfig == DDConfig(doubleZ: false, zChannels: 4, resolution: 16, inChannels: 3, outCh: 3,
                                                  ch: 4, chMult: [1, 2], numResBlocks: 1, attnResolutions: [8], dropout: 0))
        #expect(config.ddconfig.downsamplingFactor == 2)
        #expect(config.loss?.discStart == 0)
        #expect(config.loss?.discWeight == 0.75)
        #expect(config.loss?.discNumLayers == 1)
        #expect(config.loss?.discConditional == false)
        #expect(config.loss?.codebookWeight == 1.0)
        #expect(config.stateDictPrefix == "" && !config.isGumbel)
    }

    /// The released f16_16384 config layout (reconstructed in the architecture notes).
    @Test func readsF16Layout() throws {
        let yaml = """
        model:
          base_learning_rate: 4.5e-06
          target: taming.models.vqgan.VQModel
          params:
            embed_dim: 256
            n_embed: 16384
            monitor: val/rec_loss
            ddconfig:
              double_z: false
              z_channels: 256
              resolution: 256
              in_channels: 3
              out_ch: 3
              ch: 128
              ch_mult: [1, 1, 2, 2, 4]
              num_res_blocks: 2
              attn_resolutions: [16]
              dropout: 0.0
            lossconfig:
              target: taming.modules.losses.vqperceptual.VQLPIPSWithDiscriminator
              params:
                disc_conditional: false
                disc_in_channels: 3
                disc_start: 0
                disc_weight: 0.75
                disc_num_layers: 2
                codebook_weight: 1.0
        """
        let config = try TamingConfig.parse(yaml: yaml, file: "model.yaml")
        #expect(config.nEmbed == 16384 && config.ddconfig.downsamplingFactor == 16)
        #expect(config.ddconfig.chMult == [1, 1, 2, 2, 4] && config.ddconfig.attnResolutions == [16])
        #expect(config.loss?.discNumLayers == 2)
    }

    @Test func readsGumbelAndNet2NetLayouts() throws {
        let gumbel = """
        model:
          target: taming.models.vqgan.GumbelVQ
          params:
            kl_weight: 1.0e-08
            embed_dim: 256
            n_embed: 8192
            ddconfig: {double_z: false, z_channels: 256, resolution: 256, in_channels: 3, out_ch: 3, ch: 128,
                       ch_mult: [1, 1, 2, 4], num_res_blocks: 2, attn_resolutions: [32], dropout: 0.0}
            lossconfig:
              target: taming.modules.losses.vqperceptual.DummyLoss
        """
        let g = try TamingConfig.parse(yaml: gumbel, file: "gumbel.yaml")
        #expect(g.isGumbel && g.ddconfig.downsamplingFactor == 8 && g.loss?.discStart == nil)

        let net2net = """
        model:
          target: taming.models.cond_transformer.Net2NetTransformer
          params:
            first_stage_config:
              target: taming.models.vqgan.VQModel
              params:
                embed_dim: 256
                n_embed: 1024
                ddconfig: {double_z: false, z_channels: 256, resolution: 256, in_channels: 3, out_ch: 3, ch: 128,
                           ch_mult: [1, 1, 2, 2, 4], num_res_blocks: 2, attn_resolutions: [16], dropout: 0.0}
        """
        let n = try TamingConfig.parse(yaml: net2net, file: "faceshq.yaml")
        #expect(n.stateDictPrefix == "first_stage_model." && n.nEmbed == 1024 && n.target == "taming.models.vqgan.VQModel")
    }

    @Test func reportsMissingAndInvalidKeysByPath() throws {
        let cases: [(String, String)] = [
            ("foo: 1", "no 'model' section"),
            ("model: {params: {embed_dim: 4, n_embed: 16}}", "model.params.ddconfig missing"),
            ("model: {params: {embed_dim: 4, n_embed: 16, ddconfig: {z_channels: 4}}}", "model.params.ddconfig.resolution missing"),
            ("model: {params: {embed_dim: x, n_embed: 16, ddconfig: {}}}", "embed_dim is not an integer"),
            ("model: {params: {embed_dim: 4, n_embed: -1, ddconfig: {}}}", ""),
            ("model: [unclosed", "invalid YAML"),
            ("model: " + String(repeating: "[", count: 100_000), "nested"),
        ]
        for (yaml, fragment) in cases {
            do {
                _ = try TamingConfig.parse(yaml: yaml, file: "bad.yaml")
                Issue.record("expected an error for \(yaml)")
            } catch let error as CheckpointError {
                #expect(error.description.hasPrefix("bad.yaml: "))
                #expect(!error.description.contains("\n"))
                if !fragment.isEmpty { #expect(error.description.contains(fragment), "\(error)") }
            }
        }
        let url = fixture("vqgan_tiny.yaml").deletingLastPathComponent().appendingPathComponent("absent.yaml")
        #expect {
            _ = try TamingConfig.load(contentsOf: url)
        } throws: { ($0 as? CheckpointError)?.description.hasPrefix(url.path + ": cannot read config") == true }
    }
}

@Suite struct TamingInferenceTests {
    @Test func inferenceFromShapesMatchesTheYAML() throws {
        let sd = try loadStateDict(contentsOf: fixture("vqgan_tiny.ckpt"))
        let yaml = try TamingConfig.load(contentsOf: fixture("vqgan_tiny.yaml"))
        let inferred = try TamingConfig.inferred(from: sd, resolution: 16)
        #expect(inferred.ddconfig == yaml.ddconfig)
        #expect(inferred.embedDim == yaml.embedDim && inferred.nEmbed == yaml.nEmbed)
        #expect(inferred.target == yaml.target && inferred.stateDictPrefix == "")

        // Decoder only, under the Net2Net prefix.
        let decoderOnly = StateDict(
            tensors: sd.names.filter { !$0.hasPrefix("encoder.") }.compactMap { sd[$0]?.renamed("first_stage_model." + $0) },
            format: sd.format, source: sd.source)
        let partial = try TamingConfig.inferred(from: decoderOnly, resolution: 16)
        #expect(partial.ddconfig == yaml.ddconfig)
        #expect(partial.stateDictPrefix == "first_stage_model.")
    }

    @Test func inferenceNamesWhatIsMissing() throws {
        let sd = try loadStateDict(contentsOf: fixture("clip_tiny.pt"))
        #expect(throws: CheckpointError.self) { _ = try TamingConfig.inferred(from: sd) }
        let full = try loadStateDict(contentsOf: fixture("vqgan_tiny.ckpt"))
        let broken = StateDict(tensors: full.names.filter { $0 != "decoder.conv_out.weight" }.compactMap { full[$0] },
                               format: full.format, source: "x.ckpt")
        do {
            _ = try TamingConfig.inferred(from: broken)
            Issue.record("expected an error")
        } catch let error as CheckpointError {
            #expect(error.description == "x.ckpt: cannot infer the VQGAN config: missing tensor 'decoder.conv_out.weight'")
        }
    }
}
