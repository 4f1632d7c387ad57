// Whole-file reads and atomic replacement (temporary file in the destination's directory, then
// rename), with errno turned into a short phrase for ImageIOError.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum FileIO {
    /// The text of the current errno, e.g. "No such file or directory".
    static func errnoText() -> String { String(cString: strerror(errno)) }

    /// Reads a regular file completely.
    static func readAll(path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ImageIOError(path: path, problem: "cannot open file (\(errnoText()))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ImageIOError(path: path, problem: "cannot stat file (\(errnoText()))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw ImageIOError(path: path, problem: "not a regular file") }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var filled = 0
        // Read until EOF: the file may grow or shrink after fstat, so the size is only a hint.
        while true {
            if filled == bytes.count { bytes.append(contentsOf: [UInt8](repeating: 0, count: max(4096, bytes.count / 2))) }
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ImageIOError(path: path, problem: "read failed (\(errnoText()))")
            }
            if n == 0 { break }
            filled += n
        }
        bytes.removeSubrange(filled...)
        return bytes
    }

    /// Replaces `path` atomically: `produce` writes a temporary file in the same directory, which
    /// is then renamed over `path`. Readers see the old file or the complete new one, never a
    /// partial write; on any failure the temporary file is removed and `path` is untouched.
    static func replaceAtomically(path: String, produce: (_ temporaryPath: String) throws -> Void) throws {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard !name.isEmpty else { throw ImageIOError(path: path, problem: "not a file name") }
        let temporary = (directory.isEmpty ? "" : directory + "/") + ".\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do {
            try produce(temporary)
            guard rename(temporary, path) == 0 else {
                throw ImageIOError(path: path, problem: "cannot replace file (\(errnoText()))")
            }
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// Writes `bytes` to a new file at `temporaryPath`; errors name `reportPath`.
    static func writeNew(_ bytes: [UInt8], temporaryPath: String, reportPath: String) throws {
        let fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw ImageIOError(path: reportPath, problem: "cannot create file (\(errnoText()))") }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                let problem = "write failed (\(errnoText()))"
                close(fd)
                throw ImageIOError(path: reportPath, problem: problem)
            }
            written += n
        }
        guard close(fd) == 0 else { throw ImageIOError(path: reportPath, problem: "write failed (\(errnoText()))") }
    }
}
