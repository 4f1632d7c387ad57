// `vqclip eval render`: renders fresh one-object ShapeWorld captions with the render defaults and
// checks each image with the pixel judge: per stated attribute, and whether the image satisfies
// everything its caption states. The captions come from a seed of their own (not the training
// streams) through the same writer as the CLIP's training captions, so any template can occur.

import ArgumentParser
import FilePaths
import Foundation
import Generation
import ShapeWorld
import Tensors

struct EvalRenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Render fresh ShapeWorld captions and judge the images (share satisfying every stated attribute).")

    @Option(name: .long, help: "Captions to render.")
    var count: Int = 20

    @Option(name: .customLong("caption-seed"), help: "Seed of the scenes and captions (not a training stream).")
    var captionSeed: UInt64 = 31_337

    @Option(name: .customLong("output-dir"), help: ArgumentHelp("Where the rendered images go.", valueName: "dir"))
    var outputDir: String = "outputs/eval-render"

    @OptionGroup(title: "Render settings") var settingsOptions: SettingsOptions
    @OptionGroup(title: "Models") var modelOptions: ModelOptions
    @OptionGroup var reporting: ReportingOptions

    func validate() throws { try requireRange(count, 1...10_000, "count") }

    func run() throws {
        let reporter = Reporter(command: "eval render", json: reporting.json)
        defer { reporter.endBar() }
        let directory = Files.url(outputDir)
        try Outputs.prepareDirectory(directory)
        let loaded = try LoadedModels.load(modelOptions)
        let base = LoadedModels.usesEmbedded(modelOptions) ? settingsOptions.laid(over: .embeddedDefaults) : settingsOptions
        let generator = ShapeWorldGenerator(seed: captionSeed, pairProbability: 0, absolutePositions: true)
        Interrupt.install()
        defer { Interrupt.uninstall() }

        var stated: [String: Int] = [:], hits: [String: Int] = [:]
        var satisfied = 0
        for k in 0..<count {
            let scene = generator.scene(at: k)
            var rng = SeededGenerator(seed: captionSeed &+ UInt64(k) &* 0x9E37_79B9)
            let caption = CaptionWriter.caption(for: scene.spec, using: &rng)
            let settings = try base.settings(prompt: caption.text, defaultSeed: String(k))
            let output = directory.appendingPathComponent(String(format: "%03d-", k) + Outputs.slug(caption.text) + ".png")
            reporter.context = [("index", .int(k))]
            let outcome = try RenderJob(settings: settings, loaded: loaded, output: output, force: modelOptions.force).run(reporter: reporter)
            reporter.context = []
            if outcome.interrupted { throw ExitCode(130) }

            let judged = ShapeJudge.judge(outcome.image)
            let m = caption.mention
            let checks = ShapeJudge.checks(judged, against: m)
            for (name, ok) in checks {
                stated[name, default: 0] += 1
                if ok { hits[name, default: 0] += 1 }
            }
            let all = judged?.satisfies(m) ?? false
            if all { satisfied += 1 }
            let seen = judged.map { "\($0.size.rawValue) \($0.color.rawValue) \($0.shape.rawValue) \($0.position.rawValue) on \($0.background.rawValue)" } ?? "nothing"
            reporter.lineResult(all ? "satisfied" : "missed", file: output.path, line: k,
                                fields: [("caption", .string(caption.text)), ("judged", .string(seen)),
                                         ("checks", .object(checks.map { ($0.0, .bool($0.1)) }))],
                                text: "\"\(caption.text)\" → \(seen)")
        }
        _ = try? Gallery.write(folder: directory)
        let attributes = ["color", "shape", "background", "position", "size"].filter { stated[$0] != nil }
        let rates = attributes.map { ($0, Double(hits[$0] ?? 0) / Double(stated[$0]!)) }
        let share = Double(satisfied) / Double(count)
        reporter.done([("satisfied", .int(satisfied)), ("count", .int(count)), ("share", .number(share)),
                       ("attributes", .object(rates.map { ($0.0, .number($0.1)) }))],
                      summary: "eval render: \(satisfied)/\(count) images satisfy every stated attribute ("
                        + rates.map { "\($0.0) \(String(format: "%.2f", $0.1))" }.joined(separator: ", ") + "); images in \(directory.path)")
    }
}
