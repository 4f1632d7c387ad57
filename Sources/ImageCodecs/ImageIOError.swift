// One error type for every codec failure, printed as a single line "FILE: problem".

import FilePaths

/// A failure to read or write an image file. Its description is one line naming the file and
/// the problem, ready for a command-line tool to print.
public struct ImageIOError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file involved, as given by the caller.
    public let path: String
    /// What went wrong, without the path.
    public let problem: String

    public init(path: String, problem: String) {
        self.path = path
        // Codec messages sometimes end in a newline or a period and may span lines; keep one clean line.
        var p = problem.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).joined(separator: " ")
        while let last = p.last, last == " " || last == "." || last == "\t" { p.removeLast() }
        while let first = p.first, first == " " || first == "\t" { p.removeFirst() }
        self.problem = p.isEmpty ? "unknown error" : p
    }

    /// "FILE: problem", with bytes of the name that are not UTF-8 shown as `\xFF`.
    public var description: String { "\(PathBytes.display(path)): \(problem)" }
}
