// `vqclip train clip` and `vqclip eval clip` as users run them: a few steps of a tiny model,
// a resume that continues the log, and an evaluation whose numbers are real accuracies.

import Foundation
import ImageCodecs
import Testing

@Suite("vqclip train/eval clip", .serialized)
struct TrainCLITests {
    @Test func trainResumeAndEvaluate() throws {
        let dir = ScratchDirectory(); defer { dir.remove() }
        let out = dir.file("clip")
        let common = ["train", "clip", "--out", out.path, "--tiny", "--batch", "8", "--seed", "4", "--checkpoint-every", "2",
                      "--eval-samples", "20", "--json"]
        // --until stops early without changing the schedule: step 3 of a 5-step run.
        let run = try VQClipBinary.run(common + ["--steps", "5", "--until", "3"])
        #expect(run.status == 0, "\(run.stderr)")
        let events = jsonEvents(run.stdout)
        #expect(events.first?["event"] as? String == "start" && events.last?["event"] as? String == "done")
        let progress = events.filter { $0["event"] as? String == "progress" }
        #expect(progress.map { $0["step"] as? Int } == [1, 2, 3] && progress.allSatisfy { $0["total"] as? Int == 5 })
        #expect(progress.allSatisfy { ($0["images_per_second"] as? Double ?? 0) > 0 && ($0["loss"] as? Double ?? 0) > 0 })
        let done = try #require(events.last)
        for key in ["shape", "color", "background", "size", "position", "recall_at_1"] {
            let value = try #require(done[key] as? Double, "\(key) missing")
            #expect((0...1).contains(value))
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: out.path)
        #expect(Set(["checkpoint.safetensors", "model.safetensors", "config.json", "log.jsonl",
                     "zero-shot-000002.png", "zero-shot-000003.png"]).isSubset(of: Set(files)), "\(files)")
        let sheet = try ImageIO.read(contentsOf: out.appendingPathComponent("zero-shot-000003.png"))
        #expect(sheet.width > 200)

        // Starting over in the same place is refused; --resume continues at step 4.
        expectUserError(try VQClipBinary.run(common + ["--steps", "5"]), startingWith: "\(out.path)/checkpoint.safetensors already exists")
        let resumed = try VQClipBinary.run(common + ["--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(jsonEvents(resumed.stdout).filter { $0["event"] as? String == "progress" }.map { $0["step"] as? Int } == [4, 5])
        let log = try String(contentsOf: out.appendingPathComponent("log.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(log.filter { $0.contains("\"event\":\"step\"") }.count == 5)
        #expect(log.filter { $0.contains("\"event\":\"eval\"") }.count == 4)   // steps 2, 3, 4, 5

        let eval = try VQClipBinary.run(["eval", "clip", "--model", out.path, "--samples", "25", "--json"])
        #expect(eval.status == 0, "\(eval.stderr)")
        let result = try #require(jsonEvents(eval.stdout).last)
        #expect(result["samples"] as? Int == 25 && result["captions"] as? Int == 100)
        for key in ["shape", "color", "background", "size", "position", "recall_at_1"] {
            let value = try #require(result[key] as? Double, "\(key) missing")
            // Multiples of 1/25 (or 1/100 for recall): counted, not made up.
            let denominator = key == "recall_at_1" ? 100.0 : 25.0
            #expect((0...1).contains(value) && abs(value * denominator - (value * denominator).rounded()) < 1e-6)
        }
        let text = try VQClipBinary.run(["eval", "clip", "--model", out.path, "--samples", "10"])
        #expect(text.status == 0 && text.stdout.contains("position") && text.stdout.contains("recall@1"))
        expectUserError(try VQClipBinary.run(["eval", "clip", "--model", dir.file("none").path]), startingWith: dir.file("none").path)
    }
}
