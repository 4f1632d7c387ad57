// `vqclip inspect FILE`: lists a checkpoint's tensors and names the model it holds.

import ArgumentParser
import Checkpoints
import Foundation

/// Prints the format, every tensor's name, dtype and shape, the parameter count and the
/// recognised model of a checkpoint (.ckpt, .pt, .safetensors). Bad input exits with status 2.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show the tensors of a checkpoint and which model it is.",
        discussion: "Reads PyTorch zip and legacy checkpoints (including Lightning .ckpt), TorchScript archives (OpenAI CLIP .pt) and safetensors files without Python.")

    @Argument(help: "The checkpoint file.")
    var file: String

    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    func run() throws {
        let report = describe(try loadStateDict(contentsOf: URL(fileURLWithPath: file)))
        print(json ? report.json() : report.text())
    }
}
