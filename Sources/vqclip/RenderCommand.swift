// `vqclip render "PROMPT"`: the VQGAN+CLIP loop from the command line. Options become a
// RenderSettings value (everything that decides the pixels), the models are found and loaded
// once, and the library's Renderer is driven step by step while this file handles what a user
// sees and keeps: progress, frames, the result PNG with its provenance, state files, Ctrl-C.

import ArgumentParser
import CLIP
import FilePaths
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

    @OptionGroup(title: "Render settings") var settingsOptions: SettingsOptions
    @OptionGroup(title: "Models") var modelOptions: ModelOptions
    @OptionGroup(title: "Progress files") var progress: ProgressOptions

    @Option(name: .long, help: ArgumentHelp("Result PNG (default outputs/<prompt-slug>-<seed>-<hash of prompt and settings>.png).", valueName: "path"))
    var output: String?

    @Option(name: .long, help: ArgumentHelp("Save the run's state here (z, optimiser, step, random stream) to resume it.", valueName: "path"))
    var state: String?

    @Option(name: .long, help: ArgumentHelp("Continue a run from its state file.", valueName: "path"))
    var resume: String?

    @Option(name: .long, help: ArgumentHelp("Render again the image recorded in this PNG.", valueName: "png"))
    var replay: String?

    @Flag(name: .long, help: "At the end, turn the frames into an animated GIF and a contact sheet (with --frames).")
    var animate = false

    @OptionGroup var reporting: ReportingOptions

    func validate() throws {
        if animate, progress.frames == nil { throw ValidationError("--animate needs --frames DIR") }
        if replay != nil, resume != nil { throw ValidationError("--replay and --resume cannot be combined") }
        if replay == nil, resume == nil, prompt == nil { throw ValidationError("a PROMPT is required (or --replay / --resume)") }
        if replay != nil || resume != nil, prompt != nil {
            throw ValidationError("--\(replay != nil ? "replay" : "resume") takes the prompt and settings from its file; drop the PROMPT")
        }
    }

    func run() throws {
        let reporter = Reporter(command: "render", json: reporting.json)
        defer { reporter.endBar() }

        // Settings: from the options, a replayed PNG or a state file.
        let settings: RenderSettings
        var recorded: [String: String] = [:]
        var outputPath = output
        if let replay {
            recorded = Dictionary(try ImageIO.readText(contentsOf: Files.url(replay)).map { ($0.keyword, $0.text) },
                                  uniquingKeysWith: { $1 })
            guard let json = recorded["vqclip_settings"] else { throw BadInput("\(replay): no vqclip render settings in this image") }
            settings = try RenderSettings(json: json)
            outputPath = outputPath ?? Files.url(replay).deletingPathExtension().path + "-replay.png"
        } else if let resume {
            settings = try RenderState.settings(in: Files.url(resume))
        } else {
            let options = LoadedModels.usesEmbedded(modelOptions) ? settingsOptions.laid(over: .embeddedDefaults) : settingsOptions
            settings = try options.settings(prompt: prompt!, defaultSeed: String(UInt64.random(in: 0..<(1 << 32))))
        }
        let output = Files.url(outputPath ?? "outputs/" + Outputs.uniqueStem(prompt: settings.prompt, seed: settings.seedValue,
                                                                                        settings: settings.jsonString()) + ".png")
        // Cheap checks before the models load.
        try Outputs.checkWritable(file: output)
        let stateURL = (state ?? resume).map { Files.url($0) }

        let loaded = try LoadedModels.load(modelOptions, recorded: recorded)
        if let replay {
            for (kind, identity) in [("vqgan", loaded.models.vqganIdentity), ("clip", loaded.models.clipIdentity)] {
                if let expected = recorded["\(kind)_sha256"], expected != identity.sha256 {
                    throw BadInput("\(replay): rendered with \(kind) weights sha256 \(expected.prefix(12))…, but \(identity.path) has \(identity.sha256.prefix(12))…; pass --\(kind) with the original weights")
                }
            }
        }
        let job = RenderJob(settings: settings, loaded: loaded, output: output, progress: progress, state: stateURL,
                            resume: resume != nil, force: modelOptions.force)
        Interrupt.install()
        defer { Interrupt.uninstall() }
        let outcome = try job.run(reporter: reporter)
        if outcome.interrupted {
            reporter.endBar()
            Terminal.writeError("vqclip: interrupted at step \(outcome.steps) of \(settings.iterations); image saved to \(output.path)"
                                + (stateURL.map { ", state to \($0.path) (continue with --resume \($0.path))" } ?? "") + "\n")
            throw ExitCode(130)
        }
        if animate, let frames = progress.frames {
            for written in try Animation.write(frames: Files.url(frames), fps: 10, mp4: false) {
                reporter.saved(path: written.path, kind: "animation", step: outcome.steps)
            }
        }
        reporter.done([("path", .string(output.path)), ("steps", .int(outcome.steps)), ("loss", outcome.loss.map(JSONValue.float) ?? .null)],
                      summary: "done: \(outcome.steps) steps" + (outcome.loss.map { ", loss \(String(format: "%.4f", $0))" } ?? ""))
    }
}
