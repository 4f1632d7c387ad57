// `vqclip inspect FILE`: lists a checkpoint's tensors and names the model it holds.

import ArgumentParser
import Checkpoints
import CLIP
import FilePaths
import Foundation
import VQGAN

/// Prints the format, every tensor's name, dtype and shape, the parameter count and the
/// recognised model of a checkpoint (.ckpt, .pt, .safetensors), or the configuration in a taming
/// `model.yaml`. Bad input exits with status 2.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show the tensors of a checkpoint and which model it is.",
        discussion: "Reads PyTorch zip and legacy checkpoints (including Lightning .ckpt), TorchScript archives (OpenAI CLIP .pt) and safetensors files without Python.")

    @Argument(help: "The checkpoint file (or a taming model.yaml).")
    var file: String

    @Flag(name: .long, help: "Print the report as one JSON object on one line (snake_case keys).")
    var json = false

    func run() throws {
        let url = Files.url(file)
        if ["yaml", "yml"].contains(url.pathExtension.lowercased()) {
            // A taming model.yaml: show the configuration it describes.
            let config = try TamingConfig.load(contentsOf: url)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            print(json ? String(decoding: try encoder.encode(config), as: UTF8.self) : "file: \(file)\nconfig: \(config.summary)")
            return
        }
        // Each network module says whether it recognises the tensors.
        let report = describe(try loadStateDict(contentsOf: url), recognizers: [VQModel.recognize, CLIPModel.recognize])
        print(json ? report.json() : report.text())
    }
}
