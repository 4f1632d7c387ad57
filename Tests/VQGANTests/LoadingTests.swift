// Strict loading (missing, extra and mis-shaped keys are errors naming the key; loss.* skipped
// unless the discriminator is requested), the full f16_16384 key layout, and the JSON config.

import Checkpoints
import Foundation
import Testing
import TestSupport
import Layers
import Tensors
@testable import VQGAN

@Suite struct LoadingTests {
    func tinySource() throws -> WeightSource { try Fixture.weights("tiny_weights.safetensors") }

    func loadError(_ source: WeightSource, withDiscriminator: Bool = false,
                   config: VQGANConfig = ParityCase.tiny.config) -> String? {
        do {
            _ = try VQModel(config: config, weights: WeightLoader(source: source), withDiscriminator: withDiscriminator)
            return nil
        } catch {
            return String(describing: error)
        }
    }

    /// A `<tag>_keys.json` fixture (the script's list of a public model's state-dict keys) as its
    /// JSON header, the (name, shape) list, and a source of zero tensors with exactly those keys.
    func keyListSource(_ tag: String) throws -> ([String: Any], [(String, [Int])], WeightSource) {
        let data = try Data(contentsOf: Fixture.url("\(tag)_keys.json"))
        let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let keys = (json["keys"] as! [[String: Any]]).map { ($0["name"] as! String, $0["shape"] as! [Int]) }
        var entries: [String: WeightSource.Entry] = [:]
        for (name, shape) in keys {
            entries[name] = .init(shape: shape, values: { [Float](repeating: 0, count: shape.reduce(1, *)) })
        }
        return (json, keys, WeightSource(file: tag, entries: entries))
    }

    @Test func missingKeyIsAnErrorNamingIt() throws {
        var source = try tinySource()
        source.entries["decoder.up.1.attn.0.k.weight"] = nil
        let message = try #require(loadError(source))
        #expect(message.contains("missing tensor 'decoder.up.1.attn.0.k.weight'"), "\(message)")
        #expect(message.hasPrefix("tiny_weights.safetensors") || message.contains("tiny_weights.safetensors"))
        #expect(!message.contains("\n"))
    }

    @Test func extraKeyIsAnErrorNamingIt() throws {
        var source = try tinySource()
        // The tiny decoder has two blocks per level, so attn.0 and attn.1 exist but attn.2 does not.
        source.entries["decoder.up.1.attn.2.k.weight"] = .init(shape: [32, 32, 1, 1], values: { [] })
        let message = try #require(loadError(source))
        #expect(message.contains("unexpected tensor 'decoder.up.1.attn.2.k.weight'"), "\(message)")
    }

    @Test func misShapedKeyIsAnErrorNamingItAndBothShapes() throws {
        var source = try tinySource()
        source.entries["encoder.conv_in.weight"] = .init(shape: [32, 3, 3, 2], values: { [Float](repeating: 0, count: 576) })
        let message = try #require(loadError(source))
        #expect(message.contains("tensor 'encoder.conv_in.weight' has shape [32, 3, 3, 2], expected [32, 3, 3, 3]"), "\(message)")
    }

    @Test func lossKeysAreSkippedUnlessTheDiscriminatorIsRequested() throws {
        var source = try tinySource()
        source.entries["loss.perceptual_loss.lin0.model.1.weight"] = .init(shape: [1, 64, 1, 1], values: { [] })
        source.entries["loss.discriminator.main.0.weight"] = .init(shape: [8, 3, 4, 4],
                                                                   values: { [Float](repeating: 0, count: 384) })
        #expect(loadError(source) == nil)
        var config = ParityCase.tiny.config
        config.discriminator = DiscriminatorConfig(ndf: 8, nLayers: 2)
        let message = try #require(loadError(source, withDiscriminator: true, config: config))
        #expect(message.contains("missing tensor 'loss.discriminator.main.0.bias'"), "\(message)")
        // Without a discriminator in the config, asking for one is an error too.
        #expect(loadError(source, withDiscriminator: true)?.contains("discriminator was requested") == true)
    }

    @Test func prefixedCheckpointLoadsUnderItsPrefix() throws {
        let plain = try SafeTensors.read(contentsOf: Fixture.url("tiny_weights.safetensors"))
        let net2net = StateDict(tensors: plain.names.map { plain.tensors[$0]!.renamed("first_stage_model." + $0) }
                                    + [plain.tensors[plain.names[0]]!.renamed("transformer.tok_emb.weight")],
                                format: .safetensors, source: "net2net.ckpt")
        let model = try VQModel(config: ParityCase.tiny.config,
                                weights: WeightLoader(source: WeightSource(stateDict: net2net.strippingPrefix("first_stage_model."))))
        #expect(model.parameters.count == plain.names.count)
    }

    /// The f16_16384 model built from its config expects exactly the checkpoint's key set and
    /// shapes (Appendix A: 392 keys, of which LPIPS' loss.perceptual_loss.* are not used).
    @Test func f16_16384ExpectsExactlyTheCheckpointKeys() throws {
        let (json, keys, source) = try keyListSource("f16_16384")
        #expect(keys.count == 392)
        let config = VQGANConfig.f16_16384
        #expect(config.ddconfig.ch == (json["ddconfig"] as! [String: Any])["ch"] as? Int)

        let model = try VQModel(config: config, weights: WeightLoader(source: source), withDiscriminator: true)
        let buffers = keys.filter { $0.0.hasSuffix("running_mean") || $0.0.hasSuffix("running_var")
            || $0.0.hasSuffix("num_batches_tracked") }
        let perceptual = keys.filter { $0.0.hasPrefix("loss.perceptual_loss.") }
        #expect(buffers.count == 6)
        let expected = Set(keys.map(\.0)).subtracting(buffers.map(\.0)).subtracting(perceptual.map(\.0))
        #expect(Set(model.parameters.map(\.name)) == expected)
        #expect(model.parameters.count == expected.count)
        #expect(model.discriminator?.layers.count == 4)

        // Without the discriminator every loss.* key is skipped.
        let generator = try VQModel(config: config, weights: WeightLoader(source: source))
        #expect(Set(generator.parameters.map(\.name)) == expected.filter { !$0.hasPrefix("loss.") })

        // Removing any one key the model needs fails naming it (spot checks across the layout).
        for name in ["encoder.down.4.attn.1.proj_out.bias", "decoder.up.3.block.0.nin_shortcut.weight",
                     "decoder.up.4.attn.2.norm.weight", "quantize.embedding.weight",
                     "loss.discriminator.main.6.running_var"] {
            var broken = source
            broken.entries[name] = nil
            let message = try #require(loadError(broken, withDiscriminator: true, config: config))
            #expect(message.contains("missing tensor '\(name)'"), "\(message)")
        }
    }

    /// The gumbel f8 model (GumbelVQ): quantize.proj + quantize.embed, no loss tensors (301 keys).
    @Test func gumbelF8ExpectsExactlyTheCheckpointKeys() throws {
        let (json, keys, source) = try keyListSource("gumbel_f8_8192")
        #expect(keys.count == 301)
        #expect((json["ddconfig"] as! [String: Any])["ch_mult"] as? [Int] == [1, 1, 2, 4])
        let model = try VQModel(config: .gumbelF8_8192, weights: WeightLoader(source: source))
        #expect(Set(model.parameters.map(\.name)) == Set(keys.map(\.0)))
        #expect(model.quantizer.count == 8192)
        #expect(model.gumbelProjection?.weight.shape == [8192, 256, 1, 1])
        #expect(model.config.ddconfig.downsamplingFactor == 8)
    }

    @Test func jsonConfigRoundTripsAndAcceptsTamingFields() throws {
        // The fixture metadata holds taming's field names, including `dropout`, which is ignored.
        let json = try SafeTensorsMetadata.config("tiny_weights.safetensors")
        let config = try VQGANConfig(json: Data(json.utf8))
        #expect(config == ParityCase.tiny.config)
        let again = try VQGANConfig(json: try VQGANConfig.f16_16384.jsonData())
        #expect(again == VQGANConfig.f16_16384)
        let text = String(decoding: try VQGANConfig.f16_16384.jsonData(), as: UTF8.self)
        #expect(text.contains("\"ch_mult\""))
        #expect(text.contains("\"n_embed\" : 16384"))
    }

    /// Small models normalise with fewer than taming's 32 groups: `norm_groups` in the JSON config
    /// (32 when absent, so taming configs are unchanged) reaches every Normalize layer.
    @Test func normGroupsAreReadWrittenAndUsed() throws {
        let taming = try VQGANConfig(json: try VQGANConfig.f16_1024.jsonData())
        #expect(taming.ddconfig.normGroups == 32)
        let legacy = #"{"embed_dim": 4, "n_embed": 8, "ddconfig": {"ch": 32, "ch_mult": [1], "num_res_blocks": 1, "attn_resolutions": [], "z_channels": 4, "resolution": 16}}"#
        #expect(try VQGANConfig(json: Data(legacy.utf8)).ddconfig.normGroups == 32)
        var small = VQGANConfig(embedDim: 4, nEmbed: 8,
                                ddconfig: DDConfig(ch: 24, chMult: [1, 2], numResBlocks: 1, attnResolutions: [],
                                                   zChannels: 4, resolution: 16, normGroups: 8))
        try small.validate(file: "small.json")
        let text = String(decoding: try small.jsonData(), as: UTF8.self)
        #expect(text.contains("\"norm_groups\" : 8"))
        #expect(try VQGANConfig(json: try small.jsonData()) == small)
        let model = try VQModel(config: small, weights: WeightLoader(randomSeed: 1))
        #expect(model.encoder.normOut.groups == 8 && model.decoder.levels[0].blocks[0].norm1.groups == 8)
        let x = Tensor.randn([1, 24, 4, 4], seed: 2)
        let norm = model.decoder.normOut
        #expect(norm(x).data == Tensor.groupNorm(x, groups: 8, weight: norm.weight, bias: norm.bias, eps: 1e-6).data)
        small.ddconfig.normGroups = 16
        #expect { try small.validate(file: "small.json") } throws: {
            String(describing: $0) == "small.json: ddconfig ch 24 × ch_mult 1 is not a multiple of GroupNorm's 16 groups"
        }
    }

    @Test func invalidConfigsAreRejected() throws {
        var config = ParityCase.tiny.config
        config.ddconfig.ch = 24
        #expect(throws: VQGANError.self) { try config.validate(file: "bad.json") }
        #expect { try VQGANConfig(json: Data("{\"embed_dim\": 4}".utf8), file: "bad.json") } throws: {
            let text = String(describing: $0)
            return text == "bad.json: not a VQGAN JSON config: missing n_embed"
        }
        let noChMult = #"{"embed_dim": 4, "n_embed": 8, "ddconfig": {"ch": 32, "num_res_blocks": 1, "attn_resolutions": [], "z_channels": 4, "resolution": 16}}"#
        #expect { try VQGANConfig(json: Data(noChMult.utf8), file: "bad.json") } throws: {
            String(describing: $0) == "bad.json: not a VQGAN JSON config: missing ddconfig.ch_mult"
        }
        #expect { try VQGANConfig(json: Data("{".utf8), file: "bad.json") } throws: {
            String(describing: $0) == "bad.json: not a VQGAN JSON config: invalid JSON"
        }
    }
}

/// The `config` entry of a fixture's safetensors metadata.
enum SafeTensorsMetadata {
    static func config(_ name: String) throws -> String {
        let data = try Data(contentsOf: Fixture.url(name))
        let length = data.prefix(8).withUnsafeBytes { Int($0.loadUnaligned(as: UInt64.self)) }
        let header = try JSONSerialization.jsonObject(with: data[8..<(8 + length)]) as! [String: Any]
        return (header["__metadata__"] as! [String: String])["config"]!
    }
}

/// The real-format Lightning `.ckpt` + taming `model.yaml` pair written by the fixture script
/// (tiny config, same weights as tiny_weights.safetensors, plus loss.* tensors).
@Suite struct CheckpointPairTests {
    @Test func lightningCheckpointAndYamlLoadAndDecode() throws {
        let model = try VQModel.load(checkpoint: Fixture.url("tiny.ckpt"), config: Fixture.url("tiny.yaml"))
        #expect(model.config.ddconfig == ParityCase.tiny.config.ddconfig)
        #expect(model.config.nEmbed == 16 && model.config.embedDim == 4)
        #expect(model.discriminator == nil)
        let io = try Fixture.read("tiny_io.safetensors")
        let (decoded, indices) = Autograd.withoutGrad { () -> (Tensor, [Int]) in
            let q = model.quantize(model.encode(Fixture.tensor(io, "x")))
            return (model.decode(q.quantized), q.indices)
        }
        #expect(indices == io["indices"]!.values.map { Int($0) })
        let err = assertParity(decoded, Fixture.tensor(io, "decoded"), tolerance: 1e-4, "ckpt decode(encode(x))")
        print("VQGAN parity tiny.ckpt encode+quantize+decode: \(err)")
    }

    @Test func lightningCheckpointLoadsTheDiscriminatorWhenAsked() throws {
        let model = try VQModel.load(checkpoint: Fixture.url("tiny.ckpt"), config: Fixture.url("tiny.yaml"),
                                     withDiscriminator: true, requiresGrad: true)
        let disc = try #require(model.discriminator)
        #expect(disc.config == DiscriminatorConfig(inChannels: 3, ndf: 8, nLayers: 2, useActNorm: false))
        #expect(disc.layers.count == 4)
        #expect(model.parameters.allSatisfy { $0.tensor.requiresGrad })
        let out = disc(Tensor.randn([1, 3, 16, 16], seed: 1))
        #expect(out.shape == [1, 1, 2, 2])
    }

    @Test func savedModelLoadsBackWithItsDiscriminator() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vqgan-save-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let original = try VQModel.load(checkpoint: Fixture.url("tiny.ckpt"), config: Fixture.url("tiny.yaml"),
                                        withDiscriminator: true)
        #expect(original.buffers.count == 6)  // 2 BatchNorms × (running_mean, running_var, num_batches_tracked)
        let weightsURL = dir.appendingPathComponent("tiny.safetensors"), configURL = dir.appendingPathComponent("tiny.json")
        try original.save(weights: weightsURL, config: configURL)
        let copy = try VQModel.load(checkpoint: weightsURL, config: configURL, withDiscriminator: true)
        #expect(copy.config == original.config)
        #expect(copy.parameters.map(\.name) == original.parameters.map(\.name))
        for (a, b) in zip(copy.parameters + copy.buffers, original.parameters + original.buffers) {
            #expect(a.tensor.data == b.tensor.data, "\(a.name)")
        }
    }

    @Test func safetensorsWithJsonConfigLoads() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vqgan-json-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let configURL = dir.appendingPathComponent("model.json")
        try ParityCase.tiny.config.jsonData().write(to: configURL)
        let model = try VQModel.load(checkpoint: Fixture.url("tiny_weights.safetensors"), config: configURL)
        #expect(model.parameters.count == 151)
        // A config that disagrees with the weights names the offending key.
        var wrong = ParityCase.tiny.config
        wrong.nEmbed = 32
        try wrong.jsonData().write(to: configURL)
        #expect {
            _ = try VQModel.load(checkpoint: Fixture.url("tiny_weights.safetensors"), config: configURL)
        } throws: { String(describing: $0).contains("tensor 'quantize.embedding.weight' has shape [16, 4], expected [32, 4]") }
    }
}
