// `vqclip batch` and `vqclip gallery` on the tiny test models: per-line overrides and names,
// malformed lines, skip on re-run, resume after kill -9 to the same bytes, shards that split
// the lines between them, and the gallery page rebuilt from the PNGs.

import Foundation
import ImageCodecs
import Testing

@Suite("vqclip batch", .serialized)
struct BatchCLITests {
    static let models = RenderCLITests.models
    static let small = models + ["--size", "32x24", "--cutn", "2", "--iterations", "4"]

    func prompts(_ dir: ScratchDirectory, _ text: String) throws -> String {
        let url = dir.file("prompts.txt")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func lineEvents(_ run: Run) -> [[String: Any]] { jsonEvents(run.stdout).filter { $0["event"] as? String == "line" } }

    @Test func linesOverridesNamesFailuresAndReRuns() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let file = try prompts(dir, """
            # comment, then a blank line

            a red circle
            a red circle --iterations 3
            a blue square | blurry:-0.5 --seed 7 --cutn 1
            a bad line --iterations zero
            """)
        let out = dir.file("out").path
        let first = try VQClipBinary.run(["batch", file, "--output-dir", out, "--json"] + Self.small)
        #expect(first.status == 1, "a failed line makes the batch fail: \(first.stderr)")
        let lines = lineEvents(first)
        #expect(lines.map { $0["line"] as? Int } == [6, 3, 4, 5])
        #expect(lines.first?["status"] as? String == "failed")
        #expect((lines.first?["message"] as? String)?.contains("'zero' is invalid for '--iterations") == true)
        let names = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasSuffix(".png") }.sorted()
        // Two lines share prompt and seed: each gets a hash of its settings.
        #expect(names.count == 3)
        #expect(names.contains("a-blue-square-blurry-0-5-7.png"))
        #expect(names.filter { $0.hasPrefix("a-red-circle-0-") }.count == 2)
        #expect(FileManager.default.fileExists(atPath: dir.file("out/index.html").path))
        let progress = jsonEvents(first.stdout).filter { $0["event"] as? String == "progress" }
        #expect(progress.allSatisfy { $0["line"] is Int }, "render events carry the line number")

        // Re-run: everything finished is skipped; only the bad line fails again.
        let second = try VQClipBinary.run(["batch", file, "--output-dir", out, "--json"] + Self.small)
        #expect(lineEvents(second).map { $0["status"] as? String } == ["failed", "skipped", "skipped", "skipped"])
        // Changed defaults are other settings: rendered again.
        let third = try VQClipBinary.run(["batch", file, "--output-dir", out, "--json", "--lr", "0.05"] + Self.small)
        #expect(lineEvents(third).map { $0["status"] as? String } == ["failed", "rendered", "rendered", "rendered"])
    }

    @Test func killedBatchResumesToTheSameImage() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let file = try prompts(dir, "a green star --iterations 80\n")
        let options = ["--state-every", "2", "--json", "--size", "32x24", "--cutn", "2"] + Self.models
        #expect(try VQClipBinary.run(["batch", file, "--output-dir", dir.file("whole").path] + options).status == 0)

        _ = try VQClipBinary.run(["batch", file, "--output-dir", dir.file("cut").path] + options,
                                 signal: SIGKILL, whenOutputContains: "\"step\":5,")
        let resumed = try VQClipBinary.run(["batch", file, "--output-dir", dir.file("cut").path] + options)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let start = jsonEvents(resumed.stdout).first { $0["event"] as? String == "start" && $0["from_step"] != nil }
        #expect((start?["from_step"] as? Int ?? 0) >= 4, "resumed from the state, not from scratch")
        let name = "a-green-star-0.png"
        #expect(try Data(contentsOf: dir.file("cut/" + name)) == Data(contentsOf: dir.file("whole/" + name)))
        #expect(!FileManager.default.fileExists(atPath: dir.file("cut/.a-green-star-0.state").path))
    }

    @Test func shardsSplitTheLinesAndAgreeOnNames() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let file = try prompts(dir, (1...5).map { "prompt number \($0)" }.joined(separator: "\n"))
        let out = dir.file("shared").path
        var rendered: [Int] = []
        for i in 0..<2 {
            let run = try VQClipBinary.run(["batch", file, "--output-dir", out, "--shard", "\(i)/2", "--json", "--animate",
                                            "--frame-every", "2"] + Self.small)
            #expect(run.status == 0, "\(run.stderr)")
            rendered += lineEvents(run).compactMap { $0["line"] as? Int }
        }
        #expect(rendered == [1, 3, 5, 2, 4])
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasSuffix(".png") }.count == 5)
        let page = try String(contentsOfFile: dir.file("shared/index.html").path, encoding: .utf8)
        #expect((1...5).allSatisfy { page.contains("prompt number \($0)") }, "the gallery merges both shards")
        #expect(page.contains("(5 images)"))
        #expect(page.contains("href=\"prompt-number-3-0-frames/animation.gif\""), "each image links its animation")

        // Slurm arrays counted from their first index, and Kubernetes indexed Jobs.
        let slurm = try VQClipBinary.run(["batch", file, "--output-dir", out, "--shard", "auto", "--json"] + Self.small,
                                         environment: ["SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "4"])
        #expect(jsonEvents(slurm.stdout).first?["shard"] as? String == "2/4")
        #expect(lineEvents(slurm).compactMap { $0["line"] as? Int } == [3])
        let kubernetes = try VQClipBinary.run(["batch", file, "--output-dir", out, "--shard", "auto", "--shards", "3", "--json"] + Self.small,
                                              environment: ["JOB_COMPLETION_INDEX": "1"])
        #expect(lineEvents(kubernetes).compactMap { $0["line"] as? Int } == [2, 5])
        expectUserError(try VQClipBinary.run(["batch", file, "--shard", "auto"] + Self.small, environment: ["JOB_COMPLETION_INDEX": "1"]),
                        startingWith: "--shard auto: JOB_COMPLETION_INDEX is set; pass --shards N")
        let noEnvironment = try VQClipBinary.run(["batch", file, "--shard", "auto"] + Self.small)
        expectUserError(noEnvironment, startingWith: "--shard auto: neither SLURM_ARRAY_TASK_ID")
        expectUserError(try VQClipBinary.run(["batch", file, "--shard", "2/2"] + Self.small), startingWith: "--shard must be I/N")
    }

    @Test func galleryEscapesAndSkipsForeignImages() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let file = try prompts(dir, "a <b>bold</b> & \"quoted\" prompt\n")
        #expect(try VQClipBinary.run(["batch", file, "--output-dir", dir.url.path, "--no-gallery"] + Self.small).status == 0)
        // A PNG that is not a render (no settings) stays out of the page.
        try ImageIO.writePNG(RGBImage(width: 2, height: 2, pixels: [UInt8](repeating: 128, count: 12)), to: dir.file("foreign.png"))
        let run = try VQClipBinary.run(["gallery", dir.url.path])
        #expect(run.status == 0 && run.stdout == dir.file("index.html").path + "\n")
        let page = try String(contentsOf: dir.file("index.html"), encoding: .utf8)
        #expect(page.contains("a &lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot; prompt"))
        #expect(!page.contains("<b>bold"))
        #expect(!page.contains("foreign.png"))
        #expect(page.contains("(1 image)"))
        expectUserError(try VQClipBinary.run(["gallery", dir.file("missing").path]), startingWith: "\(dir.file("missing").path): no such folder")
    }
}
