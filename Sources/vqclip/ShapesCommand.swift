// `vqclip shapes`: renders ShapeWorld scenes (the captioned training world) to PNG files, either
// the scene a prompt describes or a seeded batch of random scenes with their captions.

import ArgumentParser
import FilePaths
import Foundation
import ImageCodecs
import ImageTensors
import ShapeWorld
import Tensors

struct ShapesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shapes",
        abstract: "Render ShapeWorld scenes (captioned shapes) to PNG files.",
        discussion: """
            With --prompt, renders the scene the prompt describes to DIR/<prompt-slug>-<seed>.png. \
            Without it, renders --count random scenes of the --seed stream to \
            DIR/shapes-<seed>-<index>.png, lone shapes at one of nine absolute positions. Each PNG \
            carries its canonical caption in a "caption" text chunk and, for random scenes, the same \
            scene in one of the training templates (some facts left out) in "template_caption".
            """)

    @Option(name: .long, help: ArgumentHelp("Directory for the PNG files (created if missing).", valueName: "dir"))
    var output: String

    @Option(name: .long, help: "A scene description such as \"a small red circle on a blue background\".")
    var prompt: String?

    @Option(name: .long, help: "Number of random scenes to render when no --prompt is given.")
    var count: Int = 8

    @Option(name: .long, help: "Seed of the random scene stream.")
    var seed: UInt64 = 0

    @Option(name: .long, help: "Width and height of each image in pixels.")
    var size: Int = 128

    @OptionGroup var reporting: ReportingOptions

    func validate() throws {
        try requireRange(size, 1...4096, "size")
        try requireRange(count, 1...100_000, "count")
    }

    func run() throws {
        let directory = Files.url(output)
        let reporter = Reporter(command: "shapes", json: reporting.json)
        defer { reporter.endBar() }
        try Outputs.prepareDirectory(directory)

        var jobs: [(Scene, URL)] = []
        var templates: [String] = []
        var ignored: [IgnoredPart] = []
        if let prompt {
            let parsed = try CaptionParser.parse(prompt)
            ignored = parsed.ignored
            jobs = [(Scene(spec: parsed.spec), Outputs.resultURL(in: directory, prompt: prompt, seed: seed))]
        } else {
            let generator = ShapeWorldGenerator(seed: seed, absolutePositions: true)
            jobs = (0..<count).map { i in
                (generator.scene(at: i), directory.appendingPathComponent(String(format: "shapes-%llu-%04d.png", seed, i)))
            }
            var rng = SeededGenerator(seed: seed)
            templates = jobs.map { CaptionWriter.caption(for: $0.0.spec, using: &rng).text }
        }
        let promptField: [(String, JSONValue)] = prompt.map { [("prompt", .string($0))] } ?? []
        reporter.start(promptField + [("seed", .uint(seed)), ("count", .int(jobs.count)), ("size", .int(size)),
                                      ("output", .string(directory.path))],
                       summary: "rendering \(jobs.count) scene\(jobs.count == 1 ? "" : "s") at \(size)x\(size) into \(directory.path)")
        // Every word or object of the prompt that the scene leaves out is named.
        for part in ignored {
            reporter.note("ignored", [("text", .string(part.text)), ("reason", .string(part.reason))],
                          text: "ignored \(part) in the prompt; the scene is \"\(jobs[0].0.caption)\"")
        }
        for (k, (scene, url)) in jobs.enumerated() {
            let image = RGBImage(tensor: ShapeRasterizer.render(scene, width: size, height: size))
            let template: [(String, String)] = k < templates.count ? [("template_caption", templates[k])] : []
            try ImageIO.writePNG(image, to: url, text: Outputs.metadata([("caption", scene.caption)] + template + [("seed", String(seed))]))
            reporter.progress(step: k + 1, total: jobs.count)
            reporter.saved(path: url.path, kind: "final", step: k + 1)
        }
        reporter.done([("count", .int(jobs.count))], summary: "rendered \(jobs.count) scene\(jobs.count == 1 ? "" : "s")")
    }
}
