// `vqclip eval`: measurements of the embedded models on fresh ShapeWorld samples.
// `eval vqgan` reports reconstruction L1/PSNR and codebook usage.

import ArgumentParser
import FilePaths
import Foundation
import Tensors
import Training
import VQGAN

struct EvalVQGANCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vqgan",
        abstract: "Reconstruction L1/PSNR and codebook usage of a VQGAN on fresh ShapeWorld images.",
        discussion: """
            Reads DIR/model.safetensors and DIR/config.json (as written by `train vqgan`) and \
            reconstructs --samples scenes of the --seed stream, which training never draws from \
            (training uses small seeds). L1, PSNR and edge L1 (the L1 of neighbour differences, \
            which blur raises) are measured on [0, 1] pixels. The pixel judge of `eval render` \
            then reads --samples one-object scenes of the same seed and their reconstructions: \
            the share of reconstructions it reads as their scene, per attribute and for all of them.
            """)

    @Option(name: .long, help: ArgumentHelp("Model directory with model.safetensors and config.json.", valueName: "dir"))
    var model: String

    @Option(name: .long, help: "Number of fresh images.")
    var samples: Int = 256

    @Option(name: .long, help: "Seed of the evaluation scenes.")
    var seed: UInt64 = 1_000_003

    @Option(name: .long, help: "Threads for the kernels. Default: all cores.")
    var threads: Int?

    @OptionGroup var reporting: ReportingOptions

    func validate() throws {
        try requireRange(samples, 1...1_000_000, "samples")
        if let threads { try requireRange(threads, 1...256, "threads") }
    }

    func run() throws {
        if let threads {
            Parallel.maxThreads = threads
        }
        let directory = Files.url(model)
        let vqgan = try VQModel.load(checkpoint: directory.appendingPathComponent("model.safetensors"),
                                     config: directory.appendingPathComponent("config.json"))
        let size = vqgan.config.ddconfig.resolution
        let reporter = Reporter(command: "eval vqgan", json: reporting.json)
        reporter.start([("model", .string(directory.path)), ("samples", .int(samples)), ("seed", .uint(seed)),
                        ("size", .int(size))],
                       summary: "eval vqgan: \(directory.path), \(samples) fresh \(size)x\(size) images, seed \(seed)")
        let result = VQGANEvaluation.measure(model: vqgan, size: size, seed: seed, samples: samples)
        let judged = VQGANJudgeAgreement.measure(model: vqgan, size: size, seed: seed, samples: samples)
        let fields: [(String, JSONValue)] = [
            ("samples", .int(result.samples)), ("l1", .number(result.l1)), ("psnr", .number(result.psnr)),
            ("edge_l1", .number(result.edgeL1)),
            ("codes_used", .int(result.codesUsed)), ("codebook_size", .int(result.codebookSize)),
            ("codebook_usage_percent", .number(result.usagePercent)), ("perplexity", .number(result.perplexity)),
            ("judge", .object(judged.attributes.map { ($0.name, .number($0.share)) } + [("all", .number(judged.all)), ("originals", .number(judged.originals))])),
        ]
        if reporter.mode == .json {
            reporter.done(fields, summary: "")
        } else {
            Terminal.writeOutput(String(format: "l1 %.5f\npsnr %.2f dB\nedge l1 %.5f\ncodebook usage %d/%d (%.1f%%), perplexity %.1f\n",
                                        result.l1, result.psnr, result.edgeL1, result.codesUsed, result.codebookSize,
                                        result.usagePercent, result.perplexity)
                                + "judge on one-object reconstructions: " + judged.attributes.map { "\($0.name) " + String(format: "%.3f", $0.share) }.joined(separator: ", ")
                                + String(format: "; every attribute %.3f (drawn scenes %.3f)\n", judged.all, judged.originals))
            reporter.done([], summary: "evaluated \(samples) images")
        }
    }
}
