// `vqclip train vqgan` and `vqclip eval vqgan` on the tiny preset: a run in two parts (the
// second resumed) writes its files, its loss falls, and the evaluation prints parseable figures.

import Foundation
import Testing

@Suite("vqclip train/eval vqgan", .serialized)
struct TrainVQGANTests {
    @Test func trainInTwoPartsThenEvaluate() throws {
        let dir = ScratchDirectory(); defer { dir.remove() }
        let out = dir.file("run").path
        let first = try VQClipBinary.run(["train", "vqgan", "--out", out, "--preset", "tiny", "--steps", "60",
                                          "--until", "30", "--checkpoint-every", "10", "--threads", "1", "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        let events = jsonEvents(first.stdout)
        #expect(events.first?["event"] as? String == "start")
        let progress = events.filter { $0["event"] as? String == "progress" }
        #expect(progress.count == 30)
        #expect(progress.allSatisfy { ($0["images_per_second"] as? Double ?? 0) > 0 })
        let sheets = events.filter { $0["event"] as? String == "saved" && $0["kind"] as? String == "sheet" }
        #expect(sheets.count == 3)
        for sheet in sheets { #expect(FileManager.default.fileExists(atPath: sheet["path"] as? String ?? "")) }
        #expect(events.last?["event"] as? String == "done" && events.last?["step"] as? Int == 30)

        // Starting over the same directory is refused; resuming continues at step 30.
        expectUserError(try VQClipBinary.run(["train", "vqgan", "--out", out, "--preset", "tiny"]),
                        startingWith: "\(out)/training-state.safetensors: a run already exists here")
        let second = try VQClipBinary.run(["train", "vqgan", "--out", out, "--resume", "--threads", "1", "--json"])
        #expect(second.status == 0, "\(second.stderr)")
        let resumed = jsonEvents(second.stdout)
        #expect(resumed.first?["from_step"] as? Int == 30)
        #expect(resumed.filter { $0["event"] as? String == "progress" }.count == 30)

        // The loss log: one line per 10 steps, L1 falling from the first lines to the last.
        let log = try String(contentsOfFile: out + "/log.jsonl", encoding: .utf8)
        let lines = jsonEvents(log)
        #expect(lines.map { $0["step"] as? Int } == [10, 20, 30, 40, 50, 60])
        let l1 = lines.compactMap { $0["l1"] as? Double }
        #expect(l1.count == 6 && l1.suffix(2).reduce(0, +) < l1.prefix(2).reduce(0, +), "\(l1)")
        for name in ["model.safetensors", "config.json", "training-state.safetensors", "sheets/step-000060.png"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + name), "\(name)")
        }

        let eval = try VQClipBinary.run(["eval", "vqgan", "--model", out, "--samples", "24", "--json"])
        #expect(eval.status == 0, "\(eval.stderr)")
        let done = jsonEvents(eval.stdout).last ?? [:]
        #expect(done["event"] as? String == "done" && done["samples"] as? Int == 24)
        let (evalL1, psnr) = (done["l1"] as? Double ?? -1, done["psnr"] as? Double ?? -1)
        #expect(evalL1 > 0 && evalL1 < 0.5 && psnr > 6 && psnr < 60, "l1 \(evalL1) psnr \(psnr)")
        // PSNR and L1 describe the same reconstructions: MSE lies between L1² and L1.
        let mse = pow(10, -psnr / 10)
        #expect(mse >= evalL1 * evalL1 * 0.999 && mse <= evalL1)
        let edge = done["edge_l1"] as? Double ?? -1
        // |Δx − Δx̂| ≤ |e_i| + |e_j|: at most 2·(W/(W−1))·L1 on 16-pixel rows.
        #expect(edge > 0 && edge <= 2 * 16 / 15 * evalL1, "edge l1 \(edge)")
        let used = done["codes_used"] as? Int ?? -1, size = done["codebook_size"] as? Int ?? -1
        #expect(size == 64 && used > 0 && used <= 64)
        #expect(abs((done["codebook_usage_percent"] as? Double ?? -1) - 100 * Double(used) / 64) < 1e-9)

        // The plain form prints the same figures.
        let plain = try VQClipBinary.run(["eval", "vqgan", "--model", out, "--samples", "24"])
        #expect(plain.status == 0)
        #expect(plain.stdout.contains(String(format: "psnr %.2f dB", psnr)), "\(plain.stdout)")
        #expect(plain.stdout.contains("codebook usage \(used)/64"))
        let judge = try #require(done["judge"] as? [String: Double])
        #expect(["shape", "color", "background", "position", "size", "all", "originals"].allSatisfy { judge[$0].map { (0...1).contains($0) } == true })
        #expect(judge["all"]! <= judge.filter { $0.key != "all" && $0.key != "originals" }.values.min()!)

        // --init-from starts a new run from these weights: at a learning rate of 1e-12 its first
        // step leaves them as they were, so it reconstructs as this run does. It is recorded in
        // the run's configuration and refused with --resume; another model size is an error.
        let child = dir.file("child").path
        let tuned = try VQClipBinary.run(["train", "vqgan", "--out", child, "--preset", "tiny", "--steps", "1", "--seed", "5",
                                          "--init-from", out, "--lr", "1e-12", "--threads", "1", "--json"])
        #expect(tuned.status == 0, "\(tuned.stderr)")
        let childEval = jsonEvents(try VQClipBinary.run(["eval", "vqgan", "--model", child, "--samples", "24", "--json"]).stdout).last ?? [:]
        #expect(abs((childEval["l1"] as? Double ?? -1) - evalL1) < 1e-6, "\(childEval)")
        expectUserError(try VQClipBinary.run(["train", "vqgan", "--out", child, "--resume", "--init-from", out]),
                        startingWith: "--init-from and --lr are fixed by the checkpoint")
        expectUserError(try VQClipBinary.run(["train", "vqgan", "--out", dir.file("wrong").path, "--steps", "1", "--init-from", out]),
                        startingWith: "\(out): the initial model's configuration differs from the run's")
        #expect(!FileManager.default.fileExists(atPath: dir.file("wrong").path), "nothing is created for a refused run")
    }

    /// The judge reads every drawn one-object scene as drawn, and the shipped VQGAN's
    /// reconstructions as their scenes far more often than chance (measured on 500: 0.83).
    @Test func theJudgeReadsTheEmbeddedReconstructions() throws {
        let model = RenderCLITests.tests.deletingLastPathComponent().appendingPathComponent("EmbeddedModels/vqgan").path
        let run = try VQClipBinary.run(["eval", "vqgan", "--model", model, "--samples", "40", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let judge = try #require(jsonEvents(run.stdout).last?["judge"] as? [String: Double])
        #expect(judge["originals"] == 1)
        #expect(judge["all"]! > 0.5 && judge["background"]! > 0.9 && judge["position"]! > 0.9, "\(judge)")
    }

    @Test func badRunDirectoriesAreUserErrors() throws {
        let dir = ScratchDirectory(); defer { dir.remove() }
        let out = dir.file("none").path
        expectUserError(try VQClipBinary.run(["train", "vqgan", "--out", out, "--resume"]),
                        startingWith: "\(out)/training-state.safetensors: no training checkpoint to resume from")
        #expect(!FileManager.default.fileExists(atPath: out))
        expectUserError(try VQClipBinary.run(["eval", "vqgan", "--model", out]),
                        startingWith: "\(out)/config.json: cannot read config")
        expectUserError(try VQClipBinary.run(["train", "vqgan", "--out", out, "--ch", "12"]),
                        startingWith: "--ch must be a multiple of 8")
        expectUserError(try VQClipBinary.run(["train", "vqgan", "--out", out, "--factor", "8"]),
                        startingWith: "--factor must be 2 or 4, got 8")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    /// The embedded preset is the shipped layout, f = 2 (32x32 codes for 64x64 images);
    /// `--factor 4` adds the third level of the model shipped before it.
    @Test func theEmbeddedPresetHasTheShippedFactor() throws {
        let dir = ScratchDirectory(); defer { dir.remove() }
        for (factor, chMult) in [(nil, [1, 2]), ("4", [1, 2, 2])] {
            let out = dir.file("f\(factor ?? "default")").path
            let run = try VQClipBinary.run(["train", "vqgan", "--out", out, "--steps", "1", "--batch", "1", "--threads", "1",
                                            "--checkpoint-every", "1"] + (factor.map { ["--factor", $0] } ?? []))
            #expect(run.status == 0, "\(run.stderr)")
            let data = try Data(contentsOf: URL(fileURLWithPath: out).appendingPathComponent("config.json"))
            let ddconfig = try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["ddconfig"] as? [String: Any])
            #expect(ddconfig["ch_mult"] as? [Int] == chMult && ddconfig["resolution"] as? Int == 64, "\(ddconfig)")
        }
        let shipped = RenderCLITests.tests.deletingLastPathComponent().appendingPathComponent("EmbeddedModels/vqgan/config.json")
        let ddconfig = (try JSONSerialization.jsonObject(with: Data(contentsOf: shipped)) as? [String: Any])?["ddconfig"] as? [String: Any]
        #expect(ddconfig?["ch_mult"] as? [Int] == [1, 2])
    }
}
