// safetensors: u64 LE header length N · N bytes of JSON · raw little-endian C-contiguous data.
// Reading validates every header field against the file before any tensor view is made;
// writing is atomic (temporary file in the destination directory, then rename).

import FilePaths
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading and writing `.safetensors` files.
public enum SafeTensors {
    /// Largest header accepted. The reference implementation allows 100 MB; real headers are
    /// well under 1 MB (a few hundred bytes per tensor), and parsed JSON takes ~20× its text,
    /// so a smaller cap keeps a hostile header from costing gigabytes.
    static let maxHeaderBytes = 16 << 20

    static let dtypeNames: [String: DType] = [
        "F32": .float32, "F16": .float16, "BF16": .bfloat16, "F64": .float64,
        "I64": .int64, "I32": .int32, "I16": .int16, "I8": .int8, "U8": .uint8, "BOOL": .bool,
    ]

    /// Reads the header and maps the data of a safetensors file; names are in data order.
    public static func read(contentsOf url: URL) throws -> StateDict {
        let file = url.path
        return try naming(file) {
            try parse(source: try ByteSource(mapping: url), file: file)
        }
    }

    /// Content sniffing: the JSON header opens right after the 8-byte length. Neither a zip
    /// (compression method there) nor a torch pickle (its magic number) has `{` at offset 8;
    /// the length itself is checked by the parser, so a truncated file reports truncation.
    static func looksLike(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 9 && bytes[8] == UInt8(ascii: "{")
    }

    static func parse(source: ByteSource, file: String) throws -> StateDict {
        var reader = ByteReader(source.bytes, what: "safetensors header")
        let headerLength = try reader.u64()
        guard headerLength <= maxHeaderBytes else {
            throw FormatError("safetensors header of \(headerLength) bytes exceeds the \(maxHeaderBytes)-byte limit")
        }
        let header = try reader.bytes(headerLength)
        let dataStart = 8 + headerLength
        let dataLength = source.count - dataStart
        guard case .object(let members) = try JSON.parse(header) else {
            throw FormatError("safetensors header is not a JSON object")
        }

        var metadata: [String: String] = [:]
        var entries: [(name: String, begin: Int, end: Int, dtype: DType, shape: [Int], order: Int)] = []
        var seen = Set<String>()
        for (order, (key, value)) in members.enumerated() {
            guard seen.insert(key).inserted else { throw FormatError("duplicate key '\(key)' in safetensors header") }
            if key == "__metadata__" {
                guard case .object(let pairs) = value else { throw FormatError("__metadata__ is not an object") }
                for (k, v) in pairs {
                    guard case .string(let s) = v else { throw FormatError("__metadata__ value for '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard case .object(let fields) = value else { throw FormatError("entry '\(key)' is not an object") }
            var dtypeName: String?
            var shape: [Int]?
            var offsets: [Int]?
            for (field, fieldValue) in fields {
                switch field {
                case "dtype":
                    guard case .string(let s) = fieldValue else { throw FormatError("tensor '\(key)': dtype is not a string") }
                    dtypeName = s
                case "shape": shape = try intArray(fieldValue, "tensor '\(key)': shape")
                case "data_offsets": offsets = try intArray(fieldValue, "tensor '\(key)': data_offsets")
                default: continue
                }
            }
            guard let dtypeName, let shape, let offsets else {
                throw FormatError("tensor '\(key)' lacks dtype, shape or data_offsets")
            }
            guard let dtype = dtypeNames[dtypeName] else { throw FormatError("tensor '\(key)' has unsupported dtype \(dtypeName)") }
            guard offsets.count == 2, offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= dataLength else {
                throw FormatError("tensor '\(key)': data_offsets \(offsets) outside the \(dataLength)-byte data section")
            }
            let count = try elementCount(of: shape, tensor: key)
            let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.itemSize)
            guard !overflow, bytes == offsets[1] - offsets[0] else {
                throw FormatError("tensor '\(key)': shape \(shape) of \(dtypeName) needs \(overflow ? "too many" : String(bytes)) bytes but data_offsets \(offsets) span \(offsets[1] - offsets[0])")
            }
            entries.append((key, offsets[0], offsets[1], dtype, shape, order))
        }

        // Data regions must not overlap (the reference writer lays them out back to back).
        entries.sort { ($0.begin, $0.order) < ($1.begin, $1.order) }
        var previousEnd = 0
        var previousName = ""
        var tensors: [StoredTensor] = []
        tensors.reserveCapacity(entries.count)
        for entry in entries {
            guard entry.begin >= previousEnd || entry.begin == entry.end else {
                throw FormatError("tensor '\(entry.name)' overlaps the data of '\(previousName)'")
            }
            if entry.end > entry.begin {
                previousEnd = entry.end
                previousName = entry.name
            }
            let storage = StorageBytes(source: source, offset: dataStart + entry.begin,
                                       elementCount: (entry.end - entry.begin) / entry.dtype.itemSize,
                                       dtype: entry.dtype, bigEndian: false)
            tensors.append(try StoredTensor(name: entry.name, shape: entry.shape, storage: storage, file: file))
        }
        return StateDict(tensors: tensors, format: .safetensors, metadata: metadata, source: file)
    }

    private static func intArray(_ value: JSONNode, _ what: String) throws -> [Int] {
        guard case .array(let items) = value else { throw FormatError("\(what) is not an array") }
        return try items.map {
            guard case .int(let i) = $0 else { throw FormatError("\(what) holds a non-integer") }
            return i
        }
    }

    /// Writes tensors (in the given order, back to back) and string metadata to `url`, stored as
    /// `dtype`: `.float32` (exact) or `.float16` (rounded to nearest even; half the size, for
    /// shipping weights). The file appears complete or not at all: data goes to a temporary file
    /// in the same directory, which is flushed and then renamed over `url`.
    public static func write(_ tensors: [(name: String, shape: [Int], values: [Float])],
                             metadata: [String: String], to url: URL, dtype: DType = .float32) throws {
        let file = url.path
        guard dtype == .float32 || dtype == .float16 else {
            throw CheckpointError(file: file, message: "safetensors writing supports F32 and F16, not \(dtype)")
        }
        let half = dtype == .float16
        var members: [(key: String, value: JSONNode)] = []
        if !metadata.isEmpty {
            members.append(("__metadata__", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        var names = Set<String>()
        var offset = 0
        for tensor in tensors {
            guard !tensor.name.isEmpty, tensor.name != "__metadata__" else {
                throw CheckpointError(file: file, message: "invalid tensor name '\(tensor.name)'")
            }
            guard names.insert(tensor.name).inserted else {
                throw CheckpointError(file: file, message: "duplicate tensor name '\(tensor.name)'")
            }
            guard tensor.shape.allSatisfy({ $0 >= 0 }), tensor.shape.reduce(1, *) == tensor.values.count else {
                throw CheckpointError(file: file, message: "tensor '\(tensor.name)': shape \(tensor.shape) does not match \(tensor.values.count) values")
            }
            let end = offset + tensor.values.count * dtype.itemSize
            members.append((tensor.name, .object([
                ("dtype", .string(half ? "F16" : "F32")),
                ("shape", .array(tensor.shape.map { .int($0) })),
                ("data_offsets", .array([.int(offset), .int(end)])),
            ])))
            offset = end
        }
        var header = Array(JSON.serialize(.object(members)).utf8)
        // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
        while (8 + header.count) % 8 != 0 { header.append(0x20) }

        try atomicWrite(to: url) { sink in
            var length = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &length) { try sink($0) }
            try header.withUnsafeBytes { try sink($0) }
            for tensor in tensors where half {
                let bits = tensor.values.map { floatToHalf($0).littleEndian }
                try bits.withUnsafeBytes { try sink($0) }
            }
            for tensor in tensors where !half {
                #if _endian(big)
                let values = tensor.values.map { Float(bitPattern: $0.bitPattern.byteSwapped) }
                #else
                let values = tensor.values
                #endif
                try values.withUnsafeBytes { try sink($0) }
            }
        }
    }
}

/// Writes a file through `produce` into a temporary sibling, syncs it and renames it over `url`;
/// on any failure the temporary file is removed and `url` is untouched.
func atomicWrite(to url: URL, _ produce: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
    let file = url.path
    let temporary: String
    do { temporary = try Files.temporaryPath(beside: file) } catch { throw CheckpointError(file: file, message: "not a file name") }
    let fd = Files.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
        throw CheckpointError(file: file, message: "cannot create temporary file: \(String(cString: strerror(errno)))")
    }
    var closed = false
    do {
        try produce { chunk in
            var done = 0
            while done < chunk.count {
                let n = Glibc.write(fd, chunk.baseAddress! + done, chunk.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw CheckpointError(file: file, message: "write failed: \(String(cString: strerror(errno)))")
                }
                done += n
            }
        }
        guard fsync(fd) == 0 else { throw CheckpointError(file: file, message: "fsync failed: \(String(cString: strerror(errno)))") }
        closed = true
        guard close(fd) == 0 else { throw CheckpointError(file: file, message: "close failed: \(String(cString: strerror(errno)))") }
        do { try Files.rename(temporary, to: file) } catch {
            throw CheckpointError(file: file, message: "cannot rename temporary file: \(String(cString: strerror(errno)))")
        }
    } catch {
        if !closed { close(fd) }
        Files.remove(temporary)
        throw error
    }
}
