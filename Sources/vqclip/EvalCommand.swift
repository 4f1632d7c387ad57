// `vqclip eval`: measurements of the embedded models on fresh ShapeWorld samples, each in its own
// file: `eval vqgan` (reconstruction) and `eval clip` (zero-shot accuracy).

import ArgumentParser

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure the embedded models on fresh ShapeWorld samples.",
        subcommands: [EvalVQGANCommand.self, EvalCLIPCommand.self])
}
