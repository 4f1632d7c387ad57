// One VQGAN+CLIP step against PyTorch (scripts/make_render_fixtures.py): taming's tiny VQGAN and
// a small OpenAI CLIP, fixed z and cutout windows, three prompts (a positive, a negative weight,
// a stop gate that passes half the views) plus the init-weight term; loss, d loss / d z and z
// after one Adam step (lr 0.1) and the codebook clamp, within 1e-4 relative (parityError).

import CLIP
import Checkpoints
import Foundation
import Generation
import Optimizers
import Tensors
import Testing
import TestSupport
import VQGAN

@Suite("Render step parity")
struct RenderStepParityTests {
    static let testsFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()

    struct Reference {
        let table: [String: (shape: [Int], values: [Float])]
        let metadata: [String: String]
        func tensor(_ name: String, requiresGrad: Bool = false) -> Tensor {
            Tensor(shape: table[name]!.shape, data: table[name]!.values, requiresGrad: requiresGrad)
        }
        func values(_ name: String) -> [Float] { table[name]!.values }
    }

    static func reference(_ url: URL) throws -> Reference {
        let dict = try SafeTensors.read(contentsOf: url)
        return Reference(table: try dict.tensors.mapValues { ($0.shape, try $0.floats()) }, metadata: dict.metadata)
    }

    /// Runs the step as the renderer does and compares it with the reference.
    static func check(_ ref: Reference, vqgan: VQModel, clip: CLIPModel, tolerance: Float) throws -> [String: Float] {
        let z = ref.tensor("z0", requiresGrad: true)
        let zOrig = ref.table["z_orig"] != nil ? ref.tensor("z_orig") : ref.tensor("z0")
        let windows = stride(from: 0, to: ref.values("windows").count, by: 3).map { i in
            (top: Int(ref.values("windows")[i]), left: Int(ref.values("windows")[i + 1]), side: Int(ref.values("windows")[i + 2]))
        }
        let tokenShape = ref.table["tokens"]!.shape
        let tokens = (0..<tokenShape[0]).map { r in ref.values("tokens")[(r * tokenShape[1])..<((r + 1) * tokenShape[1])].map { Int($0) } }
        let text = try Autograd.withoutGrad { try clip.encodeText(tokens) }
        let e = text.shape[1]
        let targets = zip(ref.values("weights"), ref.values("stops")).enumerated().map { i, ws in
            PromptTarget(label: "prompt \(i)", embeddings: Tensor(shape: [1, e], data: Array(text.data[(i * e)..<((i + 1) * e)])),
                         weight: ws.0, stop: ws.1)
        }
        let initWeight = Float(ref.metadata["init_weight"] ?? "0")!

        let image = Renderer.synthesize(z, vqgan: vqgan)
        let cuts = CutoutBatch(windows: windows, height: image.shape[2], width: image.shape[3],
                               cutSize: clip.configuration.imageResolution, filter: .lanczosBicubic)
        let features = clip.encodeImage(CLIPPreprocess.normalize(cuts.apply(image).clampedWithGradient(min: 0, max: 1)))
        let (loss, terms) = Renderer.objective(features: features, targets: targets, z: z, zInitial: zOrig, initWeight: initWeight)
        let adam = Adam(parameters: [z], learningRate: 0.1)
        adam.zeroGrad()
        loss.backward()
        let grad = Tensor(shape: z.shape, data: z.gradData!)
        adam.step()
        Renderer.clampToCodebook(z, quantizer: vqgan.quantizer)

        var errors: [String: Float] = [:]
        errors["loss"] = assertParity(Tensor(shape: [1], data: [loss.item]), ref.tensor("loss"), tolerance: tolerance, "loss")
        let parts = Tensor(shape: [terms.count], data: terms.map(\.value))
        errors["parts"] = assertParity(parts, ref.tensor("parts").reshaped([terms.count]), tolerance: tolerance, "loss parts")
        errors["grad_z"] = assertParity(grad, ref.tensor("grad_z"), tolerance: tolerance, "d loss / d z")
        // Adam's first step moves each element by lr·g/(|g| + 1e-8), which is ±lr except where |g|
        // is near 1e-8: there a gradient agreeing to 1e-5 of its maximum still gives another step.
        // z after the step is compared where |g| ≥ 1e-2·max|g| (the gradient itself everywhere).
        let gRef = ref.values("grad_z"), limit = 1e-2 * (gRef.map(abs).max() ?? 0)
        let kept = gRef.indices.filter { abs(gRef[$0]) >= limit }
        #expect(kept.count * 10 >= gRef.count * 8, "more than 20% of the gradient is near zero")
        errors["z1"] = assertParity(Tensor(shape: [kept.count], data: kept.map { z.data[$0] }),
                                    Tensor(shape: [kept.count], data: kept.map { ref.values("z1")[$0] }),
                                    tolerance: tolerance, "z after the step")
        if ref.table["image"] != nil {
            errors["image"] = assertParity(image.detached(), ref.tensor("image"), tolerance: tolerance, "decoded image")
        }
        return errors
    }

    @Test func tinyStepMatchesPyTorch() throws {
        let ref = try Self.reference(Bundle.module.url(forResource: "Fixtures/render_step", withExtension: "safetensors")!)
        let vqgan = try VQModel.load(checkpoint: Self.testsFolder.appendingPathComponent("VQGANTests/Fixtures/tiny.ckpt"),
                                     config: Self.testsFolder.appendingPathComponent("VQGANTests/Fixtures/tiny.yaml"))
        let clip = try CLIPModel(contentsOf: Self.testsFolder.appendingPathComponent("CLIPTests/Fixtures/clip-small-openai.safetensors"))
        // The script scaled conv_out so that no pixel saturates (see make_tiny); the same float32 factor here.
        let scale = try #require(ref.metadata["conv_out_scale"].flatMap(Float.init))
        for tensor in [vqgan.decoder.convOut.weight, vqgan.decoder.convOut.bias!] {
            tensor.data = tensor.data.map { $0 * scale }
        }
        let errors = try Self.check(ref, vqgan: vqgan, clip: clip, tolerance: 1e-4)
        // The gate must have mattered: the stopped prompt passes only part of its gradient.
        #expect(ref.values("stops")[2] > -1)
        #expect(errors.values.allSatisfy { $0.isFinite })
        print("tiny step parity errors:", errors.sorted { $0.key < $1.key })
    }

    /// The same step at vqgan_imagenet_f16_16384 + ViT-B/32 shapes, from a folder written by
    /// `make_render_fixtures.py full DIR` (hundreds of MB, so not committed).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["VQCLIP_RENDER_FULL_FIXTURE"] != nil))
    func fullSizeStepMatchesPyTorch() throws {
        let folder = URL(fileURLWithPath: ProcessInfo.processInfo.environment["VQCLIP_RENDER_FULL_FIXTURE"]!)
        let ref = try Self.reference(folder.appendingPathComponent("render_step.safetensors"))
        let config = VQGANConfig(embedDim: 256, nEmbed: 16384,
                                 ddconfig: DDConfig(ch: 128, chMult: [1, 1, 2, 2, 4], numResBlocks: 2, attnResolutions: [16],
                                                    zChannels: 256, resolution: 256))
        let configURL = FileManager.default.temporaryDirectory.appendingPathComponent("f16-\(UUID().uuidString).json")
        try config.jsonData().write(to: configURL)
        defer { try? FileManager.default.removeItem(at: configURL) }
        let vqgan = try VQModel.load(checkpoint: folder.appendingPathComponent("vqgan.safetensors"), config: configURL)
        let clip = try CLIPModel(contentsOf: folder.appendingPathComponent("clip.safetensors"))
        let errors = try Self.check(ref, vqgan: vqgan, clip: clip, tolerance: 1e-3)
        print("full-size step parity errors:", errors.sorted { $0.key < $1.key })
    }
}
