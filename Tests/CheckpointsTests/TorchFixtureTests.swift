import Foundation
import Testing
@testable import Checkpoints

/// URL of a committed fixture (written by scripts/make_checkpoint_fixtures.py).
func fixture(_ name: String) -> URL {
    Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent(name)
}

/// Asserts that every tensor of `expected` is in `actual` with the same dtype, shape and
/// bit-identical values (integers compared as Int64).
func expectSameTensors(_ actual: StateDict, _ expected: StateDict, sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(Set(actual.names) == Set(expected.names), sourceLocation: sourceLocation)
    for name in expected.names {
        let want = try expected.tensor(name)
        guard let got = actual[name] else { continue }
        #expect(got.shape == want.shape, "\(name)", sourceLocation: sourceLocation)
        if want.dtype.isInteger {
            #expect(try got.int64s() == want.int64s(), "\(name)", sourceLocation: sourceLocation)
        } else {
            #expect(try got.floats().map(\.bitPattern) == want.floats().map(\.bitPattern), "\(name)", sourceLocation: sourceLocation)
        }
    }
}

@Suite struct TorchFixtureTests {
    @Test func lightningZipCheckpoint() throws {
        let sd = try loadStateDict(contentsOf: fixture("vqgan_tiny.ckpt"))
        #expect(sd.format == .torchZip)
        #expect(sd.metadata["lightning"] == "true")
        #expect(sd.metadata["epoch"] == "7")
        #expect(sd.metadata["global_step"] == "1234")
        #expect(sd.metadata["pytorch-lightning_version"] == "1.0.8")
        #expect(sd.metadata["state_dict_key"] == "state_dict")
        let expected = try SafeTensors.read(contentsOf: fixture("vqgan_tiny_expected.safetensors"))
        try expectSameTensors(sd, expected)
        // torch order: encoder, decoder, loss, quantize, quant_conv, post_quant_conv.
        #expect(sd.names.first == "encoder.conv_in.weight")
        #expect(sd.names.last == "post_quant_conv.bias")
        #expect(sd.names.firstIndex(of: "quantize.embedding.weight")! > sd.names.firstIndex(of: "loss.discriminator.main.0.weight")!)
        #expect(try sd.tensor("quantize.embedding.weight").shape == [16, 4])
        let tracked = try sd.tensor("loss.discriminator.main.3.num_batches_tracked")
        #expect(tracked.dtype == .int64 && tracked.shape == [])
        #expect(try tracked.int64s() == [17])
        // No optimizer moments leak into the state dict.
        #expect(!sd.names.contains { $0.contains("exp_avg") })
    }

    @Test func lightningLegacyCheckpointMatchesZip() throws {
        let legacy = try loadStateDict(contentsOf: fixture("vqgan_tiny_legacy.ckpt"))
        let zip = try loadStateDict(contentsOf: fixture("vqgan_tiny.ckpt"))
        #expect(legacy.format == .torchLegacy)
        #expect(legacy.names == zip.names)
        #expect(legacy.metadata["global_step"] == "1234")
        try expectSameTensors(legacy, try SafeTensors.read(contentsOf: fixture("vqgan_tiny_expected.safetensors")))
    }

    @Test func torchScriptClipRecoversNamesAndHalfWeights() throws {
        let sd = try loadStateDict(contentsOf: fixture("clip_tiny.pt"))
        #expect(sd.format == .torchScript)
        let expected = try SafeTensors.read(contentsOf: fixture("clip_tiny_expected.safetensors"))
        #expect(sd.names.count == 41)
        try expectSameTensors(sd, expected)
        #expect(try sd.tensor("visual.conv1.weight").dtype == .float16)
        #expect(try sd.tensor("visual.conv1.weight").shape == [64, 3, 4, 4])
        #expect(try sd.tensor("visual.ln_pre.weight").dtype == .float32)
        #expect(try sd.tensor("visual.transformer.resblocks.0.attn.in_proj_weight").shape == [192, 64])
        #expect(try sd.tensor("context_length").int64s() == [6])
    }

    @Test(arguments: ["views.pt", "views_legacy.pt", "views_p4.pt"])
    func viewsOffsetsAndDTypes(_ name: String) throws {
        let sd = try loadStateDict(contentsOf: fixture(name))
        #expect(sd.format == (name == "views_legacy.pt" ? .torchLegacy : .torchZip))
        #expect(sd.names == ["transposed", "rows", "column", "every_other", "shared", "half_cols", "bf16",
                             "int64", "scalar", "empty", "expanded", "parameter"])
        try expectSameTensors(sd, try SafeTensors.read(contentsOf: fixture("views_expected.safetensors")))
        let transposed = try sd.tensor("transposed")
        #expect(transposed.shape == [6, 4] && transposed.strides == [1, 6] && !transposed.isContiguous)
        #expect(try sd.tensor("rows").storageOffset == 6)
        #expect(try sd.tensor("expanded").strides == [0, 1])
        #expect(try sd.tensor("half_cols").dtype == .float16)
        #expect(try sd.tensor("bf16").dtype == .bfloat16)
        #expect(try sd.tensor("int64").int64s() == [-3, 0, 1 << 40])
        #expect(try sd.tensor("scalar").floats() == [2.5])
        #expect(try sd.tensor("empty").shape == [0, 3])
    }

    @Test func protocolOneWithAttributesNestedDictsAndNumpy() throws {
        let sd = try loadStateDict(contentsOf: fixture("extras_p1.pt"))
        #expect(sd.names == ["tagged", "block.w", "block.inner.b"])
        #expect(try sd.tensor("tagged").floats() == [1.5, -2])
        #expect(try sd.tensor("block.w").shape == [1, 2])
        #expect(try sd.tensor("block.inner.b").dtype == .int32)
        #expect(try sd.tensor("block.inner.b").int64s() == [3])
        #expect(sd.metadata["skipped_entries"] == "7")
    }

    @Test func bigEndianZipArchive() throws {
        var pickle = PickleWriter()
        pickle.tensorDict([("w", { $0.tensor(key: "0", numel: 2, offset: 0, size: [2], stride: [1]) }),
                           ("h", { $0.tensor(storageType: "HalfStorage", key: "1", numel: 1, offset: 0, size: [], stride: []) })])
        pickle.stop()
        let big = [Float(1.5), -3].flatMap { v in withUnsafeBytes(of: v.bitPattern.bigEndian) { Array($0) } }
        let url = try writeTemporary(zipArchive([("m/data.pkl", pickle.bytes), ("m/byteorder", Array("big".utf8)),
                                                 ("m/data/0", big), ("m/data/1", [0x3C, 0x00])]), name: "big.pt")
        let sd = try loadStateDict(contentsOf: url)
        #expect(try sd.tensor("w").floats() == [1.5, -3])
        #expect(try sd.tensor("h").floats() == [1])
        let odd = try writeTemporary(zipArchive([("m/data.pkl", pickle.bytes), ("m/byteorder", Array("middle".utf8))]), name: "odd.pt")
        expectCheckpointError(odd, contains: "unknown byte order") { _ = try loadStateDict(contentsOf: odd) }
    }

    @Test func pickledModuleObject() throws {
        let sd = try loadStateDict(contentsOf: fixture("module.pt"))
        #expect(sd.names == ["lin.weight", "lin.bias", "norm.weight", "norm.bias", "norm.running_mean",
                             "norm.running_var", "norm.num_batches_tracked"])
        #expect(try sd.tensor("lin.weight").shape == [2, 3])
    }

    @Test func safetensorsDTypes() throws {
        let sd = try loadStateDict(contentsOf: fixture("dtypes.safetensors"))
        #expect(sd.metadata == ["format": "pt"])
        #expect(try sd.tensor("f16").dtype == .float16)
        #expect(try sd.tensor("bf16").dtype == .bfloat16)
        #expect(try sd.tensor("i64").int64s() == [1, -2, 3, 1 << 50])
        try expectSameTensors(sd, try SafeTensors.read(contentsOf: fixture("dtypes_expected.safetensors")))
    }

    @Test func hostileGlobalsAreInert() throws {
        let marker = "/tmp/vqclip-fixture-was-executed"
        try? FileManager.default.removeItem(atPath: marker)
        let sd = try loadStateDict(contentsOf: fixture("evil_in_dict.pt"))
        #expect(sd.names == ["w"])
        #expect(try sd.tensor("w").floats() == [1, 1])
        let root = fixture("evil_root.pt")
        expectCheckpointError(root, contains: "no tensors found (the pickle holds object posix.system)") {
            _ = try loadStateDict(contentsOf: root)
        }
        #expect(!FileManager.default.fileExists(atPath: marker))
    }
}

@Suite struct StoredTensorTests {
    @Test func renamedKeepsDataAndLayout() throws {
        let sd = try loadStateDict(contentsOf: fixture("views.pt"))
        let original = try sd.tensor("transposed")
        let renamed = original.renamed("decoder.t")
        #expect(renamed.name == "decoder.t" && renamed.strides == original.strides)
        #expect(try renamed.floats() == original.floats())
    }

    @Test func strippingPrefixSelectsAndRenames() throws {
        let sd = try loadStateDict(contentsOf: fixture("vqgan_tiny.ckpt"))
        let decoder = sd.strippingPrefix("decoder.")
        #expect(decoder.names.count == sd.names.filter { $0.hasPrefix("decoder.") }.count)
        #expect(decoder.names.first == "conv_in.weight")
        #expect(try decoder.tensor("conv_in.weight").floats() == sd.tensor("decoder.conv_in.weight").floats())
        #expect(decoder.source == sd.source && decoder.format == .torchZip)
    }

    @Test func contiguousAndGatheredPathsAgree() throws {
        // f32 contiguous tensors take the copy path; the same values through a transposed view
        // take the gather path.
        let sd = try loadStateDict(contentsOf: fixture("views.pt"))
        let shared = try sd.tensor("shared").floats()
        let transposed = try sd.tensor("transposed").floats()
        for i in 0 ..< 4 { for j in 0 ..< 6 { #expect(transposed[j * 4 + i] == shared[i * 6 + j]) } }
    }
}
