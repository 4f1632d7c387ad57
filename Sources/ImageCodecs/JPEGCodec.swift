// JPEG through the CJPEG shim, which owns libjpeg's setjmp so that errors come back as codes.

import CJPEG

enum JPEGCodec {
    static let signature: [UInt8] = [0xFF, 0xD8, 0xFF]

    /// Decodes a baseline or progressive JPEG (gray, colour, CMYK or YCCK), already read into
    /// `bytes`, to 8-bit RGB, scaled down by 2, 4 or 8 when it has more than `maxPixels`
    /// pixels; errors name `path`.
    static func decode(_ bytes: [UInt8], path: String, maxPixels: Int = ImageIO.maxPixels) throws -> RGBImage {
        var out: UnsafeMutablePointer<UInt8>?
        var width: Int32 = 0, height: Int32 = 0
        var errbuf = [CChar](repeating: 0, count: 256)
        let status = bytes.withUnsafeBufferPointer {
            jpegshim_read_rgb($0.baseAddress, $0.count, UInt64(maxPixels), &out, &width, &height, &errbuf, errbuf.count)
        }
        guard status == 0, let out else {
            let message = text(errbuf)
            throw ImageIOError(path: path, problem: message.hasPrefix("truncated") || message.hasPrefix("image is") ? message : "invalid JPEG (\(message))")
        }
        defer { jpegshim_free(out) }
        let count = Int(width) * Int(height) * 3
        return RGBImage(width: Int(width), height: Int(height), pixels: Array(UnsafeBufferPointer(start: out, count: count)))
    }

    /// Encodes 8-bit RGB at `quality` (1-100) into a new file at `temporaryPath`.
    static func encode(_ image: RGBImage, quality: Int, temporaryPath: String, reportPath: String) throws {
        guard image.width > 0, image.height > 0 else {
            throw ImageIOError(path: reportPath, problem: "cannot write an empty \(image.width)x\(image.height) image")
        }
        guard (1...100).contains(quality) else {
            throw ImageIOError(path: reportPath, problem: "JPEG quality must be 1-100, got \(quality)")
        }
        var errbuf = [CChar](repeating: 0, count: 256)
        let status = try FileIO.withSystemPath(temporaryPath, reportPath: reportPath) { file in
            image.pixels.withUnsafeBufferPointer {
                jpegshim_write(file, $0.baseAddress, Int32(image.width), Int32(image.height), 3,
                               Int32(quality), &errbuf, errbuf.count)
            }
        }
        guard status == 0 else { throw ImageIOError(path: reportPath, problem: "JPEG encoding failed (\(text(errbuf)))") }
    }

    private static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
