// `vqclip train`: trainers for the embedded models. `train vqgan` trains the small VQGAN on
// ShapeWorld images into a run directory that it can resume.

import ArgumentParser
import Checkpoints
import FilePaths
import Foundation
import Tensors
import Training
import VQGAN

/// Model sizes `train vqgan` knows.
enum VQGANPreset: String, ExpressibleByArgument, CaseIterable {
    /// The shipped model (64×64 images, f = 2 unless --factor 4).
    case embedded
    /// A seconds-long model for tests (16×16 images).
    case tiny
}

struct TrainVQGANCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vqgan",
        abstract: "Train the small VQGAN (with its patch discriminator) on ShapeWorld images.",
        discussion: """
            Writes into DIR: training-state.safetensors (resumable checkpoint), model.safetensors and \
            config.json (the autoencoder, for render/eval), log.jsonl (losses every 10 steps) and \
            sheets/step-N.png (preview inputs above their reconstructions) every --checkpoint-every \
            steps. --resume continues a run from its checkpoint with its stored settings; a resumed \
            run ends bit for bit where an uninterrupted one would (same --threads). --until stops \
            early at a step without changing the schedule, so a run can be done in parts.
            """)

    @Option(name: .long, help: ArgumentHelp("Run directory (created if missing).", valueName: "dir"))
    var out: String

    @Option(name: .long, help: "Total steps (the learning-rate schedule's length). Default: 5000 (embedded), 8 (tiny). With --resume it replaces the stored value, branching the run.")
    var steps: Int?

    @Option(name: .long, help: "Stop after this step (the schedule still runs to --steps; resume later).")
    var until: Int?

    @Option(name: .long, help: "Images per step.")
    var batch: Int?

    @Option(name: .long, help: "Seed of the training scenes and initial weights.")
    var seed: UInt64 = 0

    @Flag(name: .long, help: "Continue the run saved in DIR.")
    var resume = false

    @Option(name: .long, help: "Threads for the kernels. Default: all cores.")
    var threads: Int?

    @Option(name: .customLong("checkpoint-every"), help: ArgumentHelp("Checkpoint, export and sheet every K steps.", valueName: "K"))
    var checkpointEvery: Int = 250

    @Option(name: .long, help: "Model size: embedded (the shipped model) or tiny (for tests).")
    var preset: VQGANPreset = .embedded

    @Option(name: .long, help: "Base channel count of the embedded preset (a multiple of 8).")
    var ch: Int = 16

    @Option(name: .long, help: ArgumentHelp("Downsampling factor of the embedded preset: 2 (32x32 codes for 64x64 images, the shipped model) or 4 (16x16 codes).", valueName: "f"))
    var factor: Int = 2

    @Option(name: .customLong("disc-start"), help: ArgumentHelp("Step at which the discriminator starts (default: 70% of --steps; past --steps: no GAN). With --resume it replaces the stored value, branching the run.", valueName: "S"))
    var discStart: Int?

    @Option(name: .customLong("init-from"), help: ArgumentHelp("Start from this model directory's weights (model.safetensors + config.json of the same size) instead of random ones.", valueName: "dir"))
    var initFrom: String?

    @Option(name: .long, help: "Peak learning rate (default 5e-4 for the embedded preset).")
    var lr: Float?

    @OptionGroup var reporting: ReportingOptions

    func validate() throws {
        if let steps { try requireRange(steps, 1...10_000_000, "steps") }
        if let until { try requireRange(until, 1...10_000_000, "until") }
        if let batch { try requireRange(batch, 1...4096, "batch") }
        if let threads { try requireRange(threads, 1...256, "threads") }
        if let discStart { try requireRange(discStart, 0...100_000_000, "disc-start") }
        try requireRange(checkpointEvery, 1...10_000_000, "checkpoint-every")
        if resume && (initFrom != nil || lr != nil) {
            throw ValidationError("--init-from and --lr are fixed by the checkpoint; leave them out with --resume")
        }
        if let lr, !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be a positive number, got \(lr)") }
        try requireRange(ch, 8...256, "ch")
        guard ch % 8 == 0 else { throw ValidationError("--ch must be a multiple of 8 (the GroupNorm groups), got \(ch)") }
        guard factor == 2 || factor == 4 else { throw ValidationError("--factor must be 2 or 4, got \(factor)") }
    }

    func run() throws {
        if let threads {
            Parallel.maxThreads = threads
        }
        let directory = Files.url(out)
        var config: VQGANTrainingConfig
        switch preset {
        case .embedded: config = .embedded(steps: steps ?? 5000, batchSize: batch ?? 8, seed: seed, ch: ch, factor: factor)
        case .tiny:
            config = .tiny(steps: steps ?? 8, seed: seed)
            if let batch { config.batchSize = batch }
        }
        if let discStart { config.discriminatorStart = discStart }
        if let lr { config.learningRate = lr }
        var initial: VQModel?
        if let initFrom {
            let folder = Files.url(initFrom)
            let weights = folder.appendingPathComponent("model.safetensors")
            initial = try VQModel.load(checkpoint: weights, config: folder.appendingPathComponent("config.json"))
            config.initFrom = initFrom
            config.initFromSHA256 = try SHA256.hexDigest(ofFile: weights)
        }
        let run = try VQGANTrainingRun(directory: directory, config: config, resume: resume, initial: initial) { stored in
            if let discStart { stored.discriminatorStart = discStart }
            if let steps { stored.steps = steps }
        }
        let trained = run.trainer.config
        let reporter = Reporter(command: "train vqgan", json: reporting.json)
        defer { reporter.endBar() }
        let end = min(until ?? trained.steps, trained.steps)
        reporter.start([("output", .string(directory.path)), ("seed", .uint(trained.seed)), ("steps", .int(trained.steps)),
                        ("until", .int(end)), ("batch", .int(trained.batchSize)), ("resume", .bool(resume)),
                        ("from_step", .int(run.trainer.step)), ("threads", .int(Parallel.maxThreads)),
                        ("parameters", .int(run.trainer.model.parameters.reduce(0) { $0 + $1.tensor.count }))],
                       summary: "train vqgan: \(directory.path), steps \(run.trainer.step)→\(end) of \(trained.steps), "
                           + "batch \(trained.batchSize), seed \(trained.seed), \(Parallel.maxThreads) thread(s)")
        var images = 0, seconds = 0.0
        var last: VQGANStepRecord?
        func rate() -> Double { seconds > 0 ? Double(images) / seconds : 0 }
        try run.run(until: end, checkpointEvery: checkpointEvery) { event in
            switch event {
            case .started:
                break
            case .step(let record, let stepSeconds):
                images += trained.batchSize
                seconds += stepSeconds
                last = record
                var extra: [(String, JSONValue)] = [("l1", .float(record.l1)), ("psnr", .float(record.psnr)),
                                                    ("codes_in_batch", .int(record.codesInBatch)),
                                                    ("images_per_second", .number((rate() * 10).rounded() / 10))]
                if let w = record.adaptiveWeight { extra.append(("adaptive_weight", .float(w))) }
                reporter.progress(step: record.step, total: end, loss: record.l1, extra: extra)
            case .checkpoint(let step, let sheet):
                reporter.saved(path: sheet.path, kind: "sheet", step: step)
                if reporter.mode != .json, let last {
                    reporter.endBar()
                    var line = String(format: "step %d: l1 %.4f edge %.4f psnr %.2f dB, %d codes in batch, %.1f images/s",
                                      step, last.l1, last.edge, last.psnr, last.codesInBatch, rate())
                    if let g = last.generator, let d = last.discriminator, let w = last.adaptiveWeight {
                        line += String(format: ", gan g %.3f d %.3f weight %.3f", g, d, w)
                    }
                    Terminal.writeError(line + "\n")
                }
            }
        }
        reporter.saved(path: run.modelURL.path, kind: "final", step: run.trainer.step)
        reporter.done([("step", .int(run.trainer.step)), ("images_per_second", .number((rate() * 10).rounded() / 10)),
                       ("l1", last.map { .float($0.l1) } ?? .null), ("psnr", last.map { .float($0.psnr) } ?? .null)],
                      summary: String(format: "trained to step %d, %.1f images/s", run.trainer.step, rate()))
    }
}
