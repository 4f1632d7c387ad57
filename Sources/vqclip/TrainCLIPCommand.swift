// `vqclip train clip`: trains the small CLIP on ShapeWorld, resumably. DIR holds the training
// state (checkpoint.safetensors), the shipped form of the model (model.safetensors, float16, with
// config.json), a JSON-lines log (log.jsonl: one line per step and per evaluation) and, at each
// checkpoint, a zero-shot confusion sheet (zero-shot-STEP.png).

import ArgumentParser
import CLIP
import Checkpoints
import FilePaths
import Foundation
import ImageCodecs
import Tensors
import Training

struct TrainCLIPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clip",
        abstract: "Train the small CLIP (contrastive, with attribute heads and hard negatives) on ShapeWorld.",
        discussion: """
            Writes DIR/checkpoint.safetensors (the whole training state) and DIR/model.safetensors \
            (the model, loadable with --clip) every --checkpoint-every steps, each time with a \
            zero-shot evaluation on fresh images (DIR/zero-shot-STEP.png, and a line in DIR/log.jsonl). \
            With --resume, continues from DIR's checkpoint exactly as if never stopped.
            """)

    @Option(name: .long, help: ArgumentHelp("Directory for checkpoints, the model and logs.", valueName: "dir"))
    var out: String

    @Option(name: .long, help: "Total training steps (on --resume: the new total).")
    var steps: Int?

    @Option(name: .long, help: "Images per batch.")
    var batch: Int = 128

    @Option(name: .long, help: "Seed of the weights and of the data stream.")
    var seed: UInt64 = 0

    @Flag(name: .long, help: "Continue from DIR/checkpoint.safetensors.")
    var resume = false

    @Option(name: .long, help: "Stop after this step (the schedule still runs to --steps; continue with --resume).")
    var until: Int?

    @Option(name: .long, help: "Threads for the numeric kernels.")
    var threads: Int = 1

    @Option(name: .customLong("checkpoint-every"), help: "Steps between checkpoints and evaluations.")
    var checkpointEvery: Int = 100

    @Option(name: .customLong("eval-samples"), help: "Fresh images per zero-shot evaluation.")
    var evalSamples: Int = 300

    @Option(name: .customLong("init-from"), help: ArgumentHelp("Start from this CLIP's weights (a folder or file of the same size, e.g. EmbeddedModels/clip) instead of random ones.", valueName: "model"))
    var initFrom: String?

    @Option(name: .long, help: "Peak learning rate (default 1e-3).")
    var lr: Float?

    @Option(name: .customLong("warmup-steps"), help: "Steps of linear warm-up (default 200, at most a tenth of --steps).")
    var warmupSteps: Int?

    @Option(name: .customLong("adversarial-steps"), help: "Projected gradient ascent steps per batch for adversarial training (default 0: off).")
    var adversarialSteps: Int = 0

    @Option(name: .customLong("adversarial-eps"), help: "Radius of the adversarial perturbation in pixel units of [0, 1] (default 1 for l2, 4/255 for linf).")
    var adversarialEps: Float?

    @Option(name: .customLong("adversarial-norm"), help: ArgumentHelp("l2 (default) or linf.", valueName: "norm"))
    var adversarialNorm: String = "l2"

    @Option(name: .customLong("adversarial-fraction"), help: "Share of each batch's images perturbed (default 0.5).")
    var adversarialFraction: Double = 0.5

    @Option(name: .long, help: "Fragment images per batch that no caption fits (the pieces a render paints; default 0).")
    var distractors: Int = 0

    @Option(name: .customLong("distractor-images"), help: ArgumentHelp(
        "Draw the --distractors from this folder's PNG images (at the CLIP's input size, such as renders that missed their captions) instead of fragments.",
        valueName: "dir"))
    var distractorImages: String?

    @Flag(name: .long, help: ArgumentHelp("A one-layer model on 32x32 images (for tests).", visibility: .hidden))
    var tiny = false

    @OptionGroup var reporting: ReportingOptions

    func validate() throws {
        if let steps { try requireRange(steps, 1...10_000_000, "steps") }
        if let until { try requireRange(until, 1...10_000_000, "until") }
        try requireRange(batch, 4...4096, "batch")
        try requireRange(threads, 1...256, "threads")
        try requireRange(checkpointEvery, 1...1_000_000, "checkpoint-every")
        try requireRange(evalSamples, 1...100_000, "eval-samples")
        try requireRange(adversarialSteps, 0...100, "adversarial-steps")
        try requireRange(distractors, 0...4096, "distractors")
        if distractorImages != nil && distractors == 0 {
            throw ValidationError("--distractor-images needs --distractors N, the number drawn per batch")
        }
        if let lr, !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be a positive number, got \(lr)") }
        if let warmupSteps { try requireRange(warmupSteps, 0...10_000_000, "warmup-steps") }
        if let adversarialEps, !(adversarialEps > 0 && adversarialEps.isFinite) {
            throw ValidationError("--adversarial-eps must be a positive number, got \(adversarialEps)")
        }
        guard CLIPAdversarialTraining.Norm(rawValue: adversarialNorm.lowercased()) != nil else {
            throw ValidationError("--adversarial-norm must be l2 or linf, got \(adversarialNorm)")
        }
        guard adversarialFraction > 0 && adversarialFraction <= 1 else {
            throw ValidationError("--adversarial-fraction must be in (0, 1], got \(adversarialFraction)")
        }
        if resume && (initFrom != nil || lr != nil || warmupSteps != nil || adversarialSteps != 0 || distractors != 0
            || distractorImages != nil) {
            throw ValidationError("--init-from, --lr, --warmup-steps, --distractors, --distractor-images and --adversarial-* are fixed by the checkpoint; leave them out with --resume")
        }
    }

    func run() throws {
        Parallel.maxThreads = threads
        let directory = Files.url(out)
        try Outputs.prepareDirectory(directory)
        let checkpointURL = directory.appendingPathComponent("checkpoint.safetensors")
        let tokenizer = try Tokenizer.bundled()
        let exists = Files.exists(checkpointURL.path)
        let trainer: CLIPTrainer
        if resume {
            guard exists else { throw BadInput("\(checkpointURL.path): no checkpoint to resume from") }
            trainer = try CLIPTrainer(resumingFrom: checkpointURL, tokenizer: tokenizer, steps: steps)
        } else {
            guard !exists else {
                throw BadInput("\(checkpointURL.path) already exists; pass --resume to continue it or choose another --out")
            }
            var configuration = CLIPTrainingConfiguration(model: tiny ? CLIPTrainingConfiguration.tinyModel
                                                                      : CLIPTrainingConfiguration.embeddedModel,
                                                          seed: seed, batchSize: batch, hardNegatives: batch / 2,
                                                          steps: steps ?? 4000, checkpointEvery: checkpointEvery,
                                                          evaluationSamples: evalSamples)
            configuration.warmupSteps = warmupSteps ?? min(configuration.warmupSteps, max(1, configuration.steps / 10))
            if let lr { configuration.learningRate = lr }
            if distractors > 0 { configuration.distractors = distractors }
            if let distractorImages { configuration.distractorImages = Files.url(distractorImages).path }
            if adversarialSteps > 0 {
                let norm = CLIPAdversarialTraining.Norm(rawValue: adversarialNorm.lowercased())!
                configuration.adversarial = CLIPAdversarialTraining(steps: adversarialSteps,
                                                                    epsilon: adversarialEps ?? (norm == .l2 ? 1 : 4 / 255),
                                                                    norm: norm, fraction: adversarialFraction)
            }
            var initial: CLIPModel?
            if let initFrom {
                let url = Files.url(initFrom)
                let model = try CLIPModel(contentsOf: url)
                let file = Files.isDirectory(url.path) ? url.appendingPathComponent("model.safetensors") : url
                configuration.initFrom = initFrom
                configuration.initFromSHA256 = try SHA256.hexDigest(ofFile: file)
                initial = model
            }
            trainer = try CLIPTrainer(configuration: configuration, tokenizer: tokenizer)
            if let initial {
                do { try trainer.loadInitialWeights(from: initial) } catch { throw BadInput("\(initFrom!): \(error)") }
            }
        }
        let c = trainer.configuration
        let reporter = Reporter(command: "train clip", json: reporting.json)
        defer { reporter.endBar() }
        reporter.start([("out", .string(directory.path)), ("seed", .uint(c.seed)), ("batch", .int(c.batchSize)),
                        ("steps", .int(c.steps)), ("from_step", .int(trainer.step)), ("threads", .int(threads)),
                        ("model", .string(c.model.description)), ("init_from", c.initFrom.map { .string($0) } ?? .null),
                        ("distractors", .int(c.distractors ?? 0)),
                        ("distractor_images", c.distractorImages.map { .string($0) } ?? .null),
                        ("adversarial", c.adversarial.map { .string("\($0.steps) steps, \($0.norm.rawValue) eps \($0.epsilon), fraction \($0.fraction)") } ?? .null)],
                       summary: "training CLIP (\(c.model.description)) from step \(trainer.step) to \(c.steps), batch \(c.batchSize), \(threads) thread\(threads == 1 ? "" : "s"), into \(directory.path)")
        let log = try LogFile(directory.appendingPathComponent("log.jsonl"))
        if (c.distractors ?? 0) > 0 && c.distractorImages == nil {
            // What the fragment negatives look like: scenes of the stream above their fragments.
            let preview = trainer.sampler.distractorPreview(count: 12)
            try ImageIO.writePNG(ReconstructionSheet.image(inputs: preview.sources, reconstructions: preview.fragments),
                                 to: directory.appendingPathComponent("distractors.png"))
        }

        var recentSeconds: [Double] = []
        var lastReport: ZeroShotReport?
        let last = min(c.steps, until ?? c.steps)
        while trainer.step < last {
            let report = try trainer.trainStep()
            recentSeconds.append(report.seconds)
            if recentSeconds.count > 20 { recentSeconds.removeFirst() }
            let rate = Double(c.batchSize * recentSeconds.count) / recentSeconds.reduce(0, +)
            let fields: [(String, JSONValue)] = [
                ("step", .int(report.step)), ("loss", .float(report.loss.total)), ("contrastive", .float(report.loss.contrastive)),
                ("attributes", .float(report.loss.attributes)), ("batch_accuracy", .float(report.loss.batchAccuracy)),
                ("temperature", .float(report.loss.temperature)), ("lr", .float(report.learningRate)),
                ("images_per_second", .number((rate * 10).rounded() / 10)),
            ]
            try log.write([("event", .string("step"))] + fields)
            reporter.progress(step: report.step, total: c.steps, loss: report.loss.total,
                              extra: fields.filter { $0.0 != "step" && $0.0 != "loss" })
            if report.step % c.checkpointEvery == 0 || report.step == last {
                lastReport = try checkpoint(trainer, directory: directory, log: log, reporter: reporter, rate: rate)
            }
        }
        if lastReport == nil { lastReport = try checkpoint(trainer, directory: directory, log: log, reporter: reporter, rate: nil) }
        let accuracy = lastReport!.accuracy
        reporter.done(WorldAttribute.allCases.map { ($0.rawValue, .number(accuracy[$0]!)) }
                      + [("recall_at_1", .number(lastReport!.recallAt1)), ("step", .int(trainer.step))],
                      summary: "trained to step \(trainer.step); zero-shot " + Self.summary(lastReport!))
    }

    /// Saves the training state and the model, evaluates, writes the sheet and logs the results.
    private func checkpoint(_ trainer: CLIPTrainer, directory: URL, log: LogFile, reporter: Reporter, rate: Double?) throws -> ZeroShotReport {
        try trainer.saveCheckpoint(to: directory.appendingPathComponent("checkpoint.safetensors"))
        let modelURL = directory.appendingPathComponent("model.safetensors")
        try trainer.exportModel(to: modelURL)
        try writeAtomically(trainer.configuration.model.jsonDescription + "\n", to: directory.appendingPathComponent("config.json"))
        let report = try CLIPEvaluation.evaluate(trainer.model, tokenizer: trainer.tokenizer,
                                                 seed: 0xE7A1 ^ trainer.configuration.seed,
                                                 samples: trainer.configuration.evaluationSamples)
        let sheet = directory.appendingPathComponent(String(format: "zero-shot-%06d.png", trainer.step))
        try ImageIO.writePNG(CLIPEvaluation.confusionSheet(report), to: sheet)
        let fields: [(String, JSONValue)] = [("step", .int(trainer.step))]
            + WorldAttribute.allCases.map { ($0.rawValue, .number(report.accuracy[$0]!)) }
            + [("recall_at_1", .number(report.recallAt1))]
        try log.write([("event", .string("eval"))] + fields)
        reporter.saved(path: modelURL.path, kind: "checkpoint", step: trainer.step)
        if reporter.mode != .json {
            reporter.endBar()
            let speed = rate.map { String(format: ", %.1f images/s", $0) } ?? ""
            Terminal.writeError("step \(trainer.step): zero-shot \(Self.summary(report))\(speed)\n")
        }
        return report
    }

    static func summary(_ report: ZeroShotReport) -> String {
        WorldAttribute.allCases.map { "\($0.rawValue) \(String(format: "%.3f", report.accuracy[$0]!))" }.joined(separator: ", ")
            + ", recall@1 \(String(format: "%.2f", report.recallAt1))"
    }
}

/// An append-only JSON-lines file, flushed line by line (a killed run keeps every line written).
final class LogFile {
    private let path: String

    init(_ url: URL) throws {
        path = url.path
        do { try Files.append([], to: path) } catch let error as FileError {
            throw BadInput("\(PathBytes.display(path)): cannot create the log file (\(error.problem))")
        }
    }

    func write(_ fields: [(String, JSONValue)]) throws {
        try Files.append(Array((JSONValue.object(fields).encoded + "\n").utf8), to: path)
    }
}
