// `vqclip train`: the trainers of the embedded models, each in its own file: `train vqgan` and
// `train clip` write resumable run folders.

import ArgumentParser

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the embedded models on ShapeWorld.",
        subcommands: [TrainVQGANCommand.self, TrainCLIPCommand.self])
}
