// Preprocessing against clip.clip._transform (Pillow bicubic resize, centre crop, normalise) and
// the differentiable normalisation used by rendering.

import Foundation
import Tensors
import Testing
@testable import CLIP

@Suite struct PreprocessTests {
    /// Pillow's 8-bit resampler is reproduced exactly, so outputs agree to float rounding.
    @Test func matchesReferenceTransform() throws {
        let ref = try Reference(fixtureURL("clip-preprocess.safetensors"))
        for (i, size) in [24, 24, 24, 16].enumerated() {
            let input = ref["input\(i)"]
            let h = input.shape[0], w = input.shape[1]
            let out = CLIPPreprocess.imageTensor(width: w, height: h, rgb: input.data.map { UInt8($0) }, size: size)
            let expected = ref["output\(i)"]
            #expect(out.shape == expected.shape)
            var worst: Float = 0
            for k in 0..<out.count { worst = max(worst, abs(out.data[k] - expected.data[k])) }
            #expect(worst < 1e-5, "case \(i) (\(w)x\(h) → \(size)): max difference \(worst)")
        }
    }

    @Test func normalizeValuesAndGradient() throws {
        let x = Tensor(shape: [1, 3, 1, 2], data: [0, 1, 0.5, 0.5, 0.40821073, 1], requiresGrad: true)
        let y = CLIPPreprocess.normalize(x)
        let expected: [Float] = [-0.48145466 / 0.26862954, (1 - 0.48145466) / 0.26862954,
                                 (0.5 - 0.4578275) / 0.26130258, (0.5 - 0.4578275) / 0.26130258,
                                 0, (1 - 0.40821073) / 0.27577711]
        for i in 0..<6 { #expect(abs(y.data[i] - expected[i]) < 1e-5) }
        y.sum().backward()
        let g = x.grad!.data
        #expect(abs(g[0] - 1 / 0.26862954) < 1e-4 && abs(g[3] - 1 / 0.26130258) < 1e-4 && abs(g[5] - 1 / 0.27577711) < 1e-4)
    }
}

/// ViT-B/32-shaped parity. The fixture (~300 MB) is generated locally by
/// `scripts/make_clip_fixtures.py b32 DIR` and not committed; the test is skipped when it is
/// absent (set CLIP_B32_FIXTURE to its folder; default /tmp/clip-b32-fixture).
@Suite struct ViTB32ParityTests {
    static let folder = URL(fileURLWithPath: ProcessInfo.processInfo.environment["CLIP_B32_FIXTURE"] ?? "/tmp/clip-b32-fixture")
    static var available: Bool {
        FileManager.default.fileExists(atPath: folder.appendingPathComponent("clip-b32-openai.safetensors").path)
    }

    @Test(.enabled(if: available, "ViT-B/32 fixture not generated")) func vitB32FeaturesAndGradientMatchOpenAI() throws {
        let model = try CLIPModel(contentsOf: Self.folder.appendingPathComponent("clip-b32-openai.safetensors"))
        #expect(model.configuration == .vitB32)
        let ref = try Reference(Self.folder.appendingPathComponent("clip-b32-reference.safetensors"))
        // The reference tokens come from the real tokenizer: check ours agrees.
        let tokens = tokenRows(ref["tokens"])
        let tokenizer = try Tokenizer.bundled()
        #expect(try tokenizer.tokenize("a photo of a cat").ids == tokens[0])
        #expect(try tokenizer.tokenize("an oil painting of a lighthouse at dusk").ids == tokens[1])
        let err = try runParity(model: model, reference: ref)
        print("ViT-B/32 parity (relative):", err)
        #expect(err.image < 1e-4 && err.text < 1e-4 && err.grad < 1e-4, "\(err)")
    }
}
