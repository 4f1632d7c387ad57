// `vqclip demo`: the whole pipeline end to end on what exists today. The prompt is parsed into a
// ShapeWorld scene and rasterized as the target; a latent image is optimised with Adam against
// random cutouts of it; progress frames and the final PNG (with provenance) land in DIR under the
// same names and events `generate` uses.

import ArgumentParser
import Foundation
import Generation
import ImageCodecs
import ImageTensors
import ShapeWorld
import Tensors

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the optimisation pipeline end to end on a ShapeWorld prompt.",
        discussion: """
            The prompt is parsed into a scene of coloured shapes (see `vqclip shapes`), rendered as the \
            target, and a low-resolution latent image is optimised with Adam to match random cutouts \
            of it. Writes DIR/<prompt-slug>-<seed>.png (PNG text chunks: prompt, seed, steps, size, \
            learning rate, cutouts, version) and, with --save-every K, progress frames \
            DIR/<prompt-slug>-<seed>-frames/step-NNNN.png at step 0 and every K steps.
            """)

    static let defaultPrompt = "a large yellow star above a small red circle on a blue background"

    @Option(name: .long, help: ArgumentHelp("Directory for the result and frames (created if missing).", valueName: "dir"))
    var output: String

    @Option(name: .long, help: "What to draw, in ShapeWorld words.")
    var prompt: String = DemoCommand.defaultPrompt

    @Option(name: .long, help: "Width and height of the image in pixels (16-1024).")
    var size: Int = 128

    @Option(name: .long, help: "Number of optimisation steps.")
    var steps: Int = 200

    @Option(name: .customLong("save-every"), help: ArgumentHelp("Save a progress frame every K steps (0: no frames).", valueName: "K"))
    var saveEvery: Int = 50

    @Option(name: .long, help: "Random seed (latent initialisation and cutouts). Default: a random seed, printed and recorded.")
    var seed: UInt64?

    @Option(name: .customLong("init-image"), help: ArgumentHelp("Start from this PNG or JPEG instead of seeded noise.", valueName: "file"))
    var initImage: String?

    @Option(name: .long, help: "Adam learning rate.")
    var lr: Float = 0.1

    @Option(name: .long, help: "Cutouts scored per step.")
    var cutouts: Int = 16

    @OptionGroup var reporting: ReportingOptions

    func validate() throws {
        try requireRange(size, 16...1024, "size")
        try requireRange(steps, 1...100_000, "steps")
        try requireRange(saveEvery, 0...100_000, "save-every")
        try requireRange(cutouts, 1...256, "cutouts")
        guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be a positive number, got \(lr)") }
    }

    func run() throws {
        let seed = self.seed ?? UInt64.random(in: 0..<(1 << 32))
        let parsed = try CaptionParser.parse(prompt)
        // Inputs are read before anything is written, so a bad input leaves DIR untouched.
        let initial = try initImage.map { try ImageIO.read(contentsOf: URL(fileURLWithPath: $0)).tensor() }
        let directory = URL(fileURLWithPath: output)
        try Outputs.prepareDirectory(directory)
        let resultURL = Outputs.resultURL(in: directory, prompt: prompt, seed: seed)
        let framesDirectory = Outputs.frameURL(in: directory, prompt: prompt, seed: seed, step: 0).deletingLastPathComponent()

        var config = FittingConfiguration(width: size, height: size, steps: steps, seed: seed)
        config.learningRate = lr
        config.cutouts = cutouts
        config.cutSize = max(16, size / 4)
        config.snapshotEvery = saveEvery
        config.initialImage = initial

        let reporter = Reporter(command: "demo", json: reporting.json)
        defer { reporter.endBar() }
        var settings: [(String, JSONValue)] = [
            ("prompt", .string(prompt)), ("scene", .string(parsed.spec.caption)), ("seed", .uint(seed)),
            ("steps", .int(steps)), ("size", .array([.int(size), .int(size)])), ("lr", .float(lr)),
            ("cutouts", .int(cutouts)), ("save_every", .int(saveEvery)), ("output", .string(resultURL.path)),
        ]
        if saveEvery > 0 { settings.append(("frames", .string(framesDirectory.path))) }
        if let initImage { settings.append(("init_image", .string(initImage))) }
        if !parsed.ignoredWords.isEmpty { settings.append(("ignored_words", .array(parsed.ignoredWords.map { .string($0) }))) }
        var summary = "demo: \"\(parsed.spec.caption)\", seed \(seed), \(size)x\(size), \(steps) steps"
        if !parsed.ignoredWords.isEmpty { summary += "\nvqclip: note: ignoring unknown words: " + parsed.ignoredWords.joined(separator: ", ") }
        reporter.start(settings, summary: summary)

        let metadata = Outputs.metadata([
            ("prompt", prompt), ("scene", parsed.spec.caption), ("seed", String(seed)), ("steps", String(steps)),
            ("size", "\(size)x\(size)"), ("lr", "\(lr)"), ("cutouts", String(cutouts)), ("command", "demo"),
        ] + (initImage.map { [("init_image", $0)] } ?? []))
        let target = ShapeRasterizer.render(Scene(spec: parsed.spec), width: size, height: size)
        if saveEvery > 0 { try Outputs.prepareDirectory(framesDirectory) }
        let result = try TargetFitting.run(target: target, configuration: config) { event in
            switch event {
            case .progress(let step, let total, let loss):
                reporter.progress(step: step, total: total, loss: loss)
            case .snapshot(let step, let image):
                let url = Outputs.frameURL(in: directory, prompt: prompt, seed: seed, step: step)
                try ImageIO.writePNG(RGBImage(tensor: image), to: url, text: metadata + [("step", String(step))])
                reporter.saved(path: url.path, kind: "frame", step: step)
            }
        }
        try ImageIO.writePNG(RGBImage(tensor: result.image), to: resultURL, text: metadata)
        reporter.saved(path: resultURL.path, kind: "final", step: steps)
        reporter.done([("path", .string(resultURL.path)), ("steps", .int(steps)), ("loss", .float(result.finalLoss)),
                       ("image_mse", .float(result.fullImageError))],
                      summary: "done: \(steps) steps, loss \(String(format: "%.5f", result.finalLoss)), image MSE \(String(format: "%.5f", result.fullImageError))")
    }
}
