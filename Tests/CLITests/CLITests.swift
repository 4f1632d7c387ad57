// The vqclip binary as users run it: a subprocess with pipes (so stderr is not a terminal),
// checked for exit codes, one-line errors, help text, JSON events and the files it writes.
// The test target depends on the executable target, so SwiftPM builds the binary first.

import CLIP
import Foundation
import ImageCodecs
import Tensors
import Testing

/// Output of one run.
struct Run {
    let status: Int32
    let stdout: String
    let stderr: String
}

enum VQClipBinary {
    /// The freshly built binary: next to the test bundle (same build directory), else under the
    /// package's .build/debug.
    static let url: URL = {
        var candidates: [URL] = []
        if let executable = Bundle.main.executableURL {
            candidates.append(executable.deletingLastPathComponent().appendingPathComponent("vqclip"))
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(root.appendingPathComponent(".build/debug/vqclip"))
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates.last!
    }()

    /// Runs the binary (or `program`, e.g. a shell that runs it) with `arguments`.
    static func run(_ arguments: [String], environment: [String: String] = [:], workingDirectory: URL? = nil,
                    program: URL = url) throws -> Run {
        let process = Process()
        process.executableURL = program
        process.arguments = arguments
        if let workingDirectory { process.currentDirectoryURL = workingDirectory }
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        // Files rather than pipes: no deadlock however much either stream writes.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("vqclip-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let out = scratch.appendingPathComponent("out"), err = scratch.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return Run(status: process.terminationStatus,
                   stdout: String(decoding: try Data(contentsOf: out), as: UTF8.self),
                   stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self))
    }
}

extension VQClipBinary {
    /// Starts the binary, waits until its stdout contains `marker`, sends `signal`, and returns
    /// the exit status and what it wrote to stdout.
    static func run(_ arguments: [String], signal: Int32, whenOutputContains marker: String) throws -> (status: Int32, stdout: String) {
        let process = Process()
        process.executableURL = url
        process.arguments = arguments
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("vqclip-signal-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        process.standardOutput = try FileHandle(forWritingTo: log)
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !(String(decoding: (try? Data(contentsOf: log)) ?? Data(), as: UTF8.self).contains(marker)) {
            usleep(10_000)
        }
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: try Data(contentsOf: log), as: UTF8.self))
    }
}

struct ScratchDirectory {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("vqclip-clitest-\(UUID().uuidString)")
    init() { try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
    func file(_ name: String) -> URL { url.appendingPathComponent(name) }
    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// Parses each stdout line as a JSON object.
func jsonEvents(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> [[String: Any]] {
    text.split(separator: "\n").compactMap { line in
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            Issue.record("not a JSON object: \(line)", sourceLocation: sourceLocation)
            return nil
        }
        return object
    }
}

/// Expects exit status 2 and exactly one stderr line "vqclip: error: <expected…>".
func expectUserError(_ run: Run, startingWith expected: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(run.status == 2, "stderr: \(run.stderr)", sourceLocation: sourceLocation)
    let lines = run.stderr.split(separator: "\n", omittingEmptySubsequences: false)
    #expect(lines.count == 2 && lines[1].isEmpty, "expected one line, got: \(run.stderr)", sourceLocation: sourceLocation)
    #expect(run.stderr.hasPrefix("vqclip: error: " + expected), "got: \(run.stderr)", sourceLocation: sourceLocation)
}

@Suite("vqclip command line", .serialized)
struct CLITests {
    @Test func binaryIsBuilt() {
        #expect(FileManager.default.isExecutableFile(atPath: VQClipBinary.url.path), "\(VQClipBinary.url.path)")
    }

    @Test func version() throws {
        let run = try VQClipBinary.run(["--version"])
        #expect(run.status == 0)
        let version = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(version.split(separator: ".").count == 3 && version.allSatisfy { $0.isNumber || $0 == "." }, "\(version)")
    }

    @Test func helpForTheRootAndEverySubcommand() throws {
        let root = try VQClipBinary.run(["--help"])
        #expect(root.status == 0 && root.stdout.contains("USAGE: vqclip"))
        // Subcommands as listed by the root help (indented names after SUBCOMMANDS:).
        let section = root.stdout.components(separatedBy: "SUBCOMMANDS:").last ?? ""
        let names = section.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("  "), !line.hasPrefix("   ") else { return nil }
            let name = line.trimmingCharacters(in: .whitespaces).split(separator: " ").first.map(String.init)
            return name.flatMap { $0.allSatisfy { $0.isLowercase || $0 == "-" } ? $0 : nil }
        }
        #expect(Set(["render", "batch", "shapes", "train", "eval"]).isSubset(of: Set(names)), "\(names)")
        for name in names {
            let help = try VQClipBinary.run([name, "--help"])
            #expect(help.status == 0, "\(name)")
            #expect(help.stdout.contains("USAGE: vqclip \(name)"), "\(name)")
            #expect(help.stdout.contains("OPTIONS:"), "\(name)")
        }
    }

    /// The tiny test models (taming's tiny VQGAN, a small Hugging Face CLIP) for render runs.
    static var models: [String] {
        ["--vqgan", fixture("VQGANTests", "tiny.ckpt").path, "--clip", fixture("CLIPTests", "hf-clip-small").path]
    }

    @Test func badArgumentsAreUserErrors() throws {
        expectUserError(try VQClipBinary.run(["render"]), startingWith: "a PROMPT is required")
        expectUserError(try VQClipBinary.run(["render", "x", "--size", "0"]), startingWith: "--size must be WxH")
        expectUserError(try VQClipBinary.run(["render", "x", "--iterations", "many"]), startingWith: "The value 'many' is invalid")
        expectUserError(try VQClipBinary.run(["no-such-command"]), startingWith: "Unexpected argument")
        expectUserError(try VQClipBinary.run(["shapes", "--output", "x", "--prompt", "a horse"]), startingWith: "prompt \"a horse\" uses no known word")
    }

    @Test func missingAndCorruptInputImages() throws {
        let dir = ScratchDirectory(); defer { dir.remove() }
        let out = dir.file("out/result.png").path
        let missing = dir.file("missing.png").path
        func render(_ initImage: String) throws -> Run {
            try VQClipBinary.run(["render", "a cat", "--output", out, "--init-image", initImage] + Self.models)
        }
        expectUserError(try render(missing), startingWith: "\(missing): cannot open file")
        let garbage = dir.file("garbage.png")
        try Data("this is not an image".utf8).write(to: garbage)
        expectUserError(try render(garbage.path), startingWith: "\(garbage.path): not a PNG or JPEG file")
        // A real PNG cut in half.
        let whole = dir.file("whole.png")
        try ImageIO.writePNG(RGBImage(width: 40, height: 40, fill: (200, 10, 10)), to: whole)
        let bytes = try Data(contentsOf: whole)
        let truncated = dir.file("truncated.png")
        try bytes.prefix(bytes.count / 2).write(to: truncated)
        expectUserError(try render(truncated.path), startingWith: "\(truncated.path): invalid PNG")
        // Bad input is detected before anything is written.
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func jsonEventsAreOneObjectPerLine() throws {
        let dir = ScratchDirectory(); defer { dir.remove() }
        let run = try VQClipBinary.run(["render", "a small green square on a white background", "--output", dir.file("o.png").path,
                                        "--frames", dir.file("frames").path, "--frame-every", "3", "--size", "32", "--cutn", "2",
                                        "--iterations", "6", "--seed", "5", "--json"] + Self.models)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.isEmpty, "\(run.stderr)")
        let events = jsonEvents(run.stdout)
        let kinds = events.map { $0["event"] as? String ?? "?" }
        #expect(kinds.first == "start" && kinds.last == "done", "\(kinds)")
        #expect(kinds.filter { $0 == "progress" }.count == 6)
        let start = events[0]
        #expect(start["seed"] as? String == "5" && start["iterations"] as? Int == 6 && start["command"] as? String == "render")
        let progress = events.filter { $0["event"] as? String == "progress" }
        #expect(progress.map { $0["step"] as? Int ?? -1 } == Array(1...6))
        #expect(progress.allSatisfy { ($0["loss"] as? Double)?.isFinite ?? false && $0["total"] as? Int == 6 })
        let saved = events.filter { $0["event"] as? String == "saved" }
        #expect(saved.map { $0["kind"] as? String ?? "" } == ["frame", "frame", "frame", "final"])
        #expect(saved.map { $0["step"] as? Int ?? -1 } == [0, 3, 6, 6])
        for event in saved {
            let path = event["path"] as? String ?? ""
            #expect(FileManager.default.fileExists(atPath: path), "\(path)")
        }
        #expect(events.last?["path"] as? String == saved.last?["path"] as? String)
    }

    @Test func jsonErrorEvent() throws {
        let run = try VQClipBinary.run(["render", "a cat", "--output", "/tmp/vqclip-never.png", "--init-image", "/nonexistent/x.png",
                                        "--json"] + Self.models)
        #expect(run.status == 2)
        let events = jsonEvents(run.stdout)
        #expect(events.count == 1 && events[0]["event"] as? String == "error")
        #expect((events[0]["message"] as? String)?.hasPrefix("/nonexistent/x.png: cannot open file") == true)
    }

    @Test func renderWritesAPNGWithProvenance() throws {
        let dir = ScratchDirectory(); defer { dir.remove() }
        let prompt = "a large red circle on a blue background"
        let run = try VQClipBinary.run(["render", prompt, "--size", "32", "--iterations", "5", "--cutn", "2", "--seed", "42"] + Self.models,
                                       workingDirectory: dir.url)
        #expect(run.status == 0, "\(run.stderr)")
        // Human mode with stderr redirected: the result path on stdout, no bar or escape codes.
        let contents = try FileManager.default.contentsOfDirectory(atPath: dir.file("outputs").path)
        #expect(contents.count == 1 && contents[0].hasPrefix("a-large-red-circle-on-a-blue-background-42-"), "\(contents)")
        let result = dir.file("outputs/" + contents[0])
        #expect(run.stdout.hasSuffix("outputs/" + contents[0] + "\n"), "\(run.stdout)")
        #expect(!run.stderr.contains("\u{1B}") && !run.stderr.contains("\r"))
        let image = try ImageIO.read(contentsOf: result)
        #expect(image.width == 32 && image.height == 32)
        let text = Dictionary(try ImageIO.readText(contentsOf: result).map { ($0.keyword, $0.text) }, uniquingKeysWith: { a, _ in a })
        let version = try VQClipBinary.run(["--version"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(text["prompt"] == prompt)
        #expect(text["seed"] == "42")
        #expect(text["step"] == "5")
        #expect(text["vqclip_version"] == version)
        #expect(text["Software"] == "vqclip \(version)")
    }

    @Test func shapesWritesCaptionedScenes() throws {
        let dir = ScratchDirectory(); defer { dir.remove() }
        let run = try VQClipBinary.run(["shapes", "--output", dir.url.path, "--count", "3", "--size", "24", "--seed", "9"])
        #expect(run.status == 0, "\(run.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.url.path).sorted()
        #expect(files == ["shapes-9-0000.png", "shapes-9-0001.png", "shapes-9-0002.png"])
        let caption = try ImageIO.readText(contentsOf: dir.file(files[0])).first { $0.keyword == "caption" }?.text
        #expect(caption?.hasPrefix("a ") == true && caption?.hasSuffix(" background") == true)
    }

    @Test func shapesNamesEveryIgnoredWordAndObject() throws {
        let dir = ScratchDirectory(); defer { dir.remove() }
        let prompt = "a shiny red circle, a blue square and a green star"
        let text = try VQClipBinary.run(["shapes", "--output", dir.url.path, "--prompt", prompt, "--size", "24"])
        #expect(text.status == 0, "\(text.stderr)")
        let notes = text.stderr.split(separator: "\n").filter { $0.hasPrefix("vqclip: note: ") }
        #expect(notes.count == 2, "\(text.stderr)")
        #expect(notes.first?.contains("ignored \"shiny\" (not a ShapeWorld word)") == true)
        #expect(notes.last?.contains("ignored \"green star\" (a scene holds at most two objects)") == true)
        #expect(notes.last?.contains("the scene is \"a large red circle to the left of a large blue square") == true, "\(text.stderr)")

        let json = try VQClipBinary.run(["shapes", "--output", dir.url.path, "--prompt", prompt, "--size", "24", "--json"])
        let events = jsonEvents(json.stdout).filter { $0["event"] as? String == "note" }
        #expect(events.map { $0["text"] as? String } == ["shiny", "green star"])
        #expect(events.allSatisfy { $0["kind"] as? String == "ignored" && $0["reason"] is String && $0["message"] is String })
        #expect(json.stderr.isEmpty, "with --json the notes are events only")
        // A prompt used whole gets no note.
        let whole = try VQClipBinary.run(["shapes", "--output", dir.url.path, "--prompt", "a red circle above a blue square", "--size", "24"])
        #expect(!whole.stderr.contains("note:"), "\(whole.stderr)")
    }

    /// A fixture of another test target, by path from this file.
    static func fixture(_ target: String, _ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(target).appendingPathComponent("Fixtures").appendingPathComponent(name)
    }

    /// A small CLIP saved by Hugging Face transformers, with its own tokenizer files.
    @Test func scoreMatchesTheLibraryAndRanks() throws {
        let dir = ScratchDirectory(); defer { dir.remove() }
        let model = Self.fixture("CLIPTests", "hf-clip-small")
        let red = dir.file("red.png"), stripes = dir.file("stripes.png")
        try ImageIO.writePNG(RGBImage(width: 40, height: 30, fill: (220, 20, 20)), to: red)
        try ImageIO.writePNG(RGBImage(width: 30, height: 30, pixels: (0..<2700).map { UInt8(($0 / 90) % 2 * 255) }), to: stripes)
        let texts = ["a red square", "black and white stripes"]
        let run = try VQClipBinary.run(["score", red.path, stripes.path, "--model", model.path,
                                        "--text", texts[0], "--text", texts[1], "--json", "--rank"])
        #expect(run.status == 0, "\(run.stderr)")
        let events = jsonEvents(run.stdout)
        #expect(events.count == 1 && events.first?["event"] as? String == "score")
        let event = try #require(events.first)
        let cosine = try #require(event["cosine"] as? [[Double]])
        let probabilities = try #require(event["probabilities"] as? [[Double]])
        #expect(event["images"] as? [String] == [red.path, stripes.path] && event["texts"] as? [String] == texts)

        // The same numbers from the library: preprocessing, both towers, cosine and softmax.
        let clip = try CLIPModel(contentsOf: model)
        let size = clip.configuration.imageResolution
        let batch = try [red, stripes].flatMap { url -> [Float] in
            let image = try ImageIO.read(contentsOf: url)
            return CLIPPreprocess.imageTensor(width: image.width, height: image.height, rgb: image.pixels, size: size).data
        }
        let expected = try clip.score(images: Tensor(shape: [2, 3, size, size], data: batch), prompts: texts,
                                      tokenizer: CLIPModel.tokenizer(for: model))
        for i in 0..<2 {
            for j in 0..<2 {
                #expect(abs(cosine[i][j] - Double(expected.cosine[i][j])) < 1e-4, "cosine[\(i)][\(j)]")
                #expect(abs(probabilities[i][j] - Double(expected.probabilities[i][j])) < 1e-4, "probability[\(i)][\(j)]")
            }
            #expect(abs(probabilities[i].reduce(0, +) - 1) < 1e-5)
        }
        let ranking = try #require(event["ranking"] as? [[Int]])
        #expect(ranking == texts.indices.map { expected.ranking(text: $0) })

        // The human table shows the same cosines.
        let table = try VQClipBinary.run(["score", red.path, "--model", model.path, "--text", texts[0]])
        #expect(table.status == 0 && table.stdout.contains(String(format: "%.4f", cosine[0][0])), "\(table.stdout)")
    }

    @Test func scoreBadInput() throws {
        let model = Self.fixture("CLIPTests", "hf-clip-small")
        expectUserError(try VQClipBinary.run(["score", "x.png", "--text", "a"]), startingWith: "Missing expected argument '--model")
        expectUserError(try VQClipBinary.run(["score", "x.png", "--model", model.path]), startingWith: "Missing expected argument '--text")
        expectUserError(try VQClipBinary.run(["score", "x.png", "--model", "/nonexistent/clip.pt", "--text", "a"]),
                        startingWith: "/nonexistent/clip.pt: no such file or folder")
        expectUserError(try VQClipBinary.run(["score", "/nonexistent/x.png", "--model", model.path, "--text", "a"]),
                        startingWith: "/nonexistent/x.png: cannot open file")
        // The wrong kind of checkpoint is named as what it is; a text tower too small for the
        // tokenizer is refused at load, with the file.
        let vqgan = Self.fixture("VQGANTests", "tiny.ckpt")
        expectUserError(try VQClipBinary.run(["score", "x.png", "--model", vqgan.path, "--text", "a"]),
                        startingWith: "\(vqgan.path): a taming VQGAN f2, n_embed 16, z_channels 4, not a CLIP model")
        let small = Self.fixture("CLIPTests", "clip-small-openai.safetensors")
        expectUserError(try VQClipBinary.run(["score", "x.png", "--model", small.path, "--text", "a"]),
                        startingWith: "\(small.path): its text tower has 320 tokens, but the tokenizer's ids go up to 49407")
    }

    @Test func inspectNamesTheModelAndListsTensors() throws {
        let checkpoint = Self.fixture("CheckpointsTests", "vqgan_tiny.ckpt")
        let text = try VQClipBinary.run(["inspect", checkpoint.path])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("model: taming VQGAN f"), "\(text.stdout)")
        #expect(text.stdout.contains("Lightning checkpoint") && text.stdout.contains("decoder.conv_in.weight"))
        #expect(text.stdout.contains("config: VQModel f"), "\(text.stdout)")

        let json = try VQClipBinary.run(["inspect", checkpoint.path, "--json"])
        #expect(json.status == 0)
        #expect(json.stdout.split(separator: "\n").count == 1, "one object on one line")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let tensors = try #require(report["tensors"] as? [[String: Any]])
        #expect((report["model"] as? String)?.hasPrefix("taming VQGAN") == true)
        #expect(tensors.contains { $0["name"] as? String == "quantize.embedding.weight" })
        #expect((report["parameter_count"] as? Int ?? 0) > 0)
        #expect((report["model_configuration"] as? String)?.hasPrefix("VQModel f") == true)

        let clip = try VQClipBinary.run(["inspect", Self.fixture("CLIPTests", "clip-small.pt").path])
        #expect(clip.status == 0 && clip.stdout.contains("model: OpenAI CLIP ViT"), "\(clip.stdout)")

        let yaml = try VQClipBinary.run(["inspect", Self.fixture("CheckpointsTests", "vqgan_tiny.yaml").path])
        #expect(yaml.status == 0 && yaml.stdout.contains("config: VQModel f"), "\(yaml.stdout)")
    }

    @Test func inspectBadInput() throws {
        let dir = ScratchDirectory(); defer { dir.remove() }
        let garbage = dir.file("garbage.ckpt")
        try Data("not a checkpoint at all".utf8).write(to: garbage)
        expectUserError(try VQClipBinary.run(["inspect", garbage.path]), startingWith: "\(garbage.path): not a checkpoint")
        expectUserError(try VQClipBinary.run(["inspect", "/nonexistent/model.ckpt"]), startingWith: "/nonexistent/model.ckpt: ")
    }
}
