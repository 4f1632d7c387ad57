// Parity with taming-transformers (PyTorch 1.13, float32) on random weights: encoder output,
// quant_conv output, codebook indices (exact), straight-through z_q, decoder output, d loss/d z
// through the straight-through quantizer and the decoder, and d loss/d image through the encoder.
//
// Tolerances (max |error| / max |reference|): forward outputs 1e-4, gradients 1e-4. The fixture
// script guarantees no near ties between the best two codebook distances (relative gap > 1e-3).

import Foundation
import Testing
import TestSupport
import Layers
import Tensors
@testable import VQGAN

struct ParityCase {
    let name: String
    let config: VQGANConfig

    static let tiny = ParityCase(name: "tiny", config: VQGANConfig(
        embedDim: 4, nEmbed: 16,
        ddconfig: DDConfig(ch: 32, chMult: [1, 1], numResBlocks: 1, attnResolutions: [8], zChannels: 4, resolution: 16)))
    static let mid = ParityCase(name: "mid", config: VQGANConfig(
        embedDim: 16, nEmbed: 128,
        ddconfig: DDConfig(ch: 32, chMult: [1, 1, 2, 2], numResBlocks: 1, attnResolutions: [4, 8], zChannels: 16,
                           resolution: 32)))
}

@Suite struct ParityTests {
    static let forwardTolerance: Float = 1e-4
    static let gradientTolerance: Float = 1e-4

    func check(_ c: ParityCase) throws {
        let model = try VQModel(config: c.config, weights: WeightLoader(source: try Fixture.weights("\(c.name)_weights.safetensors")))
        let io = try Fixture.read("\(c.name)_io.safetensors")
        let x = Fixture.tensor(io, "x")

        let (h, z, q, decoded) = Autograd.withoutGrad { () -> (Tensor, Tensor, (quantized: Tensor, indices: [Int]), Tensor) in
            let h = model.encoder(x)
            let z = model.quantConv(h)
            let q = model.quantize(Fixture.tensor(io, "z"))
            return (h, z, q, model.decode(q.quantized))
        }
        let errors = [
            ("h", assertParity(h, Fixture.tensor(io, "h"), tolerance: Self.forwardTolerance, "\(c.name) encoder h")),
            ("z", assertParity(z, Fixture.tensor(io, "z"), tolerance: Self.forwardTolerance, "\(c.name) quant_conv z")),
            ("zq", assertParity(q.quantized, Fixture.tensor(io, "zq"), tolerance: 1e-6, "\(c.name) z_q")),
            ("decoded", assertParity(decoded, Fixture.tensor(io, "decoded"), tolerance: Self.forwardTolerance,
                                    "\(c.name) decoder")),
        ]
        #expect(q.indices == io["indices"]!.values.map { Int($0) }, "\(c.name): codebook indices differ")
        // Our own encoder output must give the same codes as the reference's.
        #expect(model.quantizer.nearestIndices(z) == q.indices, "\(c.name): indices from the Swift encoder differ")

        // d/dz sum(decoder(post_quant_conv(st(z))) · R)
        let zg = Fixture.tensor(io, "z", requiresGrad: true)
        model.decode(model.quantize(zg).quantized).backward(seed: io["r"]!.values)
        let gz = assertParity(zg.grad!, Fixture.tensor(io, "grad_z"), tolerance: Self.gradientTolerance,
                             "\(c.name) d loss / d z")
        // d/dx sum(encoder(x) · R_h)
        let xg = Fixture.tensor(io, "x", requiresGrad: true)
        model.encoder(xg).backward(seed: io["r_h"]!.values)
        let gx = assertParity(xg.grad!, Fixture.tensor(io, "grad_x"), tolerance: Self.gradientTolerance,
                             "\(c.name) d loss / d image")
        print("VQGAN parity \(c.name):", (errors + [("grad_z", gz), ("grad_x", gx)]).map { "\($0.0) \($0.1)" }
            .joined(separator: ", "))
    }

    @Test func tinyConfigMatchesReference() throws { try check(.tiny) }

    @Test func midConfigMatchesReference() throws { try check(.mid) }

    /// Weight gradients (training): loaded with requiresGrad, the same loss as above.
    @Test func tinyWeightGradientsMatchReference() throws {
        let loader = WeightLoader(source: try Fixture.weights("tiny_weights.safetensors"), requiresGrad: true)
        let model = try VQModel(config: ParityCase.tiny.config, weights: loader)
        let io = try Fixture.read("tiny_io.safetensors")
        let z = Fixture.tensor(io, "z")
        model.decode(model.quantize(z).quantized).backward(seed: io["r"]!.values)
        let byName = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0.tensor) })
        var checked = 0
        for key in io.keys where key.hasPrefix("grad.") {
            let name = String(key.dropFirst("grad.".count))
            let err = assertParity(byName[name]!.grad!, Fixture.tensor(io, key), tolerance: Self.gradientTolerance,
                                  "d loss / d \(name)")
            print("VQGAN parity tiny weight gradient \(name): \(err)")
            checked += 1
        }
        #expect(checked == 4)
        // Parameters that do not influence the decoder path receive no gradient.
        #expect(byName["encoder.conv_in.weight"]!.grad == nil)
    }

    @Test func frozenWeightsDoNotRequireGradients() throws {
        let model = try VQModel(config: ParityCase.tiny.config,
                                weights: WeightLoader(source: try Fixture.weights("tiny_weights.safetensors")))
        #expect(model.parameters.allSatisfy { !$0.tensor.requiresGrad })
        // Every stored tensor of the fixture is a parameter (no buffers in the encoder/decoder).
        #expect(model.parameters.count == (try Fixture.read("tiny_weights.safetensors")).count)
    }

    @Test func decodeFromIndicesMatchesQuantizedDecode() throws {
        let model = try VQModel(config: ParityCase.tiny.config,
                                weights: WeightLoader(source: try Fixture.weights("tiny_weights.safetensors")))
        let io = try Fixture.read("tiny_io.safetensors")
        let indices = io["indices"]!.values.map { Int($0) }
        let image = model.decode(indices: indices, batch: 2, height: 8, width: 8)
        assertParity(image, Fixture.tensor(io, "decoded"), tolerance: Self.forwardTolerance, "decode(indices:)")
    }
}
