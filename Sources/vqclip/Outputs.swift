// Where results go and what they are called, shared by the commands that write images so that
// `demo` and `shapes` lay out DIR the same way:
//   DIR/<prompt-slug>-<seed>.png            the result, with provenance in PNG text chunks
//   DIR/<prompt-slug>-<seed>-frames/step-0050.png   progress frames (when asked for)

import ArgumentParser
import Checkpoints
import FilePaths
import Foundation
import ImageCodecs

enum Outputs {
    /// A file-name-safe form of a prompt: lowercase ASCII letters and digits joined by single
    /// hyphens, at most `maxLength` characters, "image" when nothing is left.
    static func slug(_ prompt: String, maxLength: Int = 60) -> String {
        var out = ""
        for scalar in prompt.lowercased().unicodeScalars {
            if scalar.isASCII, CharacterSet.alphanumerics.contains(scalar) {
                out.unicodeScalars.append(scalar)
            } else if !out.isEmpty, out.last != "-" {
                out.append("-")
            }
        }
        if out.count > maxLength {
            // Cut at a word boundary when there is one.
            let cut = out.prefix(maxLength + 1)
            out = cut.lastIndex(of: "-").map { String(cut[..<$0]) } ?? String(out.prefix(maxLength))
        }
        while out.hasSuffix("-") { out.removeLast() }
        return out.isEmpty ? "image" : out
    }

    /// The stem shared by a run's result and its frame directory.
    static func stem(prompt: String, seed: UInt64) -> String { "\(slug(prompt))-\(seed)" }

    /// DIR/<stem>.png
    static func resultURL(in directory: URL, prompt: String, seed: UInt64) -> URL {
        directory.appendingPathComponent(stem(prompt: prompt, seed: seed) + ".png")
    }

    /// DIR/<stem>-frames/step-NNNN.png
    static func frameURL(in directory: URL, prompt: String, seed: UInt64, step: Int) -> URL {
        directory.appendingPathComponent(stem(prompt: prompt, seed: seed) + "-frames")
            .appendingPathComponent(String(format: "step-%04d.png", step))
    }

    /// Creates `directory` (and its parents) if needed; failure is the user's bad --output.
    /// Temporary files that a killed run left there are removed.
    static func prepareDirectory(_ directory: URL) throws {
        if Files.exists(directory.path) {
            guard Files.isDirectory(directory.path) else { throw BadInput("\(directory.path): not a directory") }
            removeStaleTemporaries(in: directory)
            return
        }
        do { try Files.createDirectory(directory.path) } catch let error as FileError {
            throw BadInput(error.description)
        }
    }

    /// Removes `.NAME.tmp-PID…` files (every atomic write here names its temporary file so)
    /// whose writing process no longer exists: what `kill -9` or a crash mid-write leaves.
    static func removeStaleTemporaries(in directory: URL) {
        guard let names = try? Files.contentsOfDirectory(directory.path) else { return }
        for name in names where name.hasPrefix(".") {
            guard let range = name.range(of: ".tmp-", options: .backwards) else { continue }
            let digits = name[range.upperBound...].prefix { $0.isNumber }
            guard let pid = Int32(digits), pid > 0, pid != getpid() else { continue }
            // kill(pid, 0) fails with ESRCH when no such process exists.
            if kill(pid, 0) != 0 && errno == ESRCH {
                Files.remove(directory.appendingPathComponent(name).path)
            }
        }
    }

    /// A stem unique to the prompt and settings: `<slug>-<seed>-<hash>`, the hash over the
    /// full prompt and the settings, so that prompts differing past the slug's length, or the
    /// same prompt with other options, never share a file, while a repeat of the same run does.
    static func uniqueStem(prompt: String, seed: UInt64, settings: String) -> String {
        stem(prompt: prompt, seed: seed) + "-" + shortHash(prompt + "\n" + settings)
    }

    /// Checks, before any work, that `file` can be written: its folder exists or is created, and
    /// a file can be created in it (then removed). An existing `file` is left untouched.
    static func checkWritable(file: URL) throws {
        let directory = file.deletingLastPathComponent()
        try prepareDirectory(directory)
        let probe = directory.appendingPathComponent(".vqclip-write-check-\(getpid())")
        let fd = Files.open(probe.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o666)
        guard fd >= 0 else {
            throw BadInput("\(directory.path): cannot write here (for \(file.lastPathComponent))")
        }
        close(fd)
        Files.remove(probe.path)
        if Files.isDirectory(file.path) {
            throw BadInput("\(file.path): is a directory")
        }
    }

    /// Provenance written into every PNG: software and version first, then the run's settings.
    static func metadata(_ settings: [(String, String)]) -> [(String, String)] {
        [("Software", "vqclip \(vqclipVersion)"), ("vqclip_version", vqclipVersion)] + settings
    }
}

/// The --json switch every long-running command shares.
struct ReportingOptions: ParsableArguments {
    @Flag(name: .long, help: "Emit one JSON object per line on stdout (events: start, progress, saved, done, error) instead of drawing progress.")
    var json = false
}

/// Rejects an option value outside `range` with the message every command uses.
func requireRange(_ value: Int, _ range: ClosedRange<Int>, _ option: String) throws {
    guard range.contains(value) else {
        throw ValidationError("--\(option) must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
    }
}

/// The first 8 hex digits of the SHA-256 of `text`.
func shortHash(_ text: String) -> String {
    var digest = SHA256()
    digest.update(Array(text.utf8))
    return String(digest.hexDigest().prefix(8))
}
