// `vqclip batch FILE...`: every prompt line of the files rendered with models loaded once.
// Re-running is safe after a crash: a line whose PNG is a finished render of the same settings
// is skipped, and the line that was in progress resumes from its state file. `--shard I/N`
// splits the lines between machines with no coordinator (Slurm job arrays, Kubernetes
// indexed Jobs); output names depend only on the files, so shards agree on them.

import ArgumentParser
import FilePaths
import Foundation
import Generation

struct BatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "Render every prompt line of prompt files, with the models loaded once.",
        discussion: """
            A prompt file has one prompt per line in the render syntax (`|`, `:weight`, `^`); blank \
            lines and lines starting with # are skipped. Render options after the prompt override \
            the batch's own for that line: `a red circle --seed 3 --iterations 200`. Results go to \
            --output-dir (default outputs/<file-stem>/) as <prompt-slug>-<seed>.png (plus a short \
            hash of the settings when two lines would share a name). Re-running the same command \
            skips finished lines and resumes the one that was interrupted. Exit status 0 only when \
            no line failed.
            """)

    @Argument(help: "Prompt files.")
    var files: [String]

    @OptionGroup(title: "Render settings (defaults for every line)") var settingsOptions: SettingsOptions
    @OptionGroup(title: "Models") var modelOptions: ModelOptions
    @OptionGroup(title: "Progress files") var progress: ProgressOptions

    @Option(name: .customLong("output-dir"), help: ArgumentHelp("Folder for the results (default outputs/<file-stem>/).", valueName: "dir"))
    var outputDir: String?

    @Option(name: .long, help: ArgumentHelp("Take every N-th line starting at I (0-based), or `auto` from Slurm's or Kubernetes' job index.", valueName: "I/N|auto"))
    var shard: String?

    @Option(name: .long, help: ArgumentHelp("Number of shards for --shard auto with a Kubernetes indexed Job (JOB_COMPLETION_INDEX).", valueName: "N"))
    var shards: Int?

    @Flag(name: .long, help: "Write each line's progress frames to <name>-frames/ (every --frame-every steps) and animate them.")
    var animate = false

    @Flag(name: .customLong("no-gallery"), help: "Do not write index.html in the output folder at the end.")
    var noGallery = false

    @OptionGroup var reporting: ReportingOptions

    func validate() throws {
        if progress.frames != nil { throw ValidationError("--frames is per render; batch writes each line's frames with --animate") }
        if let shards { try requireRange(shards, 1...1_000_000, "shards") }
    }

    func run() throws {
        let reporter = Reporter(command: "batch", json: reporting.json)
        defer { reporter.endBar() }
        let (shardIndex, shardCount) = try Shard.resolve(shard, shards: shards, environment: ProcessInfo.processInfo.environment)

        let batchOptions = LoadedModels.usesEmbedded(modelOptions) ? settingsOptions.laid(over: .embeddedDefaults) : settingsOptions
        // Every line of every file, named before sharding so that every shard agrees on names.
        var lines: [BatchLine] = []
        var malformed: [(file: String, line: Int, message: String)] = []
        for file in files {
            // Bytes, not text: a path in a line's options is kept exactly, whatever its encoding.
            let bytes: [UInt8]
            do { bytes = try Files.read(file) } catch let error as FileError {
                throw BadInput("\(file): cannot read (\(error.problem))")
            }
            let directory = Files.url(outputDir ?? "outputs/" + Files.url(file).deletingPathExtension().lastPathComponent)
            for (number, text) in BatchLineSyntax.promptLines(bytes) {
                do {
                    let (prompt, options) = try BatchLineSyntax.split(text)
                    let lineOptions = try SettingsOptions.parse(options).laid(over: batchOptions)
                    let settings = try lineOptions.settings(prompt: prompt, defaultSeed: "0")
                    lines.append(BatchLine(file: file, number: number, settings: settings, directory: directory))
                } catch {
                    let message = (error as? UserInputError)?.description ?? SettingsOptions.lineMessage(for: error)
                    malformed.append((file, number, message))
                }
            }
        }
        BatchLine.assignNames(&lines)
        let mine = lines.enumerated().filter { $0.offset % shardCount == shardIndex }.map(\.element)
        let mineMalformed = malformed.enumerated().filter { $0.offset % shardCount == shardIndex }.map(\.element)

        reporter.start([("files", .array(files.map { .string($0) })), ("lines", .int(lines.count)),
                        ("shard", .string("\(shardIndex)/\(shardCount)")), ("to_render", .int(mine.count))],
                       summary: "batch: \(mine.count) of \(lines.count) prompt lines" + (shardCount > 1 ? " (shard \(shardIndex)/\(shardCount))" : ""))
        var failed = 0
        for bad in mineMalformed {
            failed += 1
            reporter.lineResult("failed", file: bad.file, line: bad.line, fields: [("message", .string(bad.message))],
                                text: "\(bad.file):\(bad.line): \(bad.message)")
        }

        let loaded = try LoadedModels.load(modelOptions)
        Interrupt.install()
        defer { Interrupt.uninstall() }
        var done = 0, skipped = 0
        for line in mine {
            let output = line.directory.appendingPathComponent(line.name + ".png")
            let state = line.directory.appendingPathComponent("." + line.name + ".state")
            let place: [(String, JSONValue)] = [("file", .string(line.file)), ("line", .int(line.number))]
            if Files.exists(output.path), loaded.isFinished(output, settings: line.settings) {
                skipped += 1
                reporter.lineResult("skipped", file: line.file, line: line.number, fields: [("path", .string(output.path))],
                                    text: "\(line.file):\(line.number): already done, \(output.path)")
                continue
            }
            // A state from another version of the line's settings is stale: start over.
            let resumable = (try? RenderState.settings(in: state)) == line.settings
            let started = Date()
            reporter.context = place
            defer { reporter.context = [] }
            do {
                var lineProgress = progress
                let framesURL = line.directory.appendingPathComponent(line.name + "-frames")
                if animate { lineProgress.frames = framesURL.path }
                let job = RenderJob(settings: line.settings, loaded: loaded, output: output, progress: lineProgress, state: state,
                                    resume: resumable, force: modelOptions.force)
                let outcome = try job.run(reporter: reporter)
                if animate, !outcome.interrupted {
                    for written in try Animation.write(frames: framesURL, fps: 10, mp4: false) {
                        reporter.saved(path: written.path, kind: "animation", step: outcome.steps)
                    }
                }
                reporter.context = []
                if outcome.interrupted {
                    reporter.endBar()
                    Terminal.writeError("vqclip: interrupted at \(line.file):\(line.number), step \(outcome.steps); run the same command again to continue\n")
                    throw ExitCode(130)
                }
                done += 1
                reporter.lineResult("rendered", file: line.file, line: line.number,
                                    fields: [("path", .string(output.path)), ("loss", outcome.loss.map(JSONValue.float) ?? .null),
                                             ("seconds", .number((Date().timeIntervalSince(started) * 10).rounded() / 10))],
                                    text: "\(line.file):\(line.number): \(output.path)")
            } catch let exit as ExitCode {
                throw exit
            } catch {
                reporter.context = []
                failed += 1
                let message = (error as? UserInputError)?.description ?? "\(error)"
                reporter.lineResult("failed", file: line.file, line: line.number, fields: [("message", .string(message))],
                                    text: "\(line.file):\(line.number): \(message)")
            }
        }
        if !noGallery {
            for directory in Set(mine.map(\.directory.path)).sorted() where Files.isDirectory(directory) {
                let page = try Gallery.write(folder: Files.url(directory))
                reporter.saved(path: page.path, kind: "gallery", step: 0)
            }
        }
        reporter.done([("rendered", .int(done)), ("skipped", .int(skipped)), ("failed", .int(failed))],
                      summary: "batch: \(done) rendered, \(skipped) skipped, \(failed) failed")
        if failed > 0 { throw ExitCode(1) }
    }
}

/// One prompt line and where its result goes.
struct BatchLine {
    let file: String
    let number: Int
    let settings: RenderSettings
    let directory: URL
    /// The output stem, unique within `directory`.
    var name = ""

    /// Names every line `<slug>-<seed>`, adding a short hash of the settings to lines whose
    /// names would collide in the same folder with different settings.
    static func assignNames(_ lines: inout [BatchLine]) {
        var groups: [String: Set<String>] = [:]
        for line in lines {
            let key = line.directory.path + "/" + Outputs.stem(prompt: line.settings.prompt, seed: line.settings.seedValue)
            groups[key, default: []].insert(line.settings.jsonString())
        }
        for i in lines.indices {
            let stem = Outputs.stem(prompt: lines[i].settings.prompt, seed: lines[i].settings.seedValue)
            let key = lines[i].directory.path + "/" + stem
            lines[i].name = groups[key]!.count > 1 ? stem + "-" + shortHash(lines[i].settings.jsonString()) : stem
        }
    }
}

/// Which share of the lines this process renders.
enum Shard {
    static func resolve(_ spec: String?, shards: Int?, environment: [String: String]) throws -> (index: Int, count: Int) {
        guard let spec else { return (0, 1) }
        if spec == "auto" {
            if let id = environment["SLURM_ARRAY_TASK_ID"].flatMap(Int.init), let count = environment["SLURM_ARRAY_TASK_COUNT"].flatMap(Int.init) {
                // Arrays may start at any index (--array=1-8): count from the first.
                let first = environment["SLURM_ARRAY_TASK_MIN"].flatMap(Int.init) ?? 0
                guard count > 0, (0..<count).contains(id - first) else {
                    throw BadInput("--shard auto: SLURM_ARRAY_TASK_ID \(id) is outside \(first)..<\(first + count)")
                }
                return (id - first, count)
            }
            if let index = environment["JOB_COMPLETION_INDEX"].flatMap(Int.init) {
                guard let shards else { throw BadInput("--shard auto: JOB_COMPLETION_INDEX is set; pass --shards N (the Job's completions)") }
                guard (0..<shards).contains(index) else { throw BadInput("--shard auto: JOB_COMPLETION_INDEX \(index) is outside 0..<\(shards)") }
                return (index, shards)
            }
            throw BadInput("--shard auto: neither SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_COUNT (a Slurm job array) nor JOB_COMPLETION_INDEX (a Kubernetes indexed Job) is set")
        }
        let parts = spec.split(separator: "/")
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n > 0, (0..<n).contains(i) else {
            throw ValidationError("--shard must be I/N with 0 <= I < N, or auto; got \(spec)")
        }
        return (i, n)
    }
}

extension BatchLineError: UserInputError {}

extension SettingsOptions {
    /// One line for an option-parsing error of a batch line.
    static func lineMessage(for error: Error) -> String {
        message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid options"
    }
}

