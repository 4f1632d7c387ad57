// The root command: subcommand table, --version, and the exit-code policy
// (0 success, 2 bad input, 1 internal failure) applied to every error.

import ArgumentParser
import Checkpoints
import CLIP
import FilePaths
import Foundation
import Generation
import ImageCodecs
import ShapeWorld
import VQGAN

@main
struct VQClip: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vqclip",
        abstract: "Text-to-image by VQGAN+CLIP optimisation, natively in Swift.",
        discussion: """
            Exit status: 0 on success, 2 on bad input (missing or unreadable files, invalid \
            arguments), 1 on an internal failure.
            """,
        version: vqclipVersion,
        subcommands: [
            RenderCommand.self,
            BatchCommand.self,
            GalleryCommand.self,
            AnimateCommand.self,
            ShapesCommand.self,
            ScoreCommand.self,
            InspectCommand.self,
            TrainCommand.self,
            EvalCommand.self,
        ]
    )

    /// Runs the command line and turns every error into one stderr line and an exit status.
    static func main() {
        // The raw bytes of every argument: a path that is not UTF-8 must name the file it names.
        let arguments = joiningNegativeValues(PathBytes.commandLineArguments())
        let json = arguments.contains("--json")
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch let exit as ExitCode {
            Foundation.exit(exit.rawValue)
        } catch {
            // --help and --version arrive here as "clean" errors; ArgumentParser prints them.
            if exitCode(for: error) == .success { self.exit(withError: error) }
            let failure = Failure(error, parseStatus: exitCode(for: error), parseMessage: message(for: error))
            if json { JSONLine.write([("event", .string("error")), ("message", .string(failure.message)),
                                      ("status", .int(Int(failure.status)))]) }
            Terminal.writeError("vqclip: error: \(failure.message)\n")
            Foundation.exit(failure.status)
        }
    }
}

/// `--size -5` as `--size=-5`: the argument parser reads a word starting with `-` as an option,
/// so a negative number after an option would be "missing a value" instead of out of range.
func joiningNegativeValues(_ arguments: [String]) -> [String] {
    var out: [String] = []
    for argument in arguments {
        if let previous = out.last, previous.hasPrefix("--"), !previous.contains("="), previous != "--",
           argument.count > 1, argument.hasPrefix("-"), Double(argument) != nil {
            out[out.count - 1] = previous + "=" + argument
        } else {
            out.append(argument)
        }
    }
    return out
}

/// An error classified for the user: status 2 for bad input, 1 for internal failures.
struct Failure {
    let status: Int32
    let message: String

    init(_ error: Error, parseStatus: ExitCode, parseMessage: String) {
        if let input = error as? UserInputError {
            status = 2
            message = input.description
        } else if parseStatus == .validationFailure {
            // Argument parsing or validation: a user error in the command line itself.
            status = 2
            message = parseMessage.split(separator: "\n").first.map(String.init) ?? "invalid arguments"
        } else {
            status = 1
            message = "internal error: \(error)"
        }
    }
}

/// Errors caused by what the user gave us (files, values): exit status 2, printed as one line.
protocol UserInputError: Error, CustomStringConvertible {}

// Every library error type names a file or input the user supplied (an image, a checkpoint, a
// config, a prompt), so all of them are bad input rather than internal failures.
extension ImageIOError: UserInputError {}
extension CheckpointError: UserInputError {}
extension VQGANError: UserInputError {}
extension CaptionError: UserInputError {}
extension CLIPError: UserInputError {}
extension RenderError: UserInputError {}
extension PromptError: UserInputError {}
extension ModelError: UserInputError {}

/// A user error (bad file, bad value) found while running.
struct BadInput: UserInputError {
    let description: String
    init(_ description: String) { self.description = description }
}
