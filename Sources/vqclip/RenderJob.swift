// One render from settings to PNG with models already loaded: the part `render` and `batch`
// share. Inputs are read and outputs checked before the first step; the loop writes frames,
// periodic saves and state files, stops cleanly on Ctrl-C, and the final PNG carries the
// provenance that --replay and batch re-runs read back.

import ArgumentParser
import EmbeddedModels
import FilePaths
import Foundation
import Generation
import ImageCodecs
import ImageTensors
import ShapeWorld
import Tensors

/// Models loaded once per process, with the names the user gave them.
struct LoadedModels {
    let models: RenderModels
    let vqganName: String
    let clipName: String
    let threads: Int

    /// Loads the models the options name; without them, the error says what to pass.
    static func load(_ options: ModelOptions, recorded: [String: String] = [:]) throws -> LoadedModels {
        let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        let threads = options.threads ?? recorded["threads"].flatMap { Int($0) } ?? cores
        Parallel.maxThreads = threads
        let vqgan = options.vqgan ?? recorded["vqgan"] ?? EmbeddedModels.name
        let clip = options.clip ?? recorded["clip"] ?? EmbeddedModels.name
        func location(_ name: String, _ embedded: URL?) throws -> String {
            guard name == EmbeddedModels.name else { return name }
            guard let embedded else {
                throw BadInput("this build has no embedded models: pass --vqgan PATH and --clip PATH (or known names in \(ModelLocator.modelsFolder().path))")
            }
            return embedded.path
        }
        let models = try RenderModels.load(vqgan: try location(vqgan, EmbeddedModels.vqgan), clip: try location(clip, EmbeddedModels.clip))
        return LoadedModels(models: models, vqganName: vqgan, clipName: clip, threads: threads)
    }

    /// True when neither model is named: the render uses the embedded pair and its defaults.
    static func usesEmbedded(_ options: ModelOptions, recorded: [String: String] = [:]) -> Bool {
        (options.vqgan ?? recorded["vqgan"] ?? EmbeddedModels.name) == EmbeddedModels.name
            && (options.clip ?? recorded["clip"] ?? EmbeddedModels.name) == EmbeddedModels.name
    }

    /// The PNG text chunks of an image of `settings` at `step`. The command is rebuilt from the
    /// settings (not the process's arguments) and no output path is recorded: the same render
    /// gives the same bytes wherever it is written.
    func metadata(_ settings: RenderSettings, step: Int, loss: Float?) -> [(String, String)] {
        Outputs.metadata([
            ("prompt", settings.prompt), ("seed", settings.seed), ("vqclip_settings", settings.jsonString()),
            ("vqgan", vqganName), ("vqgan_sha256", models.vqganIdentity.sha256),
            ("clip", clipName), ("clip_sha256", models.clipIdentity.sha256),
            ("threads", String(threads)), ("step", String(step)),
            ("command", settings.commandLine(vqgan: vqganName, clip: clipName, threads: threads)),
        ] + (loss.map { [("loss", "\($0)")] } ?? []))
    }

    /// True when `png` is a finished render of `settings` with these models and thread count.
    func isFinished(_ png: URL, settings: RenderSettings) -> Bool {
        guard let text = try? ImageIO.readText(contentsOf: png) else { return false }
        let fields = Dictionary(text.map { ($0.keyword, $0.text) }, uniquingKeysWith: { $1 })
        return fields["vqclip_settings"] == settings.jsonString() && fields["step"] == String(settings.iterations)
            && fields["vqgan_sha256"] == models.vqganIdentity.sha256 && fields["clip_sha256"] == models.clipIdentity.sha256
            && fields["threads"] == String(threads)
    }
}

/// How a render ended.
struct RenderOutcome {
    let steps: Int
    let loss: Float?
    let interrupted: Bool
    /// The image written last, [1, 3, H, W] in [0, 1].
    let image: Tensor
}

struct RenderJob {
    /// Runs estimated to take longer than this (10 minutes) get a note before they start.
    static let longRunSeconds = 600.0

    /// "25 minutes", "3.5 hours".
    static func duration(_ seconds: Double) -> String {
        seconds < 5400 ? "\(Int((seconds / 60).rounded())) minutes" : String(format: "%.1f hours", seconds / 3600)
    }

    let settings: RenderSettings
    let loaded: LoadedModels
    let output: URL
    var progress = ProgressOptions.none
    var state: URL?
    /// Continue from `state` when it holds this render's state.
    var resume = false
    var force = false

    /// Runs the render, reporting to `reporter`. Returns when done or interrupted (Ctrl-C).
    func run(reporter: Reporter) throws -> RenderOutcome {
        let models = loaded.models
        // Inputs are read and outputs checked before any step is taken.
        let initTensor = try settings.initImage.map { try ImageIO.read(contentsOf: Files.url($0)).tensor() }
        let imagePrompts = try settings.imagePrompts.map { spec -> (label: String, image: Tensor, weight: Float, stop: Float) in
            let p = try PromptSyntax.parseOne(spec)
            return (p.text, try ImageIO.read(contentsOf: Files.url(p.text)).tensor(), p.weight, p.stop)
        }
        try Outputs.checkWritable(file: output)
        let framesURL = progress.frames.map { Files.url($0) }
        if let framesURL { try Outputs.checkWritable(file: framesURL.appendingPathComponent("step-0000.png")) }
        if let state { try Outputs.checkWritable(file: state) }

        // Size and cost.
        let factor = Renderer.factor(of: models.vqgan)
        let (width, height) = (settings.width / factor * factor, settings.height / factor * factor)
        guard width > 0, height > 0 else {
            throw BadInput("--size \(settings.width)x\(settings.height) is smaller than the VQGAN's factor \(factor)")
        }
        let weightCount = (models.vqgan.parameters + models.vqgan.buffers).reduce(0) { $0 + $1.tensor.count }
            + models.clip.parameters.reduce(0) { $0 + $1.tensor.count }
        func cost(_ w: Int, _ h: Int) -> RenderCost {
            RenderCost(vqgan: models.vqgan.config, clip: models.clip.configuration, weightCount: weightCount, width: w, height: h, cutn: settings.cutn)
        }
        let estimate = cost(width, height)
        if let available = RenderCost.availableMemory(), estimate.peakBytes > available, !force {
            let fit = RenderCost.largestFitting(budget: available, width: width, height: height, factor: factor, estimate: cost)
            throw BadInput("\(width)x\(height) with \(settings.cutn) views needs about \(estimate.peakBytes.humanBytes), "
                           + "\(available.humanBytes) is available; " + (fit.map { "the largest size that fits is \($0.width)x\($0.height)" } ?? "no size fits")
                           + " (--force to try anyway)")
        }

        let search = initTensor == nil ? WorldSearch(count: settings.initSearch ?? 0, seed: settings.seedValue, width: width, height: height) : nil
        let renderer = try Renderer(settings: settings, vqgan: models.vqgan, clip: models.clip, tokenizer: models.tokenizer,
                                    initImage: initTensor, imagePrompts: imagePrompts,
                                    initSearch: search)
        if resume, let state { try renderer.restoreState(from: state) }

        @discardableResult
        func write(_ url: URL, step: Int, loss: Float?) throws -> Tensor {
            let image = renderer.currentImage()
            try ImageIO.writePNG(RGBImage(tensor: image), to: url, text: loaded.metadata(settings, step: step, loss: loss))
            return image
        }
        var startFields: [(String, JSONValue)] = [
            ("prompt", .string(settings.prompt)), ("seed", .string(settings.seed)), ("seed_value", .uint(settings.seedValue)),
            ("width", .int(width)), ("height", .int(height)), ("iterations", .int(settings.iterations)),
            ("lr", .float(settings.learningRate)), ("optimizer", .string(settings.optimizer.rawValue)),
            ("cutn", .int(settings.cutn)), ("cut_method", .string(settings.cutMethod.rawValue)),
            ("threads", .int(loaded.threads)), ("vqgan", .string(loaded.vqganName)), ("clip", .string(loaded.clipName)),
            ("output", .string(output.path)), ("estimated_peak_bytes", .int(estimate.peakBytes)), ("from_step", .int(renderer.step)),
        ]
        if let framesURL { startFields.append(("frames", .string(framesURL.path))) }
        var summary = "render: \"\(settings.prompt)\", seed \(settings.seed), \(width)x\(height), \(settings.iterations) steps"
        if width != settings.width || height != settings.height {
            summary += " (size \(settings.width)x\(settings.height) rounded down to a multiple of \(factor))"
        }
        if renderer.step > 0 { summary += ", resuming at step \(renderer.step)" }
        let rate = MachineRate.multiplyAddsPerSecond
        let seconds = estimate.seconds(steps: settings.iterations - renderer.step, multiplyAddsPerSecond: rate)
        startFields += [("estimated_seconds", seconds.isFinite ? .number(seconds.rounded()) : .null),
                        ("gemm_gflops", .number((2 * rate / 1e8).rounded() / 10))]
        reporter.start(startFields, summary: summary)
        if let search, let chosen = search.chosen {
            let scene = chosen.scene.caption
            reporter.note("init_search", [("candidates", .int(search.count)), ("candidate", .int(chosen.drawn)),
                                          ("drawn_scene", .string(search.scenes[chosen.drawn].caption)), ("refinements", .int(chosen.refinements)),
                                          ("scored", .int(chosen.scored)), ("scene", .string(scene)), ("loss", .float(chosen.loss))],
                          text: "starting from \"\(scene)\" (loss \(String(format: "%.3f", chosen.loss))): the best of \(search.count) world scenes, "
                              + "then \(chosen.refinements) one-fact change(s) (\(chosen.scored) scenes scored)")
        }
        // A long run is said, not refused: the user may well mean it.
        if seconds.isFinite, seconds > RenderJob.longRunSeconds {
            reporter.note("long_run", [("estimated_seconds", .number(seconds.rounded()))],
                          text: "this render will take about \(RenderJob.duration(seconds)) (\(settings.iterations - renderer.step) steps at "
                              + "\(width)x\(height) with \(settings.cutn) views on a machine doing \(String(format: "%.0f", 2 * rate / 1e9)) GFLOP/s); "
                              + "fewer --iterations, a smaller --size or fewer --cutn make it shorter")
        }

        // The loop. Ctrl-C finishes the current step, then saves and returns.
        var lastLoss: Float?
        if let framesURL, renderer.step == 0 {
            let url = framesURL.appendingPathComponent("step-0000.png")
            try write(url, step: 0, loss: nil)
            reporter.saved(path: url.path, kind: "frame", step: 0)
        }
        while renderer.step < settings.iterations {
            let report: LossReport
            do { report = try renderer.takeStep() } catch let error as NonFiniteLossError {
                try write(output, step: renderer.step, loss: lastLoss)
                reporter.saved(path: output.path, kind: "final", step: renderer.step)
                throw BadInput("\(error); the last good image is in \(output.path)")
            }
            lastLoss = report.total
            let step = renderer.step
            reporter.progress(step: step, total: settings.iterations, loss: report.total,
                              extra: [("terms", .object(report.terms.map { ($0.name, JSONValue.float($0.value)) }))])
            if let framesURL, step % progress.frameEvery == 0 || step == settings.iterations {
                let url = framesURL.appendingPathComponent(String(format: "step-%04d.png", step))
                try write(url, step: step, loss: report.total)
                reporter.saved(path: url.path, kind: "frame", step: step)
            }
            if progress.saveEvery > 0, step % progress.saveEvery == 0, step < settings.iterations {
                try write(output, step: step, loss: report.total)
                reporter.saved(path: output.path, kind: "progress", step: step)
            }
            if let state, step % progress.stateEvery == 0, step < settings.iterations {
                try renderer.saveState(to: state)
            }
            if Interrupt.requested, step < settings.iterations {
                if let state { try renderer.saveState(to: state) }
                let image = try write(output, step: step, loss: report.total)
                reporter.saved(path: output.path, kind: "interrupted", step: step)
                return RenderOutcome(steps: step, loss: lastLoss, interrupted: true, image: image)
            }
        }
        let image = try write(output, step: renderer.step, loss: lastLoss)
        // A finished run needs no state: a later --resume of it would do nothing.
        if let state { Files.remove(state.path) }
        reporter.saved(path: output.path, kind: "final", step: renderer.step)
        return RenderOutcome(steps: renderer.step, loss: lastLoss, interrupted: false, image: image)
    }
}

/// SIGINT/SIGTERM during a render: the first asks the loop to stop after the current step, a
/// second one ends the process at once.
enum Interrupt {
    nonisolated(unsafe) private static var flag: sig_atomic_t = 0

    static var requested: Bool { flag != 0 }

    static func install() {
        let handler: @convention(c) (Int32) -> Void = { _ in
            if Interrupt.flag != 0 { _exit(130) }
            Interrupt.flag = 1
        }
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
        // A parent may start us with these blocked (some process launchers do); unblock them.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        sigprocmask(SIG_UNBLOCK, &set, nil)
    }

    static func uninstall() {
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}

/// The machine's matrix-product rate, measured once per process (about 0.1 s) when the first
/// render estimates its time, with the thread settings of that render.
enum MachineRate {
    static let multiplyAddsPerSecond = RenderCost.measureMultiplyAddRate()
}
