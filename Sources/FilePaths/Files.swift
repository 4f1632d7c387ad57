// File-system calls on paths in their String form (PathBytes): each converts the path back to
// its exact bytes at the system call, so a name that is not UTF-8 is opened, created and renamed
// as given. Foundation's FileManager, Data(contentsOf:) and friends would pass the String's UTF-8
// instead, so the code that takes paths from users goes through here.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed file operation: the path (as given) and the problem.
public struct FileError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let problem: String
    /// The errno of the failing call (0 when the problem is not a system error).
    public let code: Int32

    public init(path: String, problem: String, code: Int32 = 0) {
        self.path = path
        self.problem = problem
        self.code = code
    }

    /// "PATH: problem", with bytes that are not UTF-8 shown as `\xFF`.
    public var description: String { "\(PathBytes.display(path)): \(problem)" }

    /// True for failures of the machine rather than of the request (disk full, I/O error).
    public var isEnvironmental: Bool { [ENOSPC, EIO, EDQUOT, ENOMEM, EMFILE, ENFILE].contains(code) }
}

// The system calls under names that the methods of Files do not shadow.
private func systemOpen(_ path: UnsafePointer<CChar>, _ flags: Int32, _ mode: mode_t) -> Int32 { open(path, flags, mode) }
private func systemRename(_ from: UnsafePointer<CChar>, _ to: UnsafePointer<CChar>) -> Int32 { rename(from, to) }
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int { read(fd, buffer, count) }
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int { write(fd, buffer, count) }

public enum Files {
    /// The text of the current errno, e.g. "No such file or directory".
    public static func errnoText() -> String { String(cString: strerror(errno)) }

    /// The working directory in String form (getcwd's exact bytes), or "." when it cannot be told.
    public static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        while getcwd(&buffer, buffer.count) == nil {
            guard errno == ERANGE, buffer.count < 1 << 20 else { return "." }
            buffer = [CChar](repeating: 0, count: buffer.count * 2)
        }
        return buffer.withUnsafeBufferPointer { PathBytes.string(cString: $0.baseAddress!) }
    }

    /// A file URL for `path`, made absolute against the working directory's exact bytes.
    /// (`URL(fileURLWithPath:)` alone would resolve a relative path against a working directory
    /// read as UTF-8, losing the bytes of a folder name that is not.)
    public static func url(_ path: String) -> URL {
        if path.hasPrefix("/") { return URL(fileURLWithPath: path) }
        let directory = currentDirectory()
        return URL(fileURLWithPath: directory == "/" ? "/" + path : directory + "/" + path)
    }

    /// Calls `body` with the exact bytes of `path` as a C string. A path holding a NUL byte
    /// cannot name a file: `body` is not called and nil is returned with errno EINVAL.
    public static func withSystemPath<R>(_ path: String, _ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R? {
        var bytes = PathBytes.bytes(of: path)
        guard !bytes.contains(0) else { errno = EINVAL; return nil }
        bytes.append(0)
        return try bytes.withUnsafeBufferPointer { buffer in
            try buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { try body($0) }
        }
    }

    /// open(2) on the exact bytes of `path`; -1 with errno set on failure.
    public static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Int32 {
        withSystemPath(path) { systemOpen($0, flags, mode) } ?? -1
    }

    /// stat(2) (following symbolic links), or nil.
    public static func status(_ path: String) -> stat? {
        var info = stat()
        return withSystemPath(path, { stat($0, &info) }) == 0 ? info : nil
    }

    /// True when something exists at `path` (a broken symbolic link does not count).
    public static func exists(_ path: String) -> Bool { status(path) != nil }

    /// True when `path` is a directory or a symbolic link to one.
    public static func isDirectory(_ path: String) -> Bool {
        status(path).map { ($0.st_mode & S_IFMT) == S_IFDIR } ?? false
    }

    /// True when `path` is a regular file (or a link to one) that may be executed.
    public static func isExecutableFile(_ path: String) -> Bool {
        guard let info = status(path), (info.st_mode & S_IFMT) == S_IFREG else { return false }
        return withSystemPath(path) { access($0, X_OK) } == 0
    }

    /// rename(2) from `source` to `destination`.
    public static func rename(_ source: String, to destination: String) throws {
        let result = withSystemPath(source) { from in withSystemPath(destination) { to in systemRename(from, to) } ?? -1 } ?? -1
        guard result == 0 else { throw FileError(path: destination, problem: "cannot replace file (\(errnoText()))", code: errno) }
    }

    /// Removes a file (not a directory); a missing file is not an error.
    public static func remove(_ path: String) {
        _ = withSystemPath(path) { unlink($0) }
    }

    /// Creates `path` and any missing parents, like `mkdir -p`.
    public static func createDirectory(_ path: String) throws {
        if isDirectory(path) { return }
        let bytes = PathBytes.bytes(of: path)
        if let slash = bytes.lastIndex(of: UInt8(ascii: "/")), slash > 0 {
            try createDirectory(PathBytes.string(decoding: bytes[..<slash]))
        }
        if withSystemPath(path, { mkdir($0, 0o777) }) != 0 && !(errno == EEXIST && isDirectory(path)) {
            throw FileError(path: path, problem: "cannot create directory (\(errnoText()))", code: errno)
        }
    }

    /// The names in a directory (without "." and ".."), in no particular order.
    public static func contentsOfDirectory(_ path: String) throws -> [String] {
        guard let directory = withSystemPath(path, { opendir($0) }) ?? nil else {
            throw FileError(path: path, problem: "cannot list directory (\(errnoText()))", code: errno)
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) {
                    PathBytes.string(cString: $0)
                }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Reads a regular file completely.
    public static func read(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(path: path, problem: "cannot open file (\(errnoText()))", code: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileError(path: path, problem: "cannot stat file (\(errnoText()))", code: errno) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw FileError(path: path, problem: "not a regular file") }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var filled = 0
        // Read until EOF: the file may grow or shrink after fstat, so the size is only a hint.
        while true {
            if filled == bytes.count { bytes.append(contentsOf: [UInt8](repeating: 0, count: max(4096, bytes.count / 2))) }
            let n = bytes.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(path: path, problem: "read failed (\(errnoText()))", code: errno)
            }
            if n == 0 { break }
            filled += n
        }
        bytes.removeSubrange(filled...)
        return bytes
    }

    /// The name of a temporary file beside `path`: `.NAME.tmp-PID-RANDOM` in the same directory,
    /// so that a rename over `path` is atomic and a stale one can be told by its process id.
    public static func temporaryPath(beside path: String) throws -> String {
        let bytes = PathBytes.bytes(of: path)
        let slash = bytes.lastIndex(of: UInt8(ascii: "/"))
        let directory = slash.map { Array(bytes[...$0]) } ?? []
        let name = slash.map { Array(bytes[($0 + 1)...]) } ?? bytes
        guard !name.isEmpty else { throw FileError(path: path, problem: "not a file name") }
        let suffix = ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        return PathBytes.string(decoding: directory + [UInt8(ascii: ".")] + name + Array(suffix.utf8))
    }

    /// Replaces `path` atomically: `produce` writes a temporary file in the same directory, which
    /// is then renamed over `path`. Readers see the old file or the complete new one, never a
    /// partial write; on any failure the temporary file is removed and `path` is untouched.
    public static func replaceAtomically(_ path: String, produce: (_ temporaryPath: String) throws -> Void) throws {
        let temporary = try temporaryPath(beside: path)
        do {
            try produce(temporary)
            try rename(temporary, to: path)
        } catch {
            remove(temporary)
            throw error
        }
    }

    /// Writes `bytes` to a new file at `path` (which must not exist); errors name `reportPath`.
    public static func writeNew(_ bytes: [UInt8], to path: String, reportPath: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw FileError(path: reportPath, problem: "cannot create file (\(errnoText()))", code: errno) }
        do { try writeAll(bytes, to: fd, reportPath: reportPath) } catch { close(fd); throw error }
        guard close(fd) == 0 else { throw FileError(path: reportPath, problem: "write failed (\(errnoText()))", code: errno) }
    }

    /// Replaces `path` with `bytes` atomically.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        try replaceAtomically(path) { try writeNew(bytes, to: $0, reportPath: path) }
    }

    /// Appends `bytes` to `path`, creating it if needed.
    public static func append(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw FileError(path: path, problem: "cannot open for appending (\(errnoText()))", code: errno) }
        do { try writeAll(bytes, to: fd, reportPath: path) } catch { close(fd); throw error }
        guard close(fd) == 0 else { throw FileError(path: path, problem: "write failed (\(errnoText()))", code: errno) }
    }

    static func writeAll(_ bytes: [UInt8], to fd: Int32, reportPath: String) throws {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { systemWrite(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(path: reportPath, problem: "write failed (\(errnoText()))", code: errno)
            }
            written += n
        }
    }
}
