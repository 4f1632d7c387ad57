// `vqclip eval`: measurements of the embedded models on fresh ShapeWorld samples, each in its own
// file: `eval vqgan` (reconstruction), `eval clip` (zero-shot accuracy), `eval render` (judged renders).

import ArgumentParser

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure the embedded models on fresh ShapeWorld samples.",
        subcommands: [EvalVQGANCommand.self, EvalCLIPCommand.self, EvalRenderCommand.self])
}
