// `vqclip render "PROMPT"`: the VQGAN+CLIP loop from the command line. Options become a
// RenderSettings value (everything that decides the pixels), the models are found and loaded
// once, and the library's Renderer is driven step by step while this file handles what a user
// sees and keeps: progress, frames, the result PNG with its provenance, state files, Ctrl-C.

import ArgumentParser
import CLIP
import Foundation
import Generation
import ImageCodecs
import ImageTensors
import Tensors
import VQGAN

struct RenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Render a prompt with VQGAN+CLIP.",
        discussion: """
            PROMPT: prompts separated by `|`, each optionally `text:weight` or `text:weight:stop` \
            (negative weights push away); `^` separates prompt sets switched every \
            --change-prompt-every steps. Models: --vqgan (taming .ckpt with its .yaml, or a vqclip \
            folder) and --clip (OpenAI .pt, Hugging Face folder or vqclip folder), by path or by \
            name in $VQCLIP_MODELS (default ~/.cache/vqclip). The result PNG records the prompt, \
            every setting and the models' SHA-256, so `--replay IMAGE.png` renders it again bit \
            for bit. Ctrl-C saves the current image (and state, with --state) and exits 130.
            """)

    @Argument(help: "What to render (see above). Not needed with --replay or --resume.")
    var prompt: String?

    @Option(name: .customLong("image-prompt"), help: ArgumentHelp("An image to steer towards, PATH[:weight[:stop]] (repeatable).", valueName: "path"))
    var imagePrompts: [String] = []

    @Option(name: .long, help: ArgumentHelp("Image size WxH (or one number for a square), rounded down to a multiple of the VQGAN's factor.", valueName: "WxH"))
    var size: String?

    @Option(name: .long, help: "Optimisation steps.")
    var iterations: Int = 500

    @Option(name: .long, help: "Learning rate.")
    var lr: Float = 0.1

    @Option(name: .long, help: ArgumentHelp("Optimiser: \(OptimizerKind.allCases.map(\.rawValue).joined(separator: ", ")).", valueName: "name"))
    var optimizer: String = "adam"

    @Option(name: .long, help: "Views scored by CLIP per step.")
    var cutn: Int = 32

    @Option(name: .customLong("cut-pow"), help: "Cutout size exponent (original method): larger favours small cutouts.")
    var cutPow: Float = 1

    @Option(name: .customLong("cut-method"), help: ArgumentHelp("original (random squares) or latest (whole image pooled, augmented).", valueName: "method"))
    var cutMethod: String = "latest"

    @Option(name: .long, help: ArgumentHelp("Augmentations of the latest method, comma-separated from Af,Pe,Ji,Er, or 'none'.", valueName: "list"))
    var augments: String = "Af,Pe,Ji,Er"

    @Option(name: .long, help: "Seed: an integer or any string. Default: random, printed and recorded.")
    var seed: String?

    @Option(name: .customLong("init-image"), help: ArgumentHelp("Start from this PNG or JPEG.", valueName: "path"))
    var initImage: String?

    @Option(name: .customLong("init-noise"), help: ArgumentHelp("Start without an image from: codes, pixels or gradient.", valueName: "kind"))
    var initNoise: String = "codes"

    @Option(name: .customLong("init-weight"), help: "Weight of the term that keeps z near its start.")
    var initWeight: Float = 0

    @Option(name: .customLong("change-prompt-every"), help: ArgumentHelp("Switch to the next `^` prompt set every N steps.", valueName: "N"))
    var changePromptEvery: Int = 0

    @Option(name: .long, help: "Threads (default: all cores).")
    var threads: Int?

    @Option(name: .long, help: ArgumentHelp("VQGAN: path or known name.", valueName: "model"))
    var vqgan: String?

    @Option(name: .long, help: ArgumentHelp("CLIP: path or known name.", valueName: "model"))
    var clip: String?

    @Option(name: .long, help: ArgumentHelp("Result PNG (default outputs/<prompt-slug>-<seed>.png).", valueName: "path"))
    var output: String?

    @Option(name: .customLong("save-every"), help: ArgumentHelp("Overwrite the result with the current image every K steps.", valueName: "K"))
    var saveEvery: Int = 0

    @Option(name: .long, help: ArgumentHelp("Folder for numbered progress frames.", valueName: "dir"))
    var frames: String?

    @Option(name: .customLong("frame-every"), help: ArgumentHelp("Write a frame every K steps (with --frames).", valueName: "K"))
    var frameEvery: Int = 10

    @Option(name: .long, help: ArgumentHelp("Save the run's state here (z, optimiser, step, random stream) to resume it.", valueName: "path"))
    var state: String?

    @Option(name: .customLong("state-every"), help: ArgumentHelp("Save the state every K steps (with --state).", valueName: "K"))
    var stateEvery: Int = 25

    @Option(name: .long, help: ArgumentHelp("Continue a run from its state file.", valueName: "path"))
    var resume: String?

    @Option(name: .long, help: ArgumentHelp("Render again the image recorded in this PNG.", valueName: "png"))
    var replay: String?

    @Flag(name: .long, help: "Start even when the memory estimate exceeds the available memory.")
    var force = false

    @OptionGroup var reporting: ReportingOptions

    func validate() throws {
        try requireRange(iterations, 1...1_000_000, "iterations")
        try requireRange(cutn, 1...1024, "cutn")
        try requireRange(saveEvery, 0...1_000_000, "save-every")
        try requireRange(frameEvery, 1...1_000_000, "frame-every")
        try requireRange(stateEvery, 1...1_000_000, "state-every")
        try requireRange(changePromptEvery, 0...1_000_000, "change-prompt-every")
        if let threads { try requireRange(threads, 1...1024, "threads") }
        guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be a positive number, got \(lr)") }
        guard cutPow > 0, cutPow.isFinite else { throw ValidationError("--cut-pow must be a positive number, got \(cutPow)") }
        guard initWeight.isFinite, initWeight >= 0 else { throw ValidationError("--init-weight must be 0 or more, got \(initWeight)") }
        if replay != nil, resume != nil { throw ValidationError("--replay and --resume cannot be combined") }
        if replay == nil, resume == nil, prompt == nil { throw ValidationError("a PROMPT is required (or --replay / --resume)") }
        if (replay != nil || resume != nil), prompt != nil {
            throw ValidationError("--\(replay != nil ? "replay" : "resume") takes the prompt and settings from its file; drop the PROMPT")
        }
    }

    func run() throws {
        let reporter = Reporter(command: "render", json: reporting.json)
        defer { reporter.endBar() }
        let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))

        // 1. Settings: from the options, a replayed PNG or a state file.
        var settings: RenderSettings
        var vqganSpec = vqgan, clipSpec = clip
        var threadCount = threads ?? cores
        var recorded: [String: String] = [:]
        var outputPath = output
        if let replay {
            recorded = Dictionary(try ImageIO.readText(contentsOf: URL(fileURLWithPath: replay)).map { ($0.keyword, $0.text) },
                                  uniquingKeysWith: { $1 })
            guard let json = recorded["vqclip_settings"] else { throw BadInput("\(replay): no vqclip render settings in this image") }
            settings = try RenderSettings(json: json)
            vqganSpec = vqganSpec ?? recorded["vqgan"]
            clipSpec = clipSpec ?? recorded["clip"]
            threadCount = threads ?? recorded["threads"].flatMap { Int($0) } ?? cores
            if outputPath == nil {
                let url = URL(fileURLWithPath: replay)
                outputPath = url.deletingPathExtension().path + "-replay.png"
            }
        } else if let resume {
            settings = try RenderState.settings(in: URL(fileURLWithPath: resume))
        } else {
            settings = try makeSettings()
        }
        _ = try PromptSyntax.parse(settings.prompt)
        let imagePromptSpecs = try settings.imagePrompts.map { try PromptSyntax.parseOne($0) }
        Parallel.maxThreads = threadCount
        Parallel.setBLASThreads(threadCount)

        // 2. Inputs are read and outputs checked before any model is loaded or step taken.
        let initTensor = try settings.initImage.map { try ImageIO.read(contentsOf: URL(fileURLWithPath: $0)).tensor() }
        let imagePromptTensors = try imagePromptSpecs.map {
            (label: $0.text, image: try ImageIO.read(contentsOf: URL(fileURLWithPath: $0.text)).tensor(), weight: $0.weight, stop: $0.stop)
        }
        let resultURL = URL(fileURLWithPath: outputPath ?? Outputs.resultURL(in: URL(fileURLWithPath: "outputs"), prompt: settings.prompt,
                                                                             seed: settings.seedValue).path)
        try Outputs.checkWritable(file: resultURL)
        let framesURL = frames.map { URL(fileURLWithPath: $0) }
        if let framesURL { try Outputs.prepareDirectory(framesURL); try Outputs.checkWritable(file: framesURL.appendingPathComponent("step-0000.png")) }
        let stateURL = (state ?? resume).map { URL(fileURLWithPath: $0) }
        if let stateURL { try Outputs.checkWritable(file: stateURL) }

        // 3. Models.
        guard let vqganSpec, let clipSpec else {
            throw BadInput("no embedded default model yet: pass --vqgan PATH and --clip PATH (or known names in \(ModelLocator.modelsFolder().path))")
        }
        let models = try RenderModels.load(vqgan: vqganSpec, clip: clipSpec)
        if replay != nil {
            for (kind, identity) in [("vqgan", models.vqganIdentity), ("clip", models.clipIdentity)] {
                if let expected = recorded["\(kind)_sha256"], expected != identity.sha256 {
                    throw BadInput("\(replay!): rendered with \(kind) weights sha256 \(expected.prefix(12))…, but \(identity.path) has \(identity.sha256.prefix(12))…; pass --\(kind) with the original weights")
                }
            }
        }

        // 4. Size and cost.
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

        // 5. The renderer, restored when resuming.
        let renderer = try Renderer(settings: settings, vqgan: models.vqgan, clip: models.clip, tokenizer: models.tokenizer,
                                    initImage: initTensor, imagePrompts: imagePromptTensors)
        if let resume { try renderer.restoreState(from: URL(fileURLWithPath: resume)) }

        // No command line or output path in the metadata: the same render gives the same bytes.
        func metadata(step: Int, loss: Float?) -> [(String, String)] {
            Outputs.metadata([
                ("prompt", settings.prompt), ("seed", settings.seed), ("vqclip_settings", settings.jsonString()),
                ("vqgan", vqganSpec), ("vqgan_sha256", models.vqganIdentity.sha256),
                ("clip", clipSpec), ("clip_sha256", models.clipIdentity.sha256),
                ("threads", String(threadCount)), ("step", String(step)),
            ] + (loss.map { [("loss", "\($0)")] } ?? []))
        }
        func write(_ url: URL, step: Int, loss: Float?) throws {
            try ImageIO.writePNG(RGBImage(tensor: renderer.currentImage()), to: url, text: metadata(step: step, loss: loss))
        }

        var startFields: [(String, JSONValue)] = [
            ("prompt", .string(settings.prompt)), ("seed", .string(settings.seed)), ("seed_value", .uint(settings.seedValue)),
            ("width", .int(width)), ("height", .int(height)), ("iterations", .int(settings.iterations)),
            ("lr", .float(settings.learningRate)), ("optimizer", .string(settings.optimizer.rawValue)),
            ("cutn", .int(settings.cutn)), ("cut_method", .string(settings.cutMethod.rawValue)),
            ("threads", .int(threadCount)), ("vqgan", .string(vqganSpec)), ("clip", .string(clipSpec)),
            ("output", .string(resultURL.path)), ("estimated_peak_bytes", .int(estimate.peakBytes)),
            ("from_step", .int(renderer.step)),
        ]
        if let framesURL { startFields.append(("frames", .string(framesURL.path))) }
        var summary = "render: \"\(settings.prompt)\", seed \(settings.seed), \(width)x\(height), \(settings.iterations) steps"
        if width != settings.width || height != settings.height {
            summary += " (size \(settings.width)x\(settings.height) rounded down to a multiple of \(factor))"
        }
        if renderer.step > 0 { summary += ", resuming at step \(renderer.step)" }
        reporter.start(startFields, summary: summary)

        // 6. The loop. Ctrl-C finishes the current step, then saves and exits 130.
        Interrupt.install()
        defer { Interrupt.uninstall() }
        var lastLoss: Float?
        if let framesURL, renderer.step == 0 {
            let url = framesURL.appendingPathComponent("step-0000.png")
            try write(url, step: 0, loss: nil)
            reporter.saved(path: url.path, kind: "frame", step: 0)
        }
        while renderer.step < settings.iterations {
            let report: LossReport
            do { report = try renderer.takeStep() } catch let error as NonFiniteLossError {
                try write(resultURL, step: renderer.step, loss: lastLoss)
                reporter.saved(path: resultURL.path, kind: "final", step: renderer.step)
                throw BadInput("\(error); the last good image is in \(resultURL.path)")
            }
            lastLoss = report.total
            let step = renderer.step
            reporter.progress(step: step, total: settings.iterations, loss: report.total,
                              extra: [("terms", .object(report.terms.map { ($0.name, JSONValue.float($0.value)) }))])
            if let framesURL, step % frameEvery == 0 || step == settings.iterations {
                let url = framesURL.appendingPathComponent(String(format: "step-%04d.png", step))
                try write(url, step: step, loss: report.total)
                reporter.saved(path: url.path, kind: "frame", step: step)
            }
            if saveEvery > 0, step % saveEvery == 0, step < settings.iterations {
                try write(resultURL, step: step, loss: report.total)
                reporter.saved(path: resultURL.path, kind: "progress", step: step)
            }
            if let stateURL, step % stateEvery == 0, step < settings.iterations {
                try renderer.saveState(to: stateURL)
            }
            if Interrupt.requested, step < settings.iterations {
                if let stateURL { try renderer.saveState(to: stateURL) }
                try write(resultURL, step: step, loss: report.total)
                reporter.saved(path: resultURL.path, kind: "interrupted", step: step)
                reporter.endBar()
                Terminal.writeError("vqclip: interrupted at step \(step) of \(settings.iterations); image saved to \(resultURL.path)"
                                    + (stateURL.map { ", state to \($0.path) (continue with --resume \($0.path))" } ?? "") + "\n")
                throw ExitCode(130)
            }
        }
        try write(resultURL, step: renderer.step, loss: lastLoss)
        // A finished run needs no state: a later --resume of it would do nothing.
        if let stateURL { try? FileManager.default.removeItem(at: stateURL) }
        reporter.saved(path: resultURL.path, kind: "final", step: renderer.step)
        reporter.done([("path", .string(resultURL.path)), ("steps", .int(renderer.step)),
                       ("loss", lastLoss.map(JSONValue.float) ?? .null)],
                      summary: "done: \(renderer.step) steps" + (lastLoss.map { ", loss \(String(format: "%.4f", $0))" } ?? ""))
    }

    /// The settings the options describe.
    func makeSettings() throws -> RenderSettings {
        var s = RenderSettings(prompt: prompt!, seed: seed ?? String(UInt64.random(in: 0..<(1 << 32))))
        if let size {
            let parts = size.lowercased().split(separator: "x", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), let w = Int(parts[0]), let h = Int(parts.last!), w > 0, h > 0, w <= 8192, h <= 8192 else {
                throw ValidationError("--size must be WxH or N with sides from 1 to 8192, got \(size)")
            }
            (s.width, s.height) = (w, h)
        }
        s.imagePrompts = imagePrompts
        s.iterations = iterations
        s.learningRate = lr
        guard let optimizerKind = OptimizerKind(rawValue: optimizer.lowercased()) else {
            throw ValidationError("--optimizer must be one of \(OptimizerKind.allCases.map(\.rawValue).joined(separator: ", ")), got \(optimizer)")
        }
        s.optimizer = optimizerKind
        s.cutn = cutn
        s.cutPow = cutPow
        guard let method = CutMethod(rawValue: cutMethod.lowercased()) else {
            throw ValidationError("--cut-method must be original or latest, got \(cutMethod)")
        }
        s.cutMethod = method
        if augments.lowercased() == "none" { s.augments = [] } else {
            s.augments = try augments.split(separator: ",").map { name in
                guard let a = Augmentation(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--augments takes Af, Pe, Ji, Er or none, got \(name)")
                }
                return a
            }
        }
        s.initImage = initImage
        guard let noise = InitNoise(rawValue: initNoise.lowercased()) else {
            throw ValidationError("--init-noise must be codes, pixels or gradient, got \(initNoise)")
        }
        s.initNoise = noise
        s.initWeight = initWeight
        s.changePromptEvery = changePromptEvery
        return s
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
