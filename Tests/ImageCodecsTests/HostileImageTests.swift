// Images that declare more than they hold or more than is needed: refused or scaled before a
// buffer is sized by their header; and CMYK JPEGs converted to RGB.

import CZlib
import Foundation
import Testing
@testable import ImageCodecs

@Suite("Hostile and unusual images")
struct HostileImageTests {
    /// A real, fully decodable 1-bit gray PNG of the given size, deflated (20000² is ~50 kB).
    func deflatedBlankPNG(width: Int, height: Int) -> [UInt8] {
        let row = 1 + (width + 7) / 8
        let raw = [UInt8](repeating: 0, count: row * height)
        var size = compressBound(uLong(raw.count))
        var packed = [UInt8](repeating: 0, count: Int(size))
        #expect(compress2(&packed, &size, raw, uLong(raw.count), 9) == Z_OK)
        func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        return PNGCodec.signature + PNGCodec.chunk(type: "IHDR", data: be32(width) + be32(height) + [1, 0, 0, 0, 0])
            + PNGCodec.chunk(type: "IDAT", data: Array(packed.prefix(Int(size)))) + PNGCodec.chunk(type: "IEND", data: [])
    }

    @Test func aValidPNGAboveThePixelLimitIsRefusedBeforeDecoding() throws {
        let bytes = deflatedBlankPNG(width: 20000, height: 20000)
        #expect(bytes.count < 200_000)
        let started = Date()
        #expect(throws: ImageIOError(path: "big.png", problem: "image is 20000x20000 (400 megapixels), more than the 50-megapixel limit; downscale it first")) {
            try PNGCodec.decode(bytes, path: "big.png")
        }
        #expect(Date().timeIntervalSince(started) < 1, "refused from the header, not after decoding")
    }

    @Test func aShortPNGDeclaringAHugeImageIsRefusedBeforeAllocating() {
        // 23000x23000 RGB in a 69-byte file.
        var bytes = handmadePNG(width: 1, height: 1, bitDepth: 8, colorType: 2, samples: [1, 2, 3])
        let ihdr = PNGCodec.chunk(type: "IHDR", data: [0, 0, 0x59, 0xD8, 0, 0, 0x59, 0xD8, 8, 2, 0, 0, 0])
        bytes.replaceSubrange(8..<(8 + ihdr.count), with: ihdr)
        #expect(throws: ImageIOError(path: "t.png", problem: "truncated or corrupt: \(bytes.count) bytes cannot hold a 23000x23000 image")) {
            try PNGCodec.decode(bytes, path: "t.png")
        }
    }

    @Test func largeJPEGsDecodeScaledDownUnderThePixelLimit() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        try ImageIO.writeJPEG(gradientImage(width: 1024, height: 768), to: dir.file("big.jpg"))
        let bytes = readBytes(dir.file("big.jpg"))
        let half = try JPEGCodec.decode(bytes, path: "big.jpg", maxPixels: 400_000)
        #expect(half.width == 512 && half.height == 384)
        let eighth = try JPEGCodec.decode(bytes, path: "big.jpg", maxPixels: 20_000)
        #expect(eighth.width == 128 && eighth.height == 96)
        #expect(throws: ImageIOError.self) { try JPEGCodec.decode(bytes, path: "big.jpg", maxPixels: 1000) }
        let full = try JPEGCodec.decode(bytes, path: "big.jpg")
        #expect(full.width == 1024 && full.height == 768)
    }

    @Test func aShortJPEGDeclaringAHugeImageIsRefused() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        try ImageIO.writeJPEG(gradientImage(width: 16, height: 16), to: dir.file("small.jpg"))
        var bytes = readBytes(dir.file("small.jpg"))
        // SOF0: FF C0, length (2), precision (1), height (2), width (2).
        let sof = try #require((0..<(bytes.count - 1)).first { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC0 })
        bytes.replaceSubrange((sof + 5)..<(sof + 9), with: [0x59, 0xD8, 0x59, 0xD8])
        #expect(throws: ImageIOError(path: "s.jpg", problem: "truncated or corrupt: \(bytes.count) bytes cannot hold a 23000x23000 image")) {
            try JPEGCodec.decode(bytes, path: "s.jpg")
        }
    }

    @Test func cmykJPEGsBecomeRGB() throws {
        // Written by PIL as Adobe CMYK from four RGB quadrants; PIL reads it back as these.
        let url = try #require(Bundle.module.url(forResource: "Fixtures/cmyk", withExtension: "jpg"))
        let image = try ImageIO.read(contentsOf: url)
        #expect(image.width == 16 && image.height == 16)
        let expected: [(Int, Int, [Int])] = [(4, 4, [230, 30, 30]), (12, 4, [30, 200, 40]), (4, 12, [40, 60, 220]), (12, 12, [250, 250, 250])]
        for (x, y, rgb) in expected {
            let i = 3 * (y * 16 + x)
            let got = (0..<3).map { Int(image.pixels[i + $0]) }
            #expect(zip(got, rgb).allSatisfy { abs($0 - $1) <= 6 }, "(\(x), \(y)): \(got) vs \(rgb)")
        }
    }

    @Test func aChunkLongerThanTheFileIsRefusedBeforeLibpngAllocatesIt() {
        // Found by the png fuzz target: a 534-byte file whose iTXt chunk declares 2,046,820,366
        // bytes made libpng allocate them (2 GB) before noticing the end of the data.
        var bytes = handmadePNG(width: 2, height: 2, bitDepth: 8, colorType: 2, samples: [UInt8](repeating: 7, count: 12))
        let chunk: [UInt8] = [0x7A, 0x00, 0x00, 0x0E] + Array("iTXt".utf8) + Array("note".utf8) + [0, 0, 0, 0, 0]
        bytes.insert(contentsOf: chunk, at: 33)
        let started = Date()
        #expect(throws: ImageIOError(path: "i.png", problem: "invalid PNG (truncated: iTXt chunk runs past the end)")) {
            try PNGCodec.decode(bytes, path: "i.png")
        }
        #expect(Date().timeIntervalSince(started) < 0.5)
    }
}
