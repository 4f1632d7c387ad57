// Animated GIF output, read back with giflib's decoder: frames, delay, loop extension, and a
// smooth two-axis gradient that the palette and dither keep close to the source (no bands).

import CGIF
import Foundation
import ImageCodecs
import Testing

@Suite("GIF writing")
struct GIFTests {
    /// A frame with a red ramp across, a green ramp down and a blue ramp varying with `k`.
    func gradient(_ width: Int, _ height: Int, _ k: Int) -> RGBImage {
        var pixels = [UInt8]()
        for y in 0..<height {
            for x in 0..<width {
                pixels += [UInt8(x * 255 / (width - 1)), UInt8(y * 255 / (height - 1)), UInt8((x + y + 40 * k) % 256 / 2 + 64)]
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    @Test func animationReadsBackCloseToItsFrames() throws {
        let frames = (0..<3).map { gradient(96, 64, $0) }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("anim-\(UUID().uuidString).gif")
        defer { try? FileManager.default.removeItem(at: url) }
        try ImageIO.writeGIF(frames, delayCentiseconds: 7, to: url)

        var error: Int32 = 0
        let gif = try #require(DGifOpenFileName(url.path, &error))
        defer { _ = DGifCloseFile(gif, &error) }
        #expect(DGifSlurp(gif) == GIF_OK)
        #expect(gif.pointee.ImageCount == 3 && gif.pointee.SWidth == 96 && gif.pointee.SHeight == 64)
        let map = try #require(gif.pointee.SColorMap)
        // Banding is what the eye sees of the local average: compare 4x4 block means, which
        // the ordered dither preserves where a bare nearest-colour mapping would step.
        var blockErrors: [Double] = []
        for k in 0..<3 {
            let saved = gif.pointee.SavedImages[k]
            var control = GraphicsControlBlock()
            #expect(DGifSavedExtensionToGCB(gif, Int32(k), &control) == GIF_OK && control.DelayTime == 7)
            for by in 0..<16 {
                for bx in 0..<24 {
                    for c in 0..<3 {
                        var decoded = 0, source = 0
                        for y in (4 * by)..<(4 * by + 4) {
                            for x in (4 * bx)..<(4 * bx + 4) {
                                let color = map.pointee.Colors[Int(saved.RasterBits[y * 96 + x])]
                                decoded += Int([color.Red, color.Green, color.Blue][c])
                                source += Int(frames[k].pixels[3 * (y * 96 + x) + c])
                            }
                        }
                        blockErrors.append(Double(abs(decoded - source)) / 16)
                    }
                }
            }
        }
        let mean = blockErrors.reduce(0, +) / Double(blockErrors.count)
        #expect(mean < 4, "mean 4x4-block error \(mean) levels")
        #expect(blockErrors.max()! < 24, "worst 4x4-block error \(blockErrors.max()!) levels")
        // The first block after the screen descriptor is the NETSCAPE2.0 loop extension.
        let bytes = try Data(contentsOf: url)
        #expect(bytes.range(of: Data("NETSCAPE2.0".utf8)) != nil)
    }

    @Test func framesOfDifferentSizesAreRefused() {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString).gif")
        #expect(throws: ImageIOError.self) { try ImageIO.writeGIF([gradient(8, 8, 0), gradient(9, 8, 0)], to: url) }
        #expect(!FileManager.default.fileExists(atPath: url.path))
    }
}
