// Whole-file reads and atomic replacement through FilePaths (exact path bytes, temporary file in
// the destination's directory, then rename), with its errors as ImageIOError.

import FilePaths

enum FileIO {
    /// Reads a regular file completely.
    static func readAll(path: String) throws -> [UInt8] {
        try asImageError { try Files.read(path) }
    }

    /// Replaces `path` atomically: `produce` writes a temporary file in the same directory, which
    /// is then renamed over `path`. Readers see the old file or the complete new one, never a
    /// partial write; on any failure the temporary file is removed and `path` is untouched.
    static func replaceAtomically(path: String, produce: (_ temporaryPath: String) throws -> Void) throws {
        try asImageError { try Files.replaceAtomically(path, produce: produce) }
    }

    /// Writes `bytes` to a new file at `temporaryPath`; errors name `reportPath`.
    static func writeNew(_ bytes: [UInt8], temporaryPath: String, reportPath: String) throws {
        try asImageError { try Files.writeNew(bytes, to: temporaryPath, reportPath: reportPath) }
    }

    /// Calls a C function that opens `path` itself with the path's exact bytes.
    static func withSystemPath<R>(_ path: String, reportPath: String, _ body: (UnsafePointer<CChar>) throws -> R) throws -> R {
        guard let result = try Files.withSystemPath(path, body) else {
            throw ImageIOError(path: reportPath, problem: "a file name cannot hold a NUL byte")
        }
        return result
    }

    private static func asImageError<R>(_ body: () throws -> R) throws -> R {
        do { return try body() } catch let error as FileError { throw ImageIOError(path: error.path, problem: error.problem) }
    }
}
