import Foundation
import Testing
@testable import Checkpoints

/// A fresh directory under the system temporary directory.
func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("vqclip-ckpt-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Writes raw bytes to a temporary file and returns its URL.
func writeTemporary(_ bytes: [UInt8], name: String = "input.bin") throws -> URL {
    let url = try temporaryDirectory().appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return url
}

/// Builds a safetensors file image from a header JSON string and a data section.
func safetensorsImage(header: String, data: [UInt8]) -> [UInt8] {
    let h = Array(header.utf8)
    var out: [UInt8] = []
    var n = UInt64(h.count)
    for _ in 0 ..< 8 { out.append(UInt8(n & 0xFF)); n >>= 8 }
    return out + h + data
}

/// Expects `body` to throw a CheckpointError whose text names `file` and contains `fragment`.
func expectCheckpointError(_ file: URL, contains fragment: String = "", _ body: () throws -> Void,
                           sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        try body()
        Issue.record("expected a CheckpointError", sourceLocation: sourceLocation)
    } catch let error as CheckpointError {
        #expect(error.description.hasPrefix(file.path), "\(error)", sourceLocation: sourceLocation)
        #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
        if !fragment.isEmpty {
            #expect(error.description.contains(fragment), "\(error)", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct SafeTensorsTests {
    @Test func writeThenReadRoundTrips() throws {
        let url = try temporaryDirectory().appendingPathComponent("model.safetensors")
        let a: [Float] = [1, -2.5, 3.25, .infinity, -0.0, .leastNonzeroMagnitude]
        let b: [Float] = [7]
        try SafeTensors.write([("layer.weight", [2, 3], a), ("scale", [], b), ("empty", [0, 4], [])],
                              metadata: ["format": "pt", "note": "a \"quoted\" value"], to: url)
        let sd = try SafeTensors.read(contentsOf: url)
        #expect(sd.format == .safetensors)
        #expect(sd.names == ["layer.weight", "scale", "empty"])
        #expect(sd.metadata == ["format": "pt", "note": "a \"quoted\" value"])
        let w = try sd.tensor("layer.weight")
        #expect(w.shape == [2, 3] && w.dtype == .float32)
        #expect(try w.floats().map(\.bitPattern) == a.map(\.bitPattern))
        #expect(try sd.tensor("scale").floats() == [7])
        #expect(try sd.tensor("empty").count == 0)
        // Auto-detection reaches the same reader.
        #expect(try loadStateDict(contentsOf: url).names == sd.names)
        // Header is padded so the data starts 8-byte aligned.
        let bytes = try [UInt8](Data(contentsOf: url))
        let headerLength = bytes[0 ..< 8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect((8 + headerLength) % 8 == 0)
        // No temporary file left behind.
        let siblings = try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path)
        #expect(siblings == ["model.safetensors"])
    }

    @Test func writeRejectsMismatchedShapeAndLeavesNoFile() throws {
        let url = try temporaryDirectory().appendingPathComponent("bad.safetensors")
        expectCheckpointError(url, contains: "shape") {
            try SafeTensors.write([("x", [2, 2], [1, 2, 3])], metadata: [:], to: url)
        }
        expectCheckpointError(url, contains: "duplicate") {
            try SafeTensors.write([("x", [1], [1]), ("x", [1], [2])], metadata: [:], to: url)
        }
        #expect(!FileManager.default.fileExists(atPath: url.path))
    }

    @Test func readsHalfBFloatAndInt64() throws {
        // f16: 1.0 = 0x3C00, -2.0 = 0xC000, smallest subnormal 0x0001 = 2^-24, inf 0x7C00
        // bf16: 1.0 = 0x3F80, -3.0 = 0xC040; i64: -5, 2^40
        var data: [UInt8] = [0x00, 0x3C, 0x00, 0xC0, 0x01, 0x00, 0x00, 0x7C]
        data += [0x80, 0x3F, 0x40, 0xC0]
        for v in [Int64(-5), Int64(1) << 40] { withUnsafeBytes(of: v.littleEndian) { data += $0 } }
        let header = #"{"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},"i":{"dtype":"I64","shape":[2],"data_offsets":[12,28]}}"#
        let url = try writeTemporary(safetensorsImage(header: header, data: data))
        let sd = try SafeTensors.read(contentsOf: url)
        #expect(try sd.tensor("h").floats() == [1, -2, Float(sign: .plus, exponent: -24, significand: 1), .infinity])
        #expect(try sd.tensor("b").floats() == [1, -3])
        #expect(try sd.tensor("i").int64s() == [-5, 1 << 40])
        #expect(try sd.tensor("i").floats() == [-5, Float(1 << 40)])
        expectCheckpointError(url, contains: "not an integer") { _ = try sd.tensor("h").int64s() }
        expectCheckpointError(url, contains: "missing tensor 'nope'") { _ = try sd.tensor("nope") }
    }

    @Test func halfConversionIsExactForAllValues() {
        for bits in 0 ... UInt16.max {
            let expected = Float(Float16(bitPattern: bits))
            let got = halfToFloat(bits)
            if expected.isNaN {
                #expect(got.isNaN)
            } else if got.bitPattern != expected.bitPattern {
                Issue.record("half \(bits): \(got) != \(expected)")
                return
            }
        }
    }

    @Test func rejectsMalformedHeaders() throws {
        let good = #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let cases: [(String, [UInt8], String)] = [
            (#"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, [UInt8](repeating: 0, count: 8), "needs 12 bytes"),
            (#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}}"#, [UInt8](repeating: 0, count: 8), "outside"),
            (#"{"x":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}"#, [UInt8](repeating: 0, count: 8), "overflows"),
            (#"{"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, [UInt8](repeating: 0, count: 8), "negative size in shape [-2]"),
            (#"{"x":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}"#, [UInt8](repeating: 0, count: 8), "unsupported dtype"),
            (#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, [UInt8](repeating: 0, count: 8), "overlaps"),
            (#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, [UInt8](repeating: 0, count: 8), "duplicate"),
            (#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]"#, [UInt8](repeating: 0, count: 8), "invalid JSON"),
            (#"{"__metadata__":{"a":1}}"#, [], "not a string"),
            (String(repeating: "[", count: 100), [], "invalid JSON"),
        ]
        for (header, data, fragment) in cases {
            let url = try writeTemporary(safetensorsImage(header: header, data: data), name: "m.safetensors")
            expectCheckpointError(url, contains: fragment) { _ = try SafeTensors.read(contentsOf: url) }
        }
        // A header length larger than the file.
        var image = safetensorsImage(header: good, data: [UInt8](repeating: 0, count: 8))
        image[0] = 0xFF; image[1] = 0xFF
        let url = try writeTemporary(image, name: "big.safetensors")
        expectCheckpointError(url, contains: "truncated") { _ = try SafeTensors.read(contentsOf: url) }
        // A header length beyond the cap is refused before anything is read.
        var huge = safetensorsImage(header: good, data: [UInt8](repeating: 0, count: 8))
        huge[0] = 0; huge[1] = 0; huge[2] = 0x10; huge[3] = 0x01
        let hugeURL = try writeTemporary(huge, name: "huge.safetensors")
        expectCheckpointError(hugeURL, contains: "exceeds the 16777216-byte limit") { _ = try SafeTensors.read(contentsOf: hugeURL) }
        // Truncated data section.
        let short = try writeTemporary(Array(safetensorsImage(header: good, data: [0, 0, 0, 0, 0, 0, 0, 0]).dropLast(3)), name: "short.safetensors")
        expectCheckpointError(short, contains: "outside") { _ = try SafeTensors.read(contentsOf: short) }
    }

    /// A 384-byte header starts with the bytes 80 01, which also open a pickle stream.
    @Test func detectionPrefersSafetensorsHeader() throws {
        var header = #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        header += String(repeating: " ", count: 384 - header.utf8.count)
        let image = safetensorsImage(header: header, data: floatBytes([5]))
        #expect(Array(image.prefix(2)) == [0x80, 0x01])
        let url = try writeTemporary(image, name: "small.safetensors")
        #expect(try loadStateDict(contentsOf: url).tensor("x").floats() == [5])
        let truncated = try writeTemporary(Array(image.prefix(100)), name: "cut.safetensors")
        expectCheckpointError(truncated, contains: "truncated safetensors header") { _ = try loadStateDict(contentsOf: truncated) }
    }

    @Test func missingAndEmptyFilesAreErrors() throws {
        let dir = try temporaryDirectory()
        let missing = dir.appendingPathComponent("absent.safetensors")
        expectCheckpointError(missing, contains: "cannot open") { _ = try loadStateDict(contentsOf: missing) }
        let empty = try writeTemporary([], name: "empty.ckpt")
        expectCheckpointError(empty, contains: "empty") { _ = try loadStateDict(contentsOf: empty) }
        let junk = try writeTemporary(Array("hello world, not a checkpoint".utf8), name: "junk.ckpt")
        expectCheckpointError(junk, contains: "magic") { _ = try loadStateDict(contentsOf: junk) }
        expectCheckpointError(dir, contains: "not a regular file") { _ = try loadStateDict(contentsOf: dir) }
        let fifo = dir.appendingPathComponent("pipe")
        #expect(mkfifo(fifo.path, 0o600) == 0)
        expectCheckpointError(fifo, contains: "not a regular file") { _ = try loadStateDict(contentsOf: fifo) }
    }
}

@Suite struct JSONTests {
    @Test func writerOutputParsesBack() throws {
        let text = "quote \" backslash \\ newline \n tab \t bell \u{07} emoji 🎨 é"
        let json = JSON.serialize(.object([("k", .string(text)), ("n", .array([.int(-3), .bool(true), .null]))]))
        let parsed = try Array(json.utf8).withUnsafeBytes { try JSON.parse($0) }
        guard case .object(let members) = parsed, case .string(let s) = members[0].value,
              case .array(let items) = members[1].value else {
            Issue.record("unexpected shape \(json)")
            return
        }
        #expect(s == text)
        #expect(items.count == 3)
        #expect(json.contains("\\u0007"))
    }

    @Test func parserHandlesEscapesAndRejectsJunk() throws {
        func parse(_ s: String) throws -> JSONNode { try Array(s.utf8).withUnsafeBytes { try JSON.parse($0) } }
        guard case .string(let s) = try parse(#" "a\u00e9\ud83c\udfa8\/" "#) else { Issue.record("not a string"); return }
        #expect(s == "aé🎨/")
        guard case .double(let d) = try parse("-1.5e3") else { Issue.record("not a double"); return }
        #expect(d == -1500)
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "\"\\ud83c\"", "tru", "1 2", "\"\u{01}\"", "99999999999999999999"] {
            #expect(throws: FormatError.self, "\(bad)") { _ = try parse(bad) }
        }
    }
}

@Suite("SafeTensors float16 writing")
struct SafeTensorsHalfTests {
    /// Every value comes back as the nearest float16 (ties to even), as Swift's own Float16 rounds:
    /// normal and subnormal halves, exact ties, overflow to infinity, signed zeros.
    @Test func halfPrecisionRoundTripsToTheNearestHalf() throws {
        var values: [Float] = [0, -0, 1, -1, 0.1, 3.14159, 65504, 65520, 1e6, -1e6, 6.1e-5, 3e-7, 5.96e-8, 2.9e-8, 1e-10,
                               1 + 1.0 / 2048, 1 + 3.0 / 2048, 2049, 2051, .infinity, -.infinity]
        // A fixed xorshift stream of values across the half range.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<2000 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            let unit = Float(state >> 40) / Float(1 << 24)
            values.append((unit - 0.5) * powf(10, Float(state % 11) - 6))
        }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("half-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try SafeTensors.write([("a", [values.count], values), ("b", [2], [1, 2])], metadata: ["k": "v"], to: url, dtype: .float16)
        let dict = try loadStateDict(contentsOf: url)
        #expect(dict["a"]?.dtype == .float16 && dict.metadata["k"] == "v")
        let back = try dict["a"]!.floats()
        for (v, b) in zip(values, back) {
            let expected = Float(Float16(v))
            #expect(b == expected || (b.isNaN && expected.isNaN), "\(v) → \(b), expected \(expected)")
        }
        #expect(try dict["b"]!.floats() == [1, 2])
        let size = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as! Int
        #expect(size < 8 + 200 + 2 * (values.count + 2))
        #expect(throws: CheckpointError.self) { try SafeTensors.write([("a", [1], [1])], metadata: [:], to: url, dtype: .int8) }
    }
}
