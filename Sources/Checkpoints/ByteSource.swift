// Read-only bytes of a checkpoint: a private memory mapping of the file (so multi-GB Lightning
// files with dead optimizer state cost only the pages actually touched) or a copy of bytes in
// memory (tests, fuzzing). Plus a bounds-checked little-endian cursor over them.

import FilePaths
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Immutable bytes that outlive every tensor view into them.
final class ByteSource: @unchecked Sendable {
    /// All bytes of the source; valid while `self` is alive.
    let bytes: UnsafeRawBufferPointer
    private let release: () -> Void

    /// Maps the file read-only. Empty files give an empty source.
    init(mapping url: URL) throws {
        // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
        let fd = Files.open(url.path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw FormatError("cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw FormatError("cannot stat: \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw FormatError("not a regular file") }
        let size = Int(info.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            release = {}
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0),
              base != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw FormatError("cannot map: \(String(cString: strerror(errno)))")
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
        release = { munmap(base, size) }
    }

    /// Copies `data` into memory owned by the source.
    init(copying data: [UInt8]) {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(data.count, 1), alignment: 64)
        data.withUnsafeBytes { storage.copyMemory(from: $0) }
        bytes = UnsafeRawBufferPointer(start: storage.baseAddress, count: data.count)
        release = { storage.deallocate() }
    }

    deinit { release() }

    var count: Int { bytes.count }

    /// The bytes in `range` after checking it lies inside the source.
    func slice(_ offset: Int, _ length: Int, _ what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        guard offset >= 0, length >= 0, offset <= bytes.count, length <= bytes.count - offset else {
            throw FormatError("\(what()) (offset \(offset), \(length) bytes) lies outside the file (\(bytes.count) bytes)")
        }
        return UnsafeRawBufferPointer(rebasing: bytes[offset ..< offset + length])
    }
}

/// A region of a ``ByteSource`` holding the raw elements of one storage.
struct StorageBytes: Sendable {
    let source: ByteSource
    /// Byte offset of element 0 in the source.
    let offset: Int
    /// Number of elements of `dtype` available from `offset`.
    let elementCount: Int
    let dtype: DType
    /// Big-endian element bytes (torch zip archives with `byteorder` = "big").
    let bigEndian: Bool
}

/// A bounds-checked forward cursor over bytes; every read throws instead of running off the end.
struct ByteReader {
    let buffer: UnsafeRawBufferPointer
    var position: Int
    /// What is being read, for error messages ("pickle", "zip central directory").
    let what: String

    init(_ buffer: UnsafeRawBufferPointer, at position: Int = 0, what: String) {
        self.buffer = buffer
        self.position = position
        self.what = what
    }

    var remaining: Int { buffer.count - position }
    var atEnd: Bool { position >= buffer.count }

    mutating func need(_ n: Int) throws {
        guard n >= 0, n <= remaining else {
            throw FormatError("truncated \(what): needs \(n) more bytes at offset \(position), \(max(remaining, 0)) left")
        }
    }

    mutating func u8() throws -> UInt8 {
        try need(1)
        defer { position += 1 }
        return buffer[position]
    }

    mutating func uint(_ size: Int) throws -> UInt64 {
        try need(size)
        var value: UInt64 = 0
        for i in 0 ..< size { value |= UInt64(buffer[position + i]) << (8 * UInt64(i)) }
        position += size
        return value
    }

    mutating func u16() throws -> Int { Int(try uint(2)) }
    mutating func u32() throws -> Int { Int(try uint(4)) }
    mutating func i32() throws -> Int { Int(Int32(truncatingIfNeeded: try uint(4))) }
    /// A u64 that must fit in Int (anything larger cannot be a valid size in this file).
    mutating func u64() throws -> Int {
        let value = try uint(8)
        guard value <= UInt64(Int.max) else { throw FormatError("\(what): 64-bit value \(value) out of range at offset \(position - 8)") }
        return Int(value)
    }

    mutating func bytes(_ n: Int) throws -> UnsafeRawBufferPointer {
        try need(n)
        defer { position += n }
        return UnsafeRawBufferPointer(rebasing: buffer[position ..< position + n])
    }

    /// Bytes up to (not including) the next `\n`, which is consumed.
    mutating func line() throws -> UnsafeRawBufferPointer {
        var end = position
        while end < buffer.count, buffer[end] != 0x0A { end += 1 }
        guard end < buffer.count else { throw FormatError("truncated \(what): unterminated line at offset \(position)") }
        defer { position = end + 1 }
        return UnsafeRawBufferPointer(rebasing: buffer[position ..< end])
    }
}
