// `vqclip render` on taming's tiny VQGAN and a small Hugging Face CLIP (both test fixtures):
// bit-identical repeats, replay from a PNG's own metadata, resume after Ctrl-C, events, and
// exit 2 with one line and no file left for every kind of bad input.

import Foundation
import ImageCodecs
import Testing

@Suite("vqclip render", .serialized)
struct RenderCLITests {
    static let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let vqgan = tests.appendingPathComponent("VQGANTests/Fixtures/tiny.ckpt").path
    static let clip = tests.appendingPathComponent("CLIPTests/Fixtures/hf-clip-small").path
    static let models = ["--vqgan", vqgan, "--clip", clip]
    static let small = models + ["--size", "32x24", "--cutn", "4"]

    func render(_ arguments: [String]) throws -> Run { try VQClipBinary.run(["render"] + arguments + Self.small + ["--iterations", "6"]) }

    @Test func sameSeedGivesTheSameBytesAndTheRecordReplaysThem() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let a = dir.file("a.png").path, b = dir.file("b.png").path
        let first = try render(["a red circle | blurry:-0.5", "--seed", "a string seed", "--output", a])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(try render(["a red circle | blurry:-0.5", "--seed", "a string seed", "--output", b]).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: a)) == Data(contentsOf: URL(fileURLWithPath: b)))
        let text = Dictionary(try ImageIO.readText(contentsOf: URL(fileURLWithPath: a)).map { ($0.keyword, $0.text) }, uniquingKeysWith: { $1 })
        #expect(text["prompt"] == "a red circle | blurry:-0.5")
        #expect(text["seed"] == "a string seed")
        #expect(text["vqgan_sha256"]?.count == 64 && text["clip_sha256"]?.count == 64)
        #expect(text["vqclip_settings"]?.contains("\"iterations\":6") == true)

        let replayed = try VQClipBinary.run(["render", "--replay", a, "--output", dir.file("r.png").path])
        #expect(replayed.status == 0, "\(replayed.stderr)")
        #expect(try Data(contentsOf: dir.file("r.png")) == Data(contentsOf: URL(fileURLWithPath: a)))

        // Other CLIP weights than the recorded ones: refused, nothing written.
        let changed = dir.file("changed-clip")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: Self.clip), to: changed)
        var weights = try Data(contentsOf: changed.appendingPathComponent("model.safetensors"))
        weights[weights.count - 3] ^= 0x10
        try weights.write(to: changed.appendingPathComponent("model.safetensors"))
        let refused = try VQClipBinary.run(["render", "--replay", a, "--clip", changed.path, "--output", dir.file("x.png").path])
        expectUserError(refused, startingWith: "\(a): rendered with clip weights sha256")
        #expect(!FileManager.default.fileExists(atPath: dir.file("x.png").path))
    }

    @Test func aLongRunIsAnnouncedNotRefused() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let out = dir.file("long.png")
        // A million steps of the embedded models: hours by any estimate. The note comes before
        // the first step, and the run goes on (Ctrl-C then stops it).
        let long = try VQClipBinary.run(["render", "a red circle", "--iterations", "1000000", "--cutn", "2", "--output", out.path, "--json"],
                                        signal: SIGINT, whenOutputContains: "\"progress\"")
        #expect(long.status == 130)
        let events = jsonEvents(long.stdout)
        let noteIndex = events.firstIndex { $0["event"] as? String == "note" && $0["kind"] as? String == "long_run" }
        let progressIndex = events.firstIndex { $0["event"] as? String == "progress" }
        #expect(noteIndex != nil && progressIndex != nil && noteIndex! < progressIndex!, "\(long.stdout)")
        let note = noteIndex.map { events[$0] }
        let seconds = note?["estimated_seconds"] as? Double ?? (note?["estimated_seconds"] as? Int).map(Double.init)
        #expect(note?["kind"] as? String == "long_run" && (seconds ?? 0) > 600)
        #expect((note?["message"] as? String)?.contains("this render will take about") == true)
        #expect(FileManager.default.fileExists(atPath: out.path), "the run was not refused")

        // A short run: an estimate in the start event, no note.
        let short = try render(["a red circle", "--output", dir.file("short.png").path, "--json"])
        #expect(short.status == 0, "\(short.stderr)")
        let shortEvents = jsonEvents(short.stdout)
        #expect((shortEvents.first?["estimated_seconds"] as? Double).map { $0 < 600 } ?? (shortEvents.first?["estimated_seconds"] is Int))
        #expect(!shortEvents.contains { $0["event"] as? String == "note" })
    }

    @Test func interruptedRunResumesToTheSameImage() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let whole = dir.file("whole.png").path, cut = dir.file("cut.png").path, state = dir.file("run.state").path
        let options = ["a blue square", "--seed", "11", "--iterations", "80"]
        #expect(try VQClipBinary.run(["render"] + options + Self.small + ["--output", whole]).status == 0)

        // Ctrl-C after the first progress event: the image and the state are saved, exit 130.
        let stopped = try VQClipBinary.run(["render"] + options + Self.small + ["--output", cut, "--state", state, "--json"],
                                           signal: SIGINT, whenOutputContains: "\"progress\"")
        #expect(stopped.status == 130)
        #expect(FileManager.default.fileExists(atPath: state))
        let events = jsonEvents(stopped.stdout)
        let stoppedAt = events.last { $0["event"] as? String == "saved" }?["step"] as? Int ?? 0
        #expect(events.last?["kind"] as? String == "interrupted" && stoppedAt < 80)

        let resumed = try VQClipBinary.run(["render", "--resume", state, "--output", cut] + Self.models)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming at step \(stoppedAt)"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: cut)) == Data(contentsOf: URL(fileURLWithPath: whole)))
        #expect(!FileManager.default.fileExists(atPath: state), "a finished run removes its state")
    }

    @Test func eventsFramesAndRoundedSize() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let run = try VQClipBinary.run(["render", "a circle", "--seed", "1", "--json", "--frames", dir.file("frames").path,
                                        "--frame-every", "3", "--output", dir.file("o.png").path, "--vqgan", Self.vqgan,
                                        "--clip", Self.clip, "--size", "33x25", "--iterations", "6", "--cutn", "2",
                                        "--cut-method", "original", "--optimizer", "adamw"])
        #expect(run.status == 0, "\(run.stderr)")
        let events = jsonEvents(run.stdout)
        let start = events.first!
        #expect(start["event"] as? String == "start" && start["width"] as? Int == 32 && start["height"] as? Int == 24)
        let progress = events.filter { $0["event"] as? String == "progress" }
        #expect(progress.map { $0["step"] as? Int } == [1, 2, 3, 4, 5, 6])
        #expect((progress.first?["terms"] as? [String: Any])?["a circle"] is Double)
        let frames = events.filter { $0["kind"] as? String == "frame" }.compactMap { $0["step"] as? Int }
        #expect(frames == [0, 3, 6])
        #expect(try ImageIO.read(contentsOf: dir.file("frames/step-0003.png")).width == 32)
        #expect(events.last?["event"] as? String == "done")
    }

    @Test func badInputExitsTwoWithOneLineAndNoFile() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let out = dir.file("out.png").path
        func expectRefused(_ arguments: [String], _ message: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let run = try VQClipBinary.run(["render"] + arguments + ["--output", out])
            expectUserError(run, startingWith: message, sourceLocation: sourceLocation)
            #expect(!FileManager.default.fileExists(atPath: out), sourceLocation: sourceLocation)
        }
        let models = Self.models
        try expectRefused(["a cat", "--size", "0x0"] + models, "--size must be WxH")
        try expectRefused(["a cat", "--size", "-5"] + models, "--size must be WxH or N with sides from 1 to 8192, got -5")
        try expectRefused(["a cat", "--iterations", "-3"] + models, "--iterations must be between 1 and 1000000, got -3")
        try expectRefused(["a cat", "--size", "1x1"] + models, "--size 1x1 is smaller than the VQGAN's factor 2")
        try expectRefused([" | "] + models, "no prompt given")
        try expectRefused(["a cat:0"] + models, "prompt \"a cat\" has weight 0")
        try expectRefused([String(repeating: "very long prompt ", count: 30), "--size", "8"] + models, "prompt \"very long prompt")
        try expectRefused(["a cat", "--vqgan", dir.file("none.ckpt").path, "--clip", Self.clip], "\(dir.file("none.ckpt").path): no such file")
        try expectRefused(["a cat", "--vqgan", "no_such_model", "--clip", Self.clip], "VQGAN \"no_such_model\" not found: put no_such_model.ckpt")
        let corrupt = dir.file("bad.ckpt")
        try Data("not a checkpoint".utf8).write(to: corrupt)
        try Data("model: {}".utf8).write(to: dir.file("bad.yaml"))
        try expectRefused(["a cat", "--vqgan", corrupt.path, "--clip", Self.clip], "\(dir.file("bad.yaml").path): model.params missing")
        try expectRefused(["a cat", "--init-image", dir.file("missing.png").path] + models, "\(dir.file("missing.png").path)")
        try expectRefused(["a cat", "--optimizer", "sgd"] + models, "--optimizer must be one of adam, adamw, adagrad")
        try expectRefused(["a cat", "--clip", dir.file("no-clip").path], "\(dir.file("no-clip").path): no such file or folder")
        let unwritable = try VQClipBinary.run(["render", "a cat", "--output", "/proc/vqclip-out.png"] + models)
        expectUserError(unwritable, startingWith: "/proc: cannot write here")
    }

    @Test func framesBecomeAnAnimationAndAContactSheet() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let frames = dir.file("frames")
        let run = try render(["a circle", "--seed", "2", "--frames", frames.path, "--frame-every", "2", "--animate",
                              "--output", dir.file("o.png").path])
        #expect(run.status == 0, "\(run.stderr)")
        let gif = try Data(contentsOf: frames.appendingPathComponent("animation.gif"))
        #expect(gif.starts(with: Data("GIF89a".utf8)))
        // Four frames (steps 0, 2, 4, 6) in a 2x2 grid of 32x24 frames with 2-pixel gaps.
        let sheet = try ImageIO.read(contentsOf: frames.appendingPathComponent("contact-sheet.png"))
        #expect(sheet.width == 2 * 32 + 3 * 2 && sheet.height == 2 * 24 + 3 * 2)
        expectUserError(try VQClipBinary.run(["animate", dir.url.path]), startingWith: "\(dir.url.path): no step-NNNN.png frames")
        expectUserError(try render(["a circle", "--animate"]), startingWith: "--animate needs --frames DIR")
    }

    @Test func defaultNamesAreUniquePerPromptAndSettingsAndStaleTemporariesGo() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        // A temporary file left by a process that no longer exists (checked), and one of a live
        // process (ours), which stays.
        let dead: Int32 = 4_194_303
        #expect(kill(dead, 0) != 0)
        try FileManager.default.createDirectory(at: dir.file("outputs"), withIntermediateDirectories: true)
        try Data().write(to: dir.file("outputs/.x.png.tmp-\(dead)-123"))
        try Data().write(to: dir.file("outputs/.y.png.tmp-\(getpid())-5"))
        // The same first 62 characters: the same 60-character slug.
        let long = "one two three four five six seven eight nine ten eleven twelve "
        for prompt in [long + "red", long + "blue"] {
            let run = try VQClipBinary.run(["render", prompt, "--seed", "4", "--iterations", "2", "--size", "32", "--cutn", "1"] + Self.models,
                                           workingDirectory: dir.url)
            #expect(run.status == 0, "\(run.stderr)")
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.file("outputs").path).sorted()
        #expect(files.filter { $0.hasSuffix(".png") && !$0.hasPrefix(".") }.count == 2, "\(files)")
        #expect(!files.contains(".x.png.tmp-\(dead)-123"))
        #expect(files.contains(".y.png.tmp-\(getpid())-5"))
        // The recorded command line renders the same bytes again.
        let png = dir.file("outputs/" + files.first { $0.hasSuffix(".png") && !$0.hasPrefix(".") }!)
        let text = Dictionary(try ImageIO.readText(contentsOf: png).map { ($0.keyword, $0.text) }, uniquingKeysWith: { $1 })
        #expect(text["command"]?.hasPrefix("vqclip render 'one two three") == true)
        #expect(text["command"]?.contains("--seed 4 --size 32x32 --iterations 2") == true)
    }

    @Test func theEmbeddedModelsAreTheDefault() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let out = dir.file("embedded.png")
        let run = try VQClipBinary.run(["render", "a red circle on a blue background", "--seed", "1", "--iterations", "3",
                                        "--cutn", "4", "--output", out.path, "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let start = jsonEvents(run.stdout).first
        #expect(start?["vqgan"] as? String == "embedded" && start?["clip"] as? String == "embedded")
        #expect(start?["width"] as? Int == 64 && start?["height"] as? Int == 64, "the embedded models' native size")
        let text = Dictionary(try ImageIO.readText(contentsOf: out).map { ($0.keyword, $0.text) }, uniquingKeysWith: { $1 })
        #expect(text["vqclip_settings"]?.contains("\"initNoise\":\"flat\"") == true)
        #expect(text["command"]?.contains("--augments Sh,Ji,Bl") == true, "the embedded models' views: small zoom, shift, colour and blur")
        #expect(text["command"]?.contains("--init-search 4096") == true && text["command"]?.contains("--lr 0.005") == true,
                "the embedded models start from the best of 4096 world scenes and take gentle steps")
        #expect(jsonEvents(run.stdout).contains { $0["kind"] as? String == "init_search" && $0["candidates"] as? Int == 4096 })
        let replayed = try VQClipBinary.run(["render", "--replay", out.path, "--output", dir.file("again.png").path])
        #expect(replayed.status == 0, "\(replayed.stderr)")
        #expect(try Data(contentsOf: dir.file("again.png")) == Data(contentsOf: out))

        // eval render judges what it renders: one caption, a few steps, the summary as JSON.
        let eval = try VQClipBinary.run(["eval", "render", "--count", "2", "--iterations", "2", "--cutn", "2", "--init-search", "64",
                                         "--output-dir", dir.file("eval").path, "--json"])
        #expect(eval.status == 0, "\(eval.stderr)")
        let events = jsonEvents(eval.stdout)
        #expect(events.filter { $0["event"] as? String == "line" }.count == 2)
        let done = events.last
        #expect(done?["event"] as? String == "done" && done?["count"] as? Int == 2 && (done?["share"] as? Double).map { (0...1).contains($0) } == true)
    }

    /// --init-search draws world scenes from the seed, starts from the one the CLIP scores best
    /// (a note says which), records the option in the command, and replays to the same bytes.
    @Test func initSearchStartsFromTheBestWorldScene() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let out = dir.file("search.png")
        let run = try VQClipBinary.run(["render", "a shape on a red background", "--seed", "3", "--iterations", "1", "--cutn", "2",
                                        "--init-search", "256", "--output", out.path, "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let note = try #require(jsonEvents(run.stdout).first { $0["kind"] as? String == "init_search" })
        #expect(note["candidates"] as? Int == 256 && (note["candidate"] as? Int).map { (0..<256).contains($0) } == true)
        // The walk from the best drawn scenes scores at least one neighbourhood of each.
        #expect((note["scored"] as? Int).map { $0 > 256 } == true && note["refinements"] is Int && note["drawn_scene"] is String, "\(note)")
        // About one scene in twelve has a red background; the CLIP names backgrounds without fail.
        #expect((note["scene"] as? String)?.hasSuffix("on a red background") == true, "\(note)")
        let text = Dictionary(try ImageIO.readText(contentsOf: out).map { ($0.keyword, $0.text) }, uniquingKeysWith: { $1 })
        #expect(text["command"]?.contains("--init-search 256") == true)
        let replayed = try VQClipBinary.run(["render", "--replay", out.path, "--output", dir.file("again.png").path])
        #expect(replayed.status == 0, "\(replayed.stderr)")
        #expect(try Data(contentsOf: dir.file("again.png")) == Data(contentsOf: out))
        expectUserError(try VQClipBinary.run(["render", "x", "--init-search", "200000", "--output", dir.file("bad.png").path]),
                        startingWith: "--init-search must be between 0 and 100000, got 200000")
        #expect(!FileManager.default.fileExists(atPath: dir.file("bad.png").path))
    }
}
