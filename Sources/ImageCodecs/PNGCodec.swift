// PNG through libpng's simplified API (which keeps its setjmp inside libpng), plus a small chunk
// layer in Swift for the tEXt/iTXt metadata the simplified writer cannot emit.

import CPNG
import Foundation
import CZlib

enum PNGCodec {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    /// Decoded RGBA buffers above this many bytes are refused before allocation (a corrupt
    /// header can declare 2^31 x 2^31 pixels).
    static let maxDecodedBytes = 1 << 31

    // MARK: - Pixels

    /// Decodes any PNG (gray, gray+alpha, palette, RGB, RGBA; 1 to 16 bits) to 8-bit RGB.
    /// Alpha is dropped without compositing, as PIL's `convert("RGB")` does.
    static func decode(_ bytes: [UInt8], path: String, maxPixels: Int = ImageIO.maxPixels) throws -> RGBImage {
        // Every chunk must fit in the file before libpng sizes buffers by their headers.
        do { _ = try chunks(bytes, path: path) } catch let error as ImageIOError {
            throw ImageIOError(path: path, problem: "invalid PNG (\(error.problem.replacingOccurrences(of: "truncated PNG (", with: "truncated: "))")
        }
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        return try bytes.withUnsafeBytes { raw -> RGBImage in
            guard png_image_begin_read_from_memory(&image, raw.baseAddress, raw.count) != 0 else {
                throw ImageIOError(path: path, problem: "invalid PNG (\(message(of: &image)))")
            }
            let width = Int(image.width), height = Int(image.height)
            guard width > 0, height > 0, width <= 1 << 24, height <= 1 << 24, width * height * 4 <= maxDecodedBytes else {
                png_image_free(&image)
                throw ImageIOError(path: path, problem: "unsupported PNG size \(width)x\(height)")
            }
            // Deflate expands at most ~1032:1, so a file must hold at least 1/1100 of the raw
            // rows it declares (at one bit per pixel, the smallest depth): a short file claiming
            // a huge image is refused before anything is allocated.
            let rawBytes = height * (1 + (width + 7) / 8)
            guard rawBytes <= bytes.count * 1100 else {
                png_image_free(&image)
                throw ImageIOError(path: path, problem: "truncated or corrupt: \(bytes.count) bytes cannot hold a \(width)x\(height) image")
            }
            guard width * height <= maxPixels else {
                png_image_free(&image)
                throw ImageIOError(path: path, problem: "image is \(width)x\(height) (\(width * height / 1_000_000) megapixels), more than the \(maxPixels / 1_000_000)-megapixel limit; downscale it first")
            }
            // 16-bit files without gAMA/sRGB are, in practice, sRGB-encoded: take them as such, so
            // that 16-bit v becomes round(v / 257) rather than being gamma-encoded from "linear".
            image.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB)
            image.format = UInt32(PNG_FORMAT_RGB | PNG_FORMAT_FLAG_ALPHA)
            var rgba = [UInt8](repeating: 0, count: width * height * 4)
            let finished = rgba.withUnsafeMutableBytes {
                png_image_finish_read(&image, nil, $0.baseAddress, Int32(width * 4), nil)
            }
            guard finished != 0 else {
                throw ImageIOError(path: path, problem: "invalid PNG (\(message(of: &image)))")
            }
            var rgb = [UInt8](repeating: 0, count: width * height * 3)
            for i in 0..<(width * height) {
                rgb[i * 3] = rgba[i * 4]; rgb[i * 3 + 1] = rgba[i * 4 + 1]; rgb[i * 3 + 2] = rgba[i * 4 + 2]
            }
            return RGBImage(width: width, height: height, pixels: rgb)
        }
    }

    /// Encodes 8-bit RGB, then inserts the text chunks right after IHDR.
    static func encode(_ rgb: RGBImage, text: [(String, String)], path: String) throws -> [UInt8] {
        guard rgb.width > 0, rgb.height > 0 else {
            throw ImageIOError(path: path, problem: "cannot write an empty \(rgb.width)x\(rgb.height) image")
        }
        let chunks = try text.map { try textChunk(keyword: $0.0, value: $0.1, path: path) }
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(rgb.width)
        image.height = UInt32(rgb.height)
        image.format = UInt32(PNG_FORMAT_RGB)
        let stride = Int32(rgb.width * 3)
        var size: png_alloc_size_t = 0
        let sized = rgb.pixels.withUnsafeBytes {
            png_image_write_to_memory(&image, nil, &size, 0, $0.baseAddress, stride, nil)
        }
        guard sized != 0, size > 0 else { throw ImageIOError(path: path, problem: "PNG encoding failed (\(message(of: &image)))") }
        var encoded = [UInt8](repeating: 0, count: Int(size))
        let ok = encoded.withUnsafeMutableBytes { out in
            rgb.pixels.withUnsafeBytes {
                png_image_write_to_memory(&image, out.baseAddress, &size, 0, $0.baseAddress, stride, nil)
            }
        }
        guard ok != 0 else { throw ImageIOError(path: path, problem: "PNG encoding failed (\(message(of: &image)))") }
        encoded.removeSubrange(Int(size)...)
        // Signature (8) + IHDR (4 length + 4 type + 13 data + 4 CRC) = 33 bytes precede the insertion point.
        let afterHeader = 33
        guard encoded.count > afterHeader, Array(encoded[12..<16]) == Array("IHDR".utf8) else {
            throw ImageIOError(path: path, problem: "PNG encoding produced an unexpected layout")
        }
        encoded.insert(contentsOf: chunks.joined(), at: afterHeader)
        return encoded
    }

    /// libpng's error text from a png_image (a fixed 64-byte C string).
    private static func message(of image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    // MARK: - Chunks

    /// Builds a tEXt chunk when the value is Latin-1, an uncompressed iTXt chunk (UTF-8) otherwise.
    static func textChunk(keyword: String, value: String, path: String) throws -> [UInt8] {
        let key = Array(keyword.unicodeScalars)
        // PNG keywords: 1-79 printable Latin-1 characters, no leading/trailing space.
        guard (1...79).contains(key.count),
              key.allSatisfy({ (32...126).contains($0.value) || (161...255).contains($0.value) }),
              key.first != " ", key.last != " " else {
            throw ImageIOError(path: path, problem: "invalid PNG text keyword \"\(keyword)\" (1-79 printable Latin-1 characters)")
        }
        guard !value.unicodeScalars.contains("\0") else {
            throw ImageIOError(path: path, problem: "PNG text value for \"\(keyword)\" contains a NUL character")
        }
        let keyBytes = key.map { UInt8($0.value) }
        if value.unicodeScalars.allSatisfy({ $0.value <= 0xFF }) {
            return chunk(type: "tEXt", data: keyBytes + [0] + value.unicodeScalars.map { UInt8($0.value) })
        }
        // keyword, NUL, compression flag 0, method 0, empty language tag + NUL, empty translated keyword + NUL, UTF-8 text.
        return chunk(type: "iTXt", data: keyBytes + [0, 0, 0, 0, 0] + Array(value.utf8))
    }

    /// length (big-endian) + type + data + CRC-32 of type and data.
    static func chunk(type: String, data: [UInt8]) -> [UInt8] {
        let typeBytes = Array(type.utf8)
        let n = UInt32(data.count)
        let crc = CRC32.checksum(typeBytes + data)
        return [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
            + typeBytes + data
            + [UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)]
    }

    /// The tEXt and uncompressed iTXt entries of a PNG stream, in file order. Chunk lengths and
    /// CRCs are checked; compressed text (zTXt, compressed iTXt) is skipped.
    static func readText(_ bytes: [UInt8], path: String) throws -> [(keyword: String, text: String)] {
        var entries: [(keyword: String, text: String)] = []
        for (type, range) in try chunks(bytes, path: path) {
            let data = Array(bytes[range])
            let stored = range.upperBound
            let crc = UInt32(bytes[stored]) << 24 | UInt32(bytes[stored + 1]) << 16 | UInt32(bytes[stored + 2]) << 8 | UInt32(bytes[stored + 3])
            // The CRC covers the type's bytes as stored (a type need not be valid UTF-8).
            guard crc == CRC32.checksum(Array(bytes[(range.lowerBound - 4)..<range.lowerBound]) + data) else {
                throw ImageIOError(path: path, problem: "corrupt PNG (\(type) chunk fails its CRC)")
            }
            switch type {
            case "tEXt":
                guard let nul = data.firstIndex(of: 0) else { throw ImageIOError(path: path, problem: "malformed tEXt chunk") }
                entries.append((latin1(data[..<nul]), latin1(data[(nul + 1)...])))
            case "iTXt":
                if let entry = try parseITXt(data, path: path) { entries.append(entry) }
            default:
                break
            }
        }
        return entries
    }

    /// The chunks up to IEND as (type, data range); each chunk's CRC follows its range. Throws
    /// when a chunk's declared length runs past the end of the file: libpng would allocate that
    /// length before finding out (a 534-byte file declaring a 2 GB iTXt chunk took 2 GB).
    static func chunks(_ bytes: [UInt8], path: String) throws -> [(type: String, range: Range<Int>)] {
        guard bytes.starts(with: signature) else { throw ImageIOError(path: path, problem: "not a PNG file") }
        var found: [(type: String, range: Range<Int>)] = []
        var offset = signature.count
        while true {
            guard offset + 12 <= bytes.count else { throw ImageIOError(path: path, problem: "truncated PNG (no IEND chunk)") }
            let length = Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            let type = String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self)
            guard length <= Int(Int32.max), offset + 12 + length <= bytes.count else {
                throw ImageIOError(path: path, problem: "truncated PNG (\(type) chunk runs past the end)")
            }
            found.append((type, (offset + 8)..<(offset + 8 + length)))
            if type == "IEND" { return found }
            offset += 12 + length
        }
    }

    private static func parseITXt(_ data: [UInt8], path: String) throws -> (keyword: String, text: String)? {
        let fields = data.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
        guard fields.count == 2, fields[1].count >= 2 else { throw ImageIOError(path: path, problem: "malformed iTXt chunk") }
        let rest = Array(fields[1])
        guard rest[0] == 0 else { return nil }   // compressed: would need zlib; our writer never compresses
        // After the flags: language tag NUL, translated keyword NUL, text.
        let tail = rest[2...].split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        guard tail.count == 3 else { throw ImageIOError(path: path, problem: "malformed iTXt chunk") }
        return (latin1(fields[0]), String(decoding: tail[2], as: UTF8.self))
    }

    private static func latin1(_ bytes: some Sequence<UInt8>) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(Unicode.Scalar(b)) }
        return String(s)
    }
}

/// CRC-32 (ISO 3309, the polynomial PNG uses), from zlib, which libpng links already.
enum CRC32 {
    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
    }
}
