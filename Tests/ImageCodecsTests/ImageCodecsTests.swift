// Round trips, input variants (gray, alpha, 16-bit, gray JPEG), metadata chunks, atomic writes,
// and the promise that no damaged file can crash the reader.

import CJPEG
import Foundation
import Testing
@testable import ImageCodecs

@Suite("PNG and JPEG round trips")
struct RoundTripTests {
    @Test func pngIsBitExact() throws {
        let dir = ScratchDirectory(); defer { dir.remove() }
        let image = noiseImage(width: 257, height: 131, seed: 1)
        try ImageIO.writePNG(image, to: dir.file("noise.png"))
        #expect(try ImageIO.read(contentsOf: dir.file("noise.png")) == image)
        #expect(dir.contents() == ["noise.png"])
    }

    @Test func jpegIsClose() throws {
        let dir = ScratchDirectory(); defer { dir.remove() }
        let image = gradientImage(width: 96, height: 64)
        try ImageIO.writeJPEG(image, to: dir.file("g.jpg"), quality: 95)
        let back = try ImageIO.read(contentsOf: dir.file("g.jpg"))
        #expect(back.width == 96 && back.height == 64)
        var maxError = 0, total = 0
        for (a, b) in zip(image.pixels, back.pixels) {
            let d = abs(Int(a) - Int(b))
            maxError = max(maxError, d); total += d
        }
        #expect(maxError <= 8)
        #expect(Double(total) / Double(image.pixels.count) < 1.5)
    }

    @Test func formatComesFromSignatureNotExtension() throws {
        let dir = ScratchDirectory(); defer { dir.remove() }
        let image = noiseImage(width: 9, height: 4, seed: 2)
        try ImageIO.writePNG(image, to: dir.file("really-a-png.jpg"))
        #expect(try ImageIO.read(contentsOf: dir.file("really-a-png.jpg")) == image)
        try ImageIO.writeJPEG(gradientImage(width: 16, height: 16), to: dir.file("really-a-jpeg.png"))
        #expect(try ImageIO.read(contentsOf: dir.file("really-a-jpeg.png")).width == 16)
        #expect(ImageIO.detectFormat(readBytes(dir.file("really-a-jpeg.png"))) == .jpeg)
    }

    @Test func overwriteReplacesTheFile() throws {
        let dir = ScratchDirectory(); defer { dir.remove() }
        try ImageIO.writePNG(noiseImage(width: 4, height: 4, seed: 1), to: dir.file("x.png"))
        let second = noiseImage(width: 6, height: 2, seed: 9)
        try ImageIO.writePNG(second, to: dir.file("x.png"))
        #expect(try ImageIO.read(contentsOf: dir.file("x.png")) == second)
        #expect(dir.contents() == ["x.png"])
    }
}

@Suite("PNG input variants")
struct PNGVariantTests {
    func decode(_ bytes: [UInt8]) throws -> RGBImage {
        let dir = ScratchDirectory(); defer { dir.remove() }
        writeBytes(bytes, to: dir.file("in.png"))
        return try ImageIO.read(contentsOf: dir.file("in.png"))
    }

    @Test func gray8() throws {
        let image = try decode(handmadePNG(width: 3, height: 2, bitDepth: 8, colorType: 0, samples: [0, 17, 128, 200, 254, 255]))
        #expect(image.pixels == [0, 0, 0, 17, 17, 17, 128, 128, 128, 200, 200, 200, 254, 254, 254, 255, 255, 255])
    }

    @Test func grayAlpha8DropsAlpha() throws {
        let image = try decode(handmadePNG(width: 2, height: 1, bitDepth: 8, colorType: 4, samples: [90, 255, 30, 128]))
        #expect(image[0, 0] == (90, 90, 90))
        #expect(image[1, 0] == (30, 30, 30))
    }

    @Test func rgba8DropsAlpha() throws {
        let samples: [UInt8] = [10, 20, 30, 255, 200, 100, 50, 64, 1, 2, 3, 0]
        let image = try decode(handmadePNG(width: 3, height: 1, bitDepth: 8, colorType: 6, samples: samples))
        #expect(image.pixels == [10, 20, 30, 200, 100, 50, 1, 2, 3])
    }

    @Test func rgb16IsReducedToEightBits() throws {
        // Multiples of 257 map exactly to v / 257; others to within one level.
        let values: [UInt16] = [0, 257 * 7, 257 * 128, 65535, 1000, 40000]
        let samples = values.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
        let image = try decode(handmadePNG(width: 2, height: 1, bitDepth: 16, colorType: 2, samples: samples))
        #expect(Array(image.pixels[0..<4]) == [0, 7, 128, 255])
        #expect(abs(Int(image.pixels[4]) - 4) <= 1)
        #expect(abs(Int(image.pixels[5]) - 156) <= 1)
    }

    @Test func gray16AndRGBA16() throws {
        let gray = try decode(handmadePNG(width: 2, height: 1, bitDepth: 16, colorType: 0, samples: [0x80, 0x80, 0xFF, 0xFF]))
        #expect(gray.pixels == [128, 128, 128, 255, 255, 255])
        let rgba = try decode(handmadePNG(width: 1, height: 1, bitDepth: 16, colorType: 6,
                                          samples: [0x40, 0x40, 0x80, 0x80, 0xC0, 0xC0, 0xFF, 0xFF]))
        #expect(rgba.pixels == [64, 128, 192])
    }

    @Test func grayJPEGBecomesGrayRGB() throws {
        let dir = ScratchDirectory(); defer { dir.remove() }
        let path = dir.file("gray.jpg").path
        let plane = (0..<(32 * 16)).map { UInt8($0 % 32 * 8) }
        var errbuf = [CChar](repeating: 0, count: 200)
        #expect(jpegshim_write(path, plane, 32, 16, 1, 95, &errbuf, 200) == 0)
        let image = try ImageIO.read(contentsOf: URL(fileURLWithPath: path))
        #expect(image.width == 32 && image.height == 16)
        for i in stride(from: 0, to: image.pixels.count, by: 3) {
            #expect(image.pixels[i] == image.pixels[i + 1] && image.pixels[i + 1] == image.pixels[i + 2])
        }
        #expect(abs(Int(image[20, 5].r) - 160) <= 6)
    }
}

@Suite("PNG text metadata")
struct TextChunkTests {
    @Test func textRoundTripsWithLatin1AndUnicode() throws {
        let dir = ScratchDirectory(); defer { dir.remove() }
        let text: [(String, String)] = [
            ("prompt", "a small red circle on a blue background"),
            ("seed", "42"), ("Comment", "café déjà vu\nsecond line"),
            ("title", "夕焼けの赤い円 ✓"), ("empty", ""),
        ]
        let image = noiseImage(width: 5, height: 5, seed: 4)
        try ImageIO.writePNG(image, to: dir.file("meta.png"), text: text)
        let back = try ImageIO.readText(contentsOf: dir.file("meta.png"))
        #expect(back.map(\.keyword) == text.map(\.0))
        #expect(back.map(\.text) == text.map(\.1))
        // Non-Latin-1 values travel as iTXt; Latin-1 ones as tEXt.
        let bytes = readBytes(dir.file("meta.png"))
        #expect(count(of: "iTXt", in: bytes) == 1)
        #expect(count(of: "tEXt", in: bytes) == 4)
        // The pixels are unaffected by the extra chunks.
        #expect(try ImageIO.read(contentsOf: dir.file("meta.png")) == image)
    }

    @Test func badKeywordsAreRejected() {
        let dir = ScratchDirectory(); defer { dir.remove() }
        let image = noiseImage(width: 2, height: 2, seed: 1)
        for keyword in ["", " lead", String(repeating: "k", count: 80), "naïve✓"] {
            #expect(throws: ImageIOError.self) { try ImageIO.writePNG(image, to: dir.file("k.png"), text: [(keyword, "v")]) }
        }
        #expect(throws: ImageIOError.self) { try ImageIO.writePNG(image, to: dir.file("k.png"), text: [("k", "a\0b")]) }
        #expect(dir.contents().isEmpty)
    }

    @Test func corruptTextChunkIsReportedByReadText() throws {
        let dir = ScratchDirectory(); defer { dir.remove() }
        try ImageIO.writePNG(noiseImage(width: 3, height: 3, seed: 5), to: dir.file("t.png"), text: [("seed", "12345")])
        var bytes = readBytes(dir.file("t.png"))
        let at = index(of: "12345", in: bytes)!
        bytes[at] = UInt8(ascii: "9")
        writeBytes(bytes, to: dir.file("t.png"))
        let error = #expect(throws: ImageIOError.self) { try ImageIO.readText(contentsOf: dir.file("t.png")) }
        #expect(error?.problem.contains("CRC") == true)
    }

    @Test func jpegHasNoText() throws {
        let dir = ScratchDirectory(); defer { dir.remove() }
        try ImageIO.writeJPEG(gradientImage(width: 8, height: 8), to: dir.file("a.jpg"))
        #expect(try ImageIO.readText(contentsOf: dir.file("a.jpg")).isEmpty)
    }

    func count(of tag: String, in bytes: [UInt8]) -> Int {
        let t = Array(tag.utf8)
        return (0...(bytes.count - t.count)).filter { Array(bytes[$0..<($0 + t.count)]) == t }.count
    }

    func index(of tag: String, in bytes: [UInt8]) -> Int? {
        let t = Array(tag.utf8)
        return (0...(bytes.count - t.count)).first { Array(bytes[$0..<($0 + t.count)]) == t }
    }
}

@Suite("Damaged input")
struct DamagedInputTests {
    /// Reads `bytes` from a file and expects an ImageIOError naming that file.
    @discardableResult
    func expectFailure(_ bytes: [UInt8], _ note: String, sourceLocation: SourceLocation = #_sourceLocation) -> ImageIOError? {
        let dir = ScratchDirectory(); defer { dir.remove() }
        let url = dir.file("bad.img")
        writeBytes(bytes, to: url)
        do {
            let image = try ImageIO.read(contentsOf: url)
            Issue.record("\(note): decoded a \(image.width)x\(image.height) image", sourceLocation: sourceLocation)
            return nil
        } catch let error as ImageIOError {
            #expect(error.path == url.path, sourceLocation: sourceLocation)
            #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
            return error
        } catch {
            Issue.record("\(note): unexpected error type \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    func encodedPNG() throws -> [UInt8] {
        let dir = ScratchDirectory(); defer { dir.remove() }
        try ImageIO.writePNG(noiseImage(width: 40, height: 30, seed: 7), to: dir.file("a.png"))
        return readBytes(dir.file("a.png"))
    }

    func encodedJPEG() throws -> [UInt8] {
        let dir = ScratchDirectory(); defer { dir.remove() }
        try ImageIO.writeJPEG(gradientImage(width: 64, height: 48), to: dir.file("a.jpg"))
        return readBytes(dir.file("a.jpg"))
    }

    @Test func missingEmptyAndForeignFiles() throws {
        let dir = ScratchDirectory(); defer { dir.remove() }
        let missing = #expect(throws: ImageIOError.self) { try ImageIO.read(contentsOf: dir.file("nope.png")) }
        #expect(missing?.description == "\(dir.file("nope.png").path): cannot open file (No such file or directory)")
        #expect(throws: ImageIOError.self) { try ImageIO.read(contentsOf: dir.url) }
        #expect(expectFailure([], "empty")?.problem == "empty file")
        #expect(expectFailure(Array("GIF89a and more".utf8), "gif")?.problem == "not a PNG or JPEG file")
    }

    @Test func truncatedPNG() throws {
        let png = try encodedPNG()
        for length in [8, 12, 20, 33, 40, png.count / 2, png.count - 40] {
            expectFailure(Array(png[..<length]), "PNG truncated to \(length)")
        }
    }

    @Test func flippedBytesInPNG() throws {
        let png = try encodedPNG()
        var sig = png; sig[1] ^= 0xFF
        #expect(expectFailure(sig, "signature")?.problem == "not a PNG or JPEG file")
        var header = png; header[17] ^= 0x40   // IHDR width: fails the chunk CRC
        expectFailure(header, "IHDR")
        var data = png; data[png.count / 2] ^= 0x01   // inside IDAT: CRC error
        expectFailure(data, "IDAT")
    }

    /// Every single-byte corruption of a small PNG and JPEG either decodes or throws; none crashes.
    @Test func everyByteFlipIsSurvivable() throws {
        let dir = ScratchDirectory(); defer { dir.remove() }
        for original in [try encodedPNG(), try encodedJPEG()] {
            let step = max(1, original.count / 150)
            for position in stride(from: 0, to: original.count, by: step) {
                var bytes = original
                bytes[position] ^= 0xA5
                writeBytes(bytes, to: dir.file("f"))
                do { _ = try ImageIO.read(contentsOf: dir.file("f")) } catch is ImageIOError {} catch {
                    Issue.record("position \(position): \(error)")
                }
            }
        }
    }

    @Test func truncatedJPEG() throws {
        let jpeg = try encodedJPEG()
        for length in [3, 10, 100, jpeg.count / 2, jpeg.count - 2] {
            expectFailure(Array(jpeg[..<length]), "JPEG truncated to \(length)")
        }
    }

    @Test func corruptJPEGHeader() throws {
        var jpeg = try encodedJPEG()
        // SOF0 marker (FF C0): the byte after the 2-byte length is the sample precision.
        let sof = (0..<(jpeg.count - 1)).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 }!
        jpeg[sof + 4] = 7
        let error = expectFailure(jpeg, "precision")
        #expect(error?.problem.hasPrefix("invalid JPEG") == true)
    }
}

@Suite("Atomic writes")
struct AtomicWriteTests {
    @Test func failedRenameLeavesNoTemporaryFile() throws {
        let dir = ScratchDirectory(); defer { dir.remove() }
        // The destination is a non-empty directory: the temporary file is written, the rename fails.
        let target = dir.file("taken.png")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: false)
        try Data([1]).write(to: target.appendingPathComponent("keep"))
        let image = noiseImage(width: 4, height: 4, seed: 2)
        #expect(throws: ImageIOError.self) { try ImageIO.writePNG(image, to: target) }
        #expect(throws: ImageIOError.self) { try ImageIO.writeJPEG(image, to: target) }
        #expect(dir.contents() == ["taken.png"])
    }

    @Test func failedEncodeLeavesNoTemporaryFile() throws {
        let dir = ScratchDirectory(); defer { dir.remove() }
        let image = noiseImage(width: 4, height: 4, seed: 2)
        #expect(throws: ImageIOError.self) { try ImageIO.writeJPEG(image, to: dir.file("q.jpg"), quality: 0) }
        #expect(throws: ImageIOError.self) { try ImageIO.writePNG(RGBImage(width: 0, height: 0), to: dir.file("e.png")) }
        #expect(dir.contents().isEmpty)
    }

    @Test func missingDirectoryIsOneLineError() {
        let dir = ScratchDirectory(); defer { dir.remove() }
        let target = dir.file("no/such/dir/out.png")
        let error = #expect(throws: ImageIOError.self) { try ImageIO.writePNG(noiseImage(width: 2, height: 2, seed: 1), to: target) }
        #expect(error?.description == "\(target.path): cannot create file (No such file or directory)")
    }
}
