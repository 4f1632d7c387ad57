// A CLIP written by Hugging Face `transformers` itself (scripts/make_hf_clip_fixture.py):
// CLIPModel.save_pretrained of a small random model (float16 weights) and the files of its
// CLIPTokenizer over a small byte-level BPE vocabulary, with the token ids and features that
// transformers computed. A rename that is wrong in both directions cannot pass here.
//
// Tolerance: token ids exact; features and logits within 1e-4 · max |reference| (the reference
// ran in float32 on the same float16-rounded weights).

import Checkpoints
import Foundation
import Tensors
import Testing
import TestSupport
@testable import CLIP

@Suite struct HuggingFaceFixtureTests {
    static let folder = fixtureURL("hf-clip-small")

    static func reference() throws -> (tensors: Reference, prompts: [String]) {
        let url = fixtureURL("hf-clip-small-reference.safetensors")
        let metadata = try SafeTensors.read(contentsOf: url).metadata
        let prompts = try JSONDecoder().decode([String].self, from: Data((metadata["prompts"] ?? "[]").utf8))
        return (try Reference(url), prompts)
    }

    @Test func tokenizerFilesGiveTransformersIds() throws {
        let (ref, prompts) = try Self.reference()
        #expect(prompts.count == 4)
        let tokenizer = try CLIPModel.tokenizer(for: Self.folder)
        #expect(tokenizer.vocabulary.count == 554)
        for (i, prompt) in prompts.enumerated() {
            let expected = ref["tokens.\(i)"].data.map { Int($0) }
            let tokens = try tokenizer.tokenize(prompt, contextLength: 77)
            #expect(Array(tokens.ids[...tokens.endIndex]) == expected, "\(prompt)")
        }
    }

    @Test func featuresMatchTransformers() throws {
        let (ref, prompts) = try Self.reference()
        let model = try CLIPModel(contentsOf: Self.folder)
        #expect(model.configuration == CLIPConfiguration(embedDim: 32, imageResolution: 32, visionLayers: 2, visionWidth: 128,
                                                          patchSize: 8, contextLength: 77, vocabSize: 554,
                                                          textWidth: 128, textLayers: 1))
        let tokenizer = try CLIPModel.tokenizer(for: Self.folder)
        let image = model.encodeImage(ref["images"])
        let text = try model.encodeText(prompts, tokenizer: tokenizer)
        let imageError = parityError(image, ref["image_features"])
        let textError = parityError(text, ref["text_features"])
        #expect(imageError < 1e-4, "image features relative error \(imageError)")
        #expect(textError < 1e-4, "text features relative error \(textError)")
        // logits_per_image = exp(logit_scale) · cosine.
        let logits = similarityMatrix(imageFeatures: image, textFeatures: text) * Float(exp(Double(model.logitScale)))
        let logitError = parityError(logits, ref["logits_per_image"])
        #expect(logitError < 1e-4, "logits relative error \(logitError)")
    }
}
