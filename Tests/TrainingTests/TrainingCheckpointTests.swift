// A training checkpoint restores parameters and optimiser state exactly, and loading is strict.

import Checkpoints
import Foundation
import Optimizers
import Tensors
import Testing
import Training

@Suite("Training checkpoints")
struct TrainingCheckpointTests {
    func temporaryURL() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("train-\(UUID().uuidString).safetensors")
    }

    func step(_ adam: Adam, _ w: Tensor, _ b: Tensor) {
        adam.zeroGrad()
        ((w * w).sum() + (b * w.sum()).sum()).backward()
        adam.step()
    }

    @Test func resumedTrainingContinuesExactly() throws {
        let w = Tensor(shape: [2, 3], data: [1, -2, 0.5, 3, 0, -1], requiresGrad: true)
        let b = Tensor(shape: [1], data: [0.25], requiresGrad: true)
        let adam = Adam(parameters: [w, b], learningRate: 0.05)
        for _ in 0..<3 { step(adam, w, b) }
        let url = temporaryURL()
        defer { try? FileManager.default.removeItem(at: url) }
        try TrainingCheckpoint.save(to: url, parameters: [("w", w), ("b", b)], optimizers: ["model": adam.state],
                                    metadata: ["step": "3"])

        let w2 = Tensor.zeros([2, 3], requiresGrad: true), b2 = Tensor.zeros([1], requiresGrad: true)
        let checkpoint = try TrainingCheckpoint(contentsOf: url)
        try checkpoint.restore(parameters: [("w", w2), ("b", b2)])
        let adam2 = Adam(parameters: [w2, b2], learningRate: 0.05)
        try adam2.restore(try checkpoint.optimizerState("model"))
        #expect(checkpoint.metadata["step"] == "3")
        for _ in 0..<3 { step(adam, w, b); step(adam2, w2, b2) }
        #expect(w.data == w2.data && b.data == b2.data)
    }

    @Test func restoreNamesMissingExtraAndMisShapedKeys() throws {
        let w = Tensor(shape: [2, 3], data: [1, -2, 0.5, 3, 0, -1])
        let url = temporaryURL()
        defer { try? FileManager.default.removeItem(at: url) }
        try TrainingCheckpoint.save(to: url, parameters: [("w", w)], optimizers: [:], metadata: [:])
        let checkpoint = try TrainingCheckpoint(contentsOf: url)
        func message(_ parameters: [(name: String, tensor: Tensor)]) -> String {
            do { try checkpoint.restore(parameters: parameters); return "" } catch { return "\(error)" }
        }
        #expect(message([("w", w), ("v", w)]).contains("missing tensor v"))
        #expect(message([]).contains("unexpected tensor w"))
        #expect(message([("w", Tensor.zeros([3, 2]))]).contains("w has shape [2, 3], expected [3, 2]"))
        #expect(throws: CheckpointError.self) { try checkpoint.optimizerState("model") }
    }
}
