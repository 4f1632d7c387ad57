// `vqclip eval clip`: how well a CLIP knows ShapeWorld, on fresh images: zero-shot accuracy per
// attribute and retrieval recall@1 over 100 captions.

import ArgumentParser
import CLIP
import FilePaths
import Foundation
import Tensors
import Training

struct EvalCLIPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clip",
        abstract: "Zero-shot accuracy per attribute (shape, colour, background, size, position) and recall@1 over 100 captions.")

    @Option(name: .long, help: ArgumentHelp("A CLIP checkpoint file or a folder holding model.safetensors.", valueName: "path"))
    var model: String

    @Option(name: .long, help: "Fresh one-object images for the zero-shot accuracies.")
    var samples: Int = 500

    @Option(name: .long, help: "Seed of the fresh images (different from training's streams).")
    var seed: UInt64 = 20_261_202

    @Option(name: .long, help: "Threads for the numeric kernels.")
    var threads: Int = 1

    @OptionGroup var reporting: ReportingOptions

    func validate() throws {
        try requireRange(samples, 1...100_000, "samples")
        try requireRange(threads, 1...256, "threads")
    }

    func run() throws {
        Parallel.maxThreads = threads
        let url = Files.url(model)
        let clip = try CLIPModel(contentsOf: url)
        let reporter = Reporter(command: "eval clip", json: reporting.json)
        reporter.start([("model", .string(url.path)), ("samples", .int(samples)), ("seed", .uint(seed))],
                       summary: "evaluating \(url.path) (\(clip.configuration.description)) on \(samples) fresh images")
        let report = try CLIPEvaluation.evaluate(clip, tokenizer: try CLIPModel.tokenizer(for: url), seed: seed, samples: samples)
        let fields: [(String, JSONValue)] = WorldAttribute.allCases.map { ($0.rawValue, .number(report.accuracy[$0]!)) }
            + [("recall_at_1", .number(report.recallAt1)), ("samples", .int(samples)), ("captions", .int(report.retrievalCount))]
        if reporter.mode != .json {
            for attribute in WorldAttribute.allCases {
                let chance = 1 / Double(attribute.classCount)
                Terminal.writeOutput(String(format: "%-11@ %.3f  (chance %.3f)\n", attribute.rawValue, report.accuracy[attribute]!, chance))
            }
            Terminal.writeOutput(String(format: "recall@1    %.3f  (over %d captions)\n", report.recallAt1, report.retrievalCount))
        }
        reporter.done(fields, summary: "evaluated")
    }
}
