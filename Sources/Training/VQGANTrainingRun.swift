// A VQGAN training run in a directory: the resumable checkpoint, the loss log, the exported
// model and a PNG sheet at every checkpoint. Layout of DIR:
//   DIR/training-state.safetensors   everything needed to continue (TrainingCheckpoint)
//   DIR/model.safetensors + config.json   the autoencoder alone, loadable by VQModel.load
//   DIR/log.jsonl                    one JSON object per logged step
//   DIR/sheets/step-NNNNNN.png       fixed preview scenes: inputs above reconstructions

import FilePaths
import Foundation
import ImageCodecs
import ImageTensors
import Tensors
import VQGAN

/// What a run reports while it works; the caller decides what to show.
public enum VQGANTrainingEvent {
    /// Training begins (or continues) at `step` of `total`.
    case started(step: Int, total: Int, resumed: Bool)
    /// A step finished; `seconds` is the wall time of the step.
    case step(VQGANStepRecord, seconds: Double)
    /// A checkpoint, the exported model and a sheet were written.
    case checkpoint(step: Int, sheet: URL)
}

/// Trains into a directory, checkpointing every `checkpointEvery` steps and at the end.
public final class VQGANTrainingRun {
    /// The run's directory.
    public let directory: URL
    /// The trainer (fresh or resumed).
    public let trainer: VQGANTrainer
    /// Preview inputs for the sheets: the same scenes at every checkpoint.
    private let preview: Tensor

    public var checkpointURL: URL { Self.checkpointURL(in: directory) }
    public var logURL: URL { directory.appendingPathComponent("log.jsonl") }
    public var modelURL: URL { directory.appendingPathComponent("model.safetensors") }
    public var configURL: URL { directory.appendingPathComponent("config.json") }

    /// DIR/training-state.safetensors.
    public static func checkpointURL(in directory: URL) -> URL {
        directory.appendingPathComponent("training-state.safetensors")
    }

    /// A new run with `config`, or (`resume`) the continuation of the one saved in `directory`,
    /// whose stored settings then apply. The log is cut back to the checkpoint's step, so that
    /// steps redone after a kill are not logged twice.
    /// `adjust` applies to a resumed run's stored settings (see
    /// ``VQGANTrainer/init(resumingFrom:adjust:)``). A new run starts from `initial`'s weights
    /// when given (``VQGANTrainer/loadInitialWeights(from:)``), checked before anything is written.
    public init(directory: URL, config: VQGANTrainingConfig, resume: Bool, initial: VQModel? = nil,
                adjust: (inout VQGANTrainingConfig) -> Void = { _ in }) throws {
        self.directory = directory
        let checkpoint = Self.checkpointURL(in: directory)
        if resume {
            guard Files.exists(checkpoint.path) else {
                throw VQGANError("\(checkpoint.path): no training checkpoint to resume from")
            }
            trainer = try VQGANTrainer(resumingFrom: TrainingCheckpoint(contentsOf: checkpoint), adjust: adjust)
        } else {
            guard !Files.exists(checkpoint.path) else {
                throw VQGANError("\(checkpoint.path): a run already exists here (resume it, or choose another directory)")
            }
            trainer = try VQGANTrainer(config: config)
            if let initial { try trainer.loadInitialWeights(from: initial) }
        }
        do { try Files.createDirectory(directory.appendingPathComponent("sheets").path) } catch let error as FileError {
            throw VQGANError("\(directory.path): cannot create the run directory: \(error.problem)")
        }
        // Preview scenes from a stream the training never draws from.
        preview = ShapeWorldImages(seed: trainer.config.seed &+ 0x5EE7, size: trainer.config.imageSize)
            .batch(start: 0, count: 8)
        try truncateLog(after: trainer.step)
    }

    /// Trains up to step `until` (default: the configured total), logging every `logEvery`
    /// steps (and the last of the schedule) and checkpointing every `checkpointEvery` steps and
    /// at the last one.
    public func run(until: Int? = nil, checkpointEvery: Int, logEvery: Int = 10,
                    onEvent: (VQGANTrainingEvent) -> Void = { _ in }) throws {
        let end = min(until ?? trainer.config.steps, trainer.config.steps)
        onEvent(.started(step: trainer.step, total: trainer.config.steps, resumed: trainer.step > 0))
        var pending: [String] = []
        while trainer.step < end {
            let start = Date()
            let record = trainer.trainStep()
            onEvent(.step(record, seconds: Date().timeIntervalSince(start)))
            // Logged steps depend on the step number only, so a run done in parts logs what a straight one does.
            if record.step % max(logEvery, 1) == 0 || record.step == trainer.config.steps {
                pending.append(Self.logLine(record))
            }
            if record.step % max(checkpointEvery, 1) == 0 || record.step == end {
                try appendLog(pending)
                pending = []
                let sheet = try writeCheckpoint()
                onEvent(.checkpoint(step: record.step, sheet: sheet))
            }
        }
    }

    /// Checkpoint, exported model and sheet for the current step; returns the sheet's URL.
    @discardableResult
    public func writeCheckpoint() throws -> URL {
        try trainer.saveCheckpoint(to: checkpointURL)
        try trainer.model.save(weights: modelURL, config: configURL)
        let sheet = directory.appendingPathComponent("sheets").appendingPathComponent(
            String(format: "step-%06d.png", trainer.step))
        let image = ReconstructionSheet.image(inputs: preview, reconstructions: trainer.reconstruct(preview))
        try ImageIO.writePNG(image, to: sheet, text: [("step", String(trainer.step))])
        return sheet
    }

    /// One log line: the step's measurements as a JSON object.
    static func logLine(_ r: VQGANStepRecord) -> String {
        var fields: [(String, Any)] = [("step", r.step), ("lr", Double(r.learningRate)), ("l1", Double(r.l1)),
                                       ("edge", Double(r.edge)), ("quantizer", Double(r.quantizer)),
                                       ("psnr", Double(r.psnr)), ("codes_in_batch", r.codesInBatch),
                                       ("restarted", r.restartedCodes)]
        if let g = r.generator { fields.append(("generator", Double(g))) }
        if let d = r.discriminator { fields.append(("discriminator", Double(d))) }
        if let w = r.adaptiveWeight { fields.append(("adaptive_weight", Double(w))) }
        return "{" + fields.map { key, value in
            let text: String
            if let d = value as? Double { text = d.isFinite ? "\(Float(d))" : "null" } else { text = "\(value)" }
            return "\"\(key)\":\(text)"
        }.joined(separator: ",") + "}"
    }

    private func appendLog(_ lines: [String]) throws {
        guard !lines.isEmpty else { return }
        let text = lines.map { $0 + "\n" }.joined()
        do { try Files.append(Array(text.utf8), to: logURL.path) } catch let error as FileError {
            throw VQGANError("\(logURL.path): cannot write the loss log: \(error.problem)")
        }
    }

    /// Drops log lines of steps after `step` (written by a run killed after its last checkpoint).
    private func truncateLog(after step: Int) throws {
        guard let data = try? Files.read(logURL.path) else { return }
        let kept = String(decoding: data, as: UTF8.self).split(separator: "\n").filter { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let s = object["step"] as? Int else { return false }
            return s <= step
        }
        let text = kept.map { $0 + "\n" }.joined()
        do { try Files.write(Array(text.utf8), to: logURL.path) } catch let error as FileError {
            throw VQGANError("\(logURL.path): cannot rewrite the loss log: \(error.problem)")
        }
    }
}

/// Inputs above their reconstructions, with a 2-pixel gray gutter between images.
public enum ReconstructionSheet {
    /// The sheet for batches [N, 3, H, W] in [−1, 1].
    public static func image(inputs: Tensor, reconstructions: Tensor) -> RGBImage {
        let (n, h, w) = (inputs.shape[0], inputs.shape[2], inputs.shape[3])
        let gap = 2
        let width = n * w + (n + 1) * gap, height = 2 * h + 3 * gap
        var pixels = [UInt8](repeating: 128, count: width * height * 3)
        for (row, batch) in [inputs, reconstructions].enumerated() {
            for k in 0..<n {
                let single = Tensor.slice(batch, axis: 0, range: k..<(k + 1))
                let image = RGBImage(tensor: Tensor(shape: single.shape, data: single.data.map { ($0 + 1) / 2 }))
                let x0 = gap + k * (w + gap), y0 = gap + row * (h + gap)
                for y in 0..<h {
                    for x in 0..<w {
                        for c in 0..<3 {
                            pixels[((y0 + y) * width + x0 + x) * 3 + c] = image.pixels[(y * w + x) * 3 + c]
                        }
                    }
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }
}
