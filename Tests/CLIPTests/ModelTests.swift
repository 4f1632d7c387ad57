// Parity of the CLIP towers with OpenAI's clip.model.CLIP on a small random-weight model
// (fixture by scripts/make_clip_fixtures.py small): image features, text features and
// d(cosine similarity)/d(image). Weights are float16 in the file; the reference ran in float32
// on the same rounded weights, so the only differences are float32 summation order.
//
// Tolerance: max |swift − reference| ≤ 1e-4 · max |reference| per tensor.

import Checkpoints
import Foundation
import Layers
import Tensors
import Testing
import TestSupport
@testable import CLIP

struct Reference {
    let tensors: [String: Tensor]
    init(_ url: URL) throws {
        let sd = try SafeTensors.read(contentsOf: url)
        var t: [String: Tensor] = [:]
        for name in sd.names { let st = sd.tensors[name]!; t[name] = Tensor(shape: st.shape, data: try st.floats()) }
        tensors = t
    }
    subscript(_ name: String) -> Tensor { tensors[name]! }
}

func tokenRows(_ t: Tensor) -> [[Int]] {
    let n = t.shape[1]
    return (0..<t.shape[0]).map { r in (0..<n).map { Int(t.data[r * n + $0]) } }
}

/// Image features, text features and the image gradient of Σ cosine·weights.
func runParity(model: CLIPModel, reference ref: Reference) throws -> (image: Float, text: Float, grad: Float) {
    let images = Tensor(shape: ref["images"].shape, data: ref["images"].data, requiresGrad: true)
    let imageFeatures = model.encodeImage(images)
    let textFeatures = try Autograd.withoutGrad { try model.encodeText(tokenRows(ref["tokens"])) }
    let cos = similarityMatrix(imageFeatures: imageFeatures, textFeatures: textFeatures)
    (cos * ref["cosine_weights"]).sum().backward()
    return (parityError(imageFeatures, ref["image_features"]), parityError(textFeatures, ref["text_features"]),
            parityError(images.grad!, ref["grad_images"]))
}

@Suite struct ModelParityTests {
    static let weightsURL = fixtureURL("clip-small-openai.safetensors")
    static let referenceURL = fixtureURL("clip-small-reference.safetensors")

    @Test func inferredConfiguration() throws {
        let model = try CLIPModel(contentsOf: Self.weightsURL)
        #expect(model.configuration == CLIPConfiguration(embedDim: 32, imageResolution: 32, visionLayers: 2, visionWidth: 128,
                                                          patchSize: 8, contextLength: 77, vocabSize: 320,
                                                          textWidth: 128, textLayers: 1))
        #expect(model.configuration.visionHeads == 2 && model.configuration.textHeads == 2)
        // Every stored tensor became a parameter, under its own name.
        let stored = try SafeTensors.read(contentsOf: Self.weightsURL).names
        #expect(model.parameters.map(\.name).sorted() == stored.sorted())
        #expect(CLIPModel.random(model.configuration).parameters.count == stored.count)
    }

    @Test func openAIWeights() throws {
        let model = try CLIPModel(contentsOf: Self.weightsURL)
        let err = try runParity(model: model, reference: Reference(Self.referenceURL))
        print("small CLIP parity (relative):", err)
        #expect(err.image < 1e-4, "image features relative error \(err.image)")
        #expect(err.text < 1e-4, "text features relative error \(err.text)")
        #expect(err.grad < 1e-4, "image gradient relative error \(err.grad)")
    }

    /// The same model as a TorchScript archive like OpenAI's released `.pt` files (fp16/fp32 mix,
    /// the root's input_resolution/context_length/vocab_size buffers).
    @Test func torchScriptArchive() throws {
        let model = try CLIPModel(contentsOf: fixtureURL("clip-small.pt"))
        #expect(model.configuration.visionLayers == 2 && model.configuration.vocabSize == 320)
        let err = try runParity(model: model, reference: Reference(Self.referenceURL))
        #expect(err.image < 1e-4 && err.text < 1e-4 && err.grad < 1e-4, "\(err)")
    }

    /// The same weights renamed to Hugging Face's layout (split q/k/v, transposed projections,
    /// position_ids buffers) in a folder with model.safetensors.
    @Test func huggingFaceFolder() throws {
        let openAI = WeightSource(stateDict: try SafeTensors.read(contentsOf: Self.weightsURL)).entries
        let hf = try HuggingFaceNames.fromOpenAI(openAI, source: "test")
        #expect(hf["vision_model.encoder.layers.1.self_attn.k_proj.weight"]?.shape == [128, 128])
        #expect(hf["visual_projection.weight"]?.shape == [32, 128])
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("clip-hf-model-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var list = try hf.sorted { $0.key < $1.key }.map { (name: $0.key, shape: $0.value.shape, values: try $0.value.values()) }
        list.append((name: "text_model.embeddings.position_ids", shape: [1, 77], values: (0..<77).map(Float.init)))
        try SafeTensors.write(list, metadata: [:], to: folder.appendingPathComponent("model.safetensors"))
        let model = try CLIPModel(contentsOf: folder)
        let err = try runParity(model: model, reference: Reference(Self.referenceURL))
        #expect(err.image < 1e-4 && err.text < 1e-4 && err.grad < 1e-4, "\(err)")
    }
}

@Suite struct LoadingErrorTests {
    typealias Entry = WeightSource.Entry

    static func raw() throws -> [String: Entry] {
        WeightSource(stateDict: try SafeTensors.read(contentsOf: fixtureURL("clip-small-openai.safetensors"))).entries
    }

    /// Builds a model from OpenAI-named entries the way ``CLIPModel/init(stateDict:requiresGrad:)`` does.
    func load(_ entries: [String: Entry], _ file: String) throws {
        let configuration = try CLIPConfiguration(shapes: entries.mapValues(\.shape), source: file)
        _ = try CLIPModel(configuration: configuration, weights: WeightLoader(source: WeightSource(file: file, entries: entries)))
    }

    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }

    @Test func missingExtraAndMisshapen() throws {
        var missing = try Self.raw()
        missing["visual.ln_post.bias"] = nil
        #expect(message { try load(missing, "m.safetensors") }
                == "m.safetensors: missing tensor 'visual.ln_post.bias' (expected shape [128])")

        var extra = try Self.raw()
        extra["visual.extra.weight"] = Entry(shape: [2], values: { [0, 0] })
        #expect(message { try load(extra, "m.safetensors") }
                == "m.safetensors: unexpected tensor 'visual.extra.weight' (shape [2]) is not part of the model")

        var misshapen = try Self.raw()
        misshapen["transformer.resblocks.0.mlp.c_fc.bias"] = Entry(shape: [5], values: { [Float](repeating: 0, count: 5) })
        #expect(message { try load(misshapen, "m.safetensors") }.hasPrefix(
            "m.safetensors: tensor 'transformer.resblocks.0.mlp.c_fc.bias' has shape [5], expected [512]"))

        var gap = try Self.raw()
        for key in gap.keys where key.hasPrefix("visual.transformer.resblocks.0.") { gap[key] = nil }
        #expect(message { try load(gap, "m.safetensors") }
                == "m.safetensors: missing tensor 'visual.transformer.resblocks.0.attn.in_proj_weight' (expected shape [384, 128])")

        var resnet = try Self.raw()
        resnet["visual.conv1.weight"] = nil
        resnet["visual.layer1.0.conv1.weight"] = Entry(shape: [1], values: { [0] })
        #expect(message { try load(resnet, "r.pt") } == "r.pt: ResNet CLIP models are not supported (only ViT)")
    }

    @Test func huggingFaceErrors() throws {
        var hf = try HuggingFaceNames.fromOpenAI(try Self.raw(), source: "t")
        hf["vision_model.encoder.layers.0.self_attn.v_proj.bias"] = nil
        #expect(message { _ = try HuggingFaceNames.toOpenAI(hf, source: "hf.safetensors") }
                == "hf.safetensors: missing tensor 'vision_model.encoder.layers.0.self_attn.v_proj.bias'")
        hf = try HuggingFaceNames.fromOpenAI(try Self.raw(), source: "t")
        hf["vision_model.encoder.layers.0.self_attn.rotary.weight"] = Entry(shape: [1], values: { [0] })
        #expect(message { _ = try HuggingFaceNames.toOpenAI(hf, source: "hf.safetensors") }
                == "hf.safetensors: unexpected tensor 'vision_model.encoder.layers.0.self_attn.rotary.weight'")
    }

    @Test func missingFileAndBadTokens() throws {
        #expect(message { _ = try CLIPModel(contentsOf: URL(fileURLWithPath: "/nonexistent/clip.pt")) }
                == "/nonexistent/clip.pt: no such file or folder")
        let model = try CLIPModel(contentsOf: fixtureURL("clip-small-openai.safetensors"))
        #expect(message { _ = try model.encodeText([[0, 320]]) } == "CLIP text: token id 320 outside the vocabulary of 320")
    }
}

@Suite struct ScoringTests {
    @Test func similarityProbabilitiesAndRanking() throws {
        let images = Tensor(shape: [3, 2], data: [1, 0, 0, 2, 3, 3])
        let texts = Tensor(shape: [2, 2], data: [2, 0, 0, 1])
        let cos = similarityMatrix(imageFeatures: images, textFeatures: texts)
        let r = Float(0.5).squareRoot()
        let expected: [Float] = [1, 0, 0, 1, r, r]
        for i in 0..<6 { #expect(abs(cos.data[i] - expected[i]) < 1e-6) }
        // logit scale ln 100: probabilities softmax(100 · cos) per image.
        let p = zeroShotProbabilities(cosine: cos, logitScale: Float(log(100.0)))
        #expect(abs(p[0][0] - 1 / (1 + exp(-100))) < 1e-6 && abs(p[2][0] - 0.5) < 1e-6)
        let scores = CLIPScores(cosine: [[0.1, 0.3], [0.5, 0.3], [0.2, 0.3]], probabilities: [])
        #expect(scores.ranking(text: 0) == [1, 2, 0])
        #expect(scores.ranking(text: 1) == [0, 1, 2])
    }

    /// Rows shorter than the context (positions sliced) give the same features: the causal
    /// mask keeps the padding after the end token out of the end token's row.
    @Test func shortTokenRows() throws {
        let model = try CLIPModel(contentsOf: fixtureURL("clip-small-openai.safetensors"))
        let ref = try Reference(fixtureURL("clip-small-reference.safetensors"))
        let rows = tokenRows(ref["tokens"])
        let full = try model.encodeText(rows)
        let short = try model.encodeText(rows.map { Array($0.prefix(16)) })
        #expect(parityError(short, full) < 1e-5)
        #expect(throws: CLIPError.self) { try model.encodeText(rows.map { $0 + [0] }) }
    }

    /// The cosine matrix of the small model's towers equals the reference's.
    @Test func scoreMatchesTowers() throws {
        let model = try CLIPModel(contentsOf: fixtureURL("clip-small-openai.safetensors"))
        let ref = try Reference(fixtureURL("clip-small-reference.safetensors"))
        let cos = ref["cosine"]
        let imageFeatures = model.encodeImage(ref["images"])
        let textFeatures = try model.encodeText(tokenRows(ref["tokens"]))
        #expect(parityError(similarityMatrix(imageFeatures: imageFeatures, textFeatures: textFeatures), cos) < 1e-4)
    }
}

/// Loaded with `requiresGrad: true`, the towers stay connected to every parameter: a training
/// loss reaches each weight, and the vision tower's class-token shortcut gives the same weight
/// gradients as the full last block followed by taking row 0.
@Suite struct TrainableWeightTests {
    @Test func lossReachesEveryParameter() throws {
        let model = try CLIPModel(contentsOf: fixtureURL("clip-small-openai.safetensors"), requiresGrad: true)
        let ref = try Reference(fixtureURL("clip-small-reference.safetensors"))
        let cos = similarityMatrix(imageFeatures: model.encodeImage(ref["images"]),
                                   textFeatures: try model.encodeText(tokenRows(ref["tokens"])))
        // CLIP's logits: cosine · exp(logit_scale), with the scale a trainable scalar.
        let scale = model.logitScaleTensor.exp().reshaped([1, 1])
        ((cos * scale) * ref["cosine_weights"]).sum().backward()
        for (name, tensor) in model.parameters {
            let grad = try #require(tensor.grad, "no gradient for \(name)")
            #expect(grad.data.contains { $0 != 0 }, "zero gradient for \(name)")
        }
        // Frozen weights stay frozen.
        let frozen = try CLIPModel(contentsOf: fixtureURL("clip-small-openai.safetensors"))
        #expect(frozen.parameters.allSatisfy { !$0.tensor.requiresGrad })
    }

    @Test func classTokenShortcutMatchesFullBlockGradients() throws {
        let model = try CLIPModel(contentsOf: fixtureURL("clip-small-openai.safetensors"), requiresGrad: true)
        let block = try #require(model.visual.resblocks.last)
        let c = model.configuration
        let x = Tensor.randn([2, c.visionTokens, c.visionWidth], seed: 5)
        let seed = Tensor.randn([2, 1, c.visionWidth], seed: 6)
        let weights = [block.attn.inProjWeight, block.attn.inProjBias, block.attn.outProj.weight,
                       block.ln1.weight, block.mlp.cFc.weight, block.ln2.bias]

        (block.classToken(x) * seed).sum().backward()
        let shortcut = weights.map { $0.grad! }
        weights.forEach { $0.zeroGrad() }
        let full = gatherRows(block(x, causal: false), at: [0, 0]).reshaped([2, 1, c.visionWidth])
        (full * seed).sum().backward()
        for (a, w) in zip(shortcut, weights) {
            #expect(parityError(a, w.grad!) < 1e-5, "\(w.shape): \(parityError(a, w.grad!))")
        }
    }
}
