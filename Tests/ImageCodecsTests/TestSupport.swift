// Helpers for codec tests: scratch directories, deterministic pictures, and a minimal PNG
// builder (stored deflate blocks) that makes the bit depths and colour types libpng's simplified
// writer cannot produce, independently of the decoder under test.

import Foundation
@testable import ImageCodecs

/// A fresh empty directory, removed when the value is released by `defer { dir.remove() }`.
struct ScratchDirectory {
    let url: URL

    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("vqclip-codecs-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> URL { url.appendingPathComponent(name) }
    func contents() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: url.path))?.sorted() ?? [] }
    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// A smooth gradient with a little texture: compresses like a photo, so JPEG errors stay small.
func gradientImage(width: Int, height: Int) -> RGBImage {
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    for y in 0..<height {
        for x in 0..<width {
            let i = (y * width + x) * 3
            pixels[i] = UInt8(x * 255 / max(width - 1, 1))
            pixels[i + 1] = UInt8(y * 255 / max(height - 1, 1))
            pixels[i + 2] = UInt8((x + y) * 127 / max(width + height - 2, 1) + 64)
        }
    }
    return RGBImage(width: width, height: height, pixels: pixels)
}

/// Uniform noise: every byte value matters, so a lossless round trip must be exact.
func noiseImage(width: Int, height: Int, seed: UInt64) -> RGBImage {
    var state = seed
    let pixels = (0..<(width * height * 3)).map { _ -> UInt8 in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return UInt8(truncatingIfNeeded: state >> 56)
    }
    return RGBImage(width: width, height: height, pixels: pixels)
}

/// Builds a PNG from raw (already interleaved, big-endian for 16-bit) samples with filter 0 on
/// every row, compressed as stored deflate blocks.
/// colorType: 0 gray, 2 RGB, 4 gray+alpha, 6 RGBA.
func handmadePNG(width: Int, height: Int, bitDepth: Int, colorType: Int, samples: [UInt8],
                 extraChunks: [[UInt8]] = []) -> [UInt8] {
    let channels = [0: 1, 2: 3, 4: 2, 6: 4][colorType]!
    let rowBytes = width * channels * bitDepth / 8
    precondition(samples.count == rowBytes * height)
    var raw: [UInt8] = []
    for y in 0..<height { raw.append(0); raw += samples[(y * rowBytes)..<((y + 1) * rowBytes)] }

    var zlib: [UInt8] = [0x78, 0x01]
    var offset = 0
    repeat {
        let n = min(65535, raw.count - offset)
        let final: UInt8 = offset + n == raw.count ? 1 : 0
        zlib += [final, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
        zlib += raw[offset..<(offset + n)]
        offset += n
    } while offset < raw.count
    var a: UInt32 = 1, b: UInt32 = 0
    for byte in raw { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
    let adler = b << 16 | a
    zlib += [UInt8(adler >> 24), UInt8(adler >> 16 & 0xFF), UInt8(adler >> 8 & 0xFF), UInt8(adler & 0xFF)]

    func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    let header = be32(width) + be32(height) + [UInt8(bitDepth), UInt8(colorType), 0, 0, 0]
    return PNGCodec.signature + PNGCodec.chunk(type: "IHDR", data: header) + extraChunks.joined()
        + PNGCodec.chunk(type: "IDAT", data: zlib) + PNGCodec.chunk(type: "IEND", data: [])
}

func writeBytes(_ bytes: [UInt8], to url: URL) {
    try! Data(bytes).write(to: url)
}

func readBytes(_ url: URL) -> [UInt8] {
    [UInt8](try! Data(contentsOf: url))
}
