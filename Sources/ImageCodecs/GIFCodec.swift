// Animated GIF writing through giflib. One global palette for the whole animation, chosen by
// giflib's median cut over pixels sampled from every frame, and a 4x4 ordered dither when
// mapping to it: ordered (not error-diffusion) dithering keeps still areas still from frame to
// frame, and breaks the bands a 256-colour palette would leave in smooth gradients.

import CGIF
import Foundation

enum GIFCodec {
    /// Writes `frames` (all the same size) as a looping animation to `temporaryPath`.
    static func write(_ frames: [RGBImage], delayCentiseconds: Int, temporaryPath: String, reportPath: String) throws {
        guard let first = frames.first else { throw ImageIOError(path: reportPath, problem: "no frames to animate") }
        let (width, height) = (first.width, first.height)
        guard frames.allSatisfy({ $0.width == width && $0.height == height }) else {
            throw ImageIOError(path: reportPath, problem: "frames differ in size")
        }
        guard width <= 65535, height <= 65535 else { throw ImageIOError(path: reportPath, problem: "frames larger than GIF allows") }
        let palette = try Palette(frames: frames, path: reportPath)

        var error: Int32 = 0
        guard let gif = try FileIO.withSystemPath(temporaryPath, reportPath: reportPath, { EGifOpenFileName($0, false, &error) }) else {
            throw ImageIOError(path: reportPath, problem: "cannot create GIF (\(String(cString: GifErrorString(error))))")
        }
        var closed = false
        defer { if !closed { _ = EGifCloseFile(gif, &error) } }
        func check(_ status: Int32, _ what: String) throws {
            guard status == GIF_OK else {
                throw ImageIOError(path: reportPath, problem: "\(what) failed (\(String(cString: GifErrorString(gif.pointee.Error))))")
            }
        }
        EGifSetGifVersion(gif, true)
        var colors = palette.colors.map { GifColorType(Red: $0.0, Green: $0.1, Blue: $0.2) }
        try colors.withUnsafeMutableBufferPointer { buffer in
            var map = ColorMapObject(ColorCount: 256, BitsPerPixel: 8, SortFlag: false, Colors: buffer.baseAddress)
            try check(EGifPutScreenDesc(gif, Int32(width), Int32(height), 8, 0, &map), "screen descriptor")
        }
        // NETSCAPE2.0 application extension: loop forever.
        try check(EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE), "loop extension")
        try check(EGifPutExtensionBlock(gif, 11, Array("NETSCAPE2.0".utf8)), "loop extension")
        try check(EGifPutExtensionBlock(gif, 3, [UInt8(1), 0, 0]), "loop extension")
        try check(EGifPutExtensionTrailer(gif), "loop extension")

        var control = GraphicsControlBlock(DisposalMode: DISPOSE_DO_NOT, UserInputFlag: false,
                                           DelayTime: Int32(delayCentiseconds), TransparentColor: NO_TRANSPARENT_COLOR)
        var extensionBytes = [UInt8](repeating: 0, count: 4)
        let extensionLength = EGifGCBToExtension(&control, &extensionBytes)
        var line = [GifPixelType](repeating: 0, count: width)
        for frame in frames {
            try check(EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, Int32(extensionLength), extensionBytes), "frame delay")
            try check(EGifPutImageDesc(gif, 0, 0, Int32(width), Int32(height), false, nil), "frame descriptor")
            for y in 0..<height {
                palette.map(frame, row: y, into: &line)
                try check(EGifPutLine(gif, &line, Int32(width)), "frame data")
            }
        }
        closed = true
        guard EGifCloseFile(gif, &error) == GIF_OK else {
            throw ImageIOError(path: reportPath, problem: "cannot finish GIF (\(String(cString: GifErrorString(error))))")
        }
    }

    /// 256 colours and a cache from 5-bit-per-channel RGB to the nearest of them.
    struct Palette {
        var colors: [(UInt8, UInt8, UInt8)]
        private var nearest: [Int16]
        /// The dither's span in levels: the palette's typical spacing, so that mixing
        /// neighbouring entries reproduces the values between them.
        private var spread: Int

        static let bayer: [Int] = [0, 8, 2, 10, 12, 4, 14, 6, 3, 11, 1, 9, 15, 7, 13, 5]

        init(frames: [RGBImage], path: String) throws {
            // Up to ~64k pixels sampled evenly across all frames.
            let total = frames.count * frames[0].width * frames[0].height
            let stride = max(1, total / 65_536)
            var r: [UInt8] = [], g: [UInt8] = [], b: [UInt8] = []
            var index = 0
            for frame in frames {
                for p in Swift.stride(from: 0, to: frame.width * frame.height, by: 1) {
                    if index % stride == 0 {
                        r.append(frame.pixels[3 * p]); g.append(frame.pixels[3 * p + 1]); b.append(frame.pixels[3 * p + 2])
                    }
                    index += 1
                }
            }
            var size: Int32 = 256
            var output = [GifByteType](repeating: 0, count: r.count)
            var map = [GifColorType](repeating: GifColorType(Red: 0, Green: 0, Blue: 0), count: 256)
            guard GifQuantizeBuffer(UInt32(r.count), 1, &size, &r, &g, &b, &output, &map) == GIF_OK else {
                throw ImageIOError(path: path, problem: "cannot choose a palette")
            }
            let used = Int(size)
            // Median cut places boxes, not colours: a few Lloyd (k-means) rounds over the same
            // samples move each entry to the mean of the pixels it stands for.
            var centres = (0..<used).map { (Double(map[$0].Red), Double(map[$0].Green), Double(map[$0].Blue)) }
            for _ in 0..<6 {
                var sums = [(Double, Double, Double, Int)](repeating: (0, 0, 0, 0), count: used)
                for i in 0..<r.count {
                    let (pr, pg, pb) = (Double(r[i]), Double(g[i]), Double(b[i]))
                    var best = 0, bestDistance = Double.infinity
                    for j in 0..<used {
                        let dr = pr - centres[j].0, dg = pg - centres[j].1, db = pb - centres[j].2
                        let d = dr * dr + dg * dg + db * db
                        if d < bestDistance { bestDistance = d; best = j }
                    }
                    sums[best].0 += pr; sums[best].1 += pg; sums[best].2 += pb; sums[best].3 += 1
                }
                for j in 0..<used where sums[j].3 > 0 {
                    let n = Double(sums[j].3)
                    centres[j] = (sums[j].0 / n, sums[j].1 / n, sums[j].2 / n)
                }
            }
            colors = (0..<256).map { j -> (UInt8, UInt8, UInt8) in
                guard j < used else { return (0, 0, 0) }
                return (UInt8(centres[j].0.rounded()), UInt8(centres[j].1.rounded()), UInt8(centres[j].2.rounded()))
            }
            // Typical spacing: the mean distance from each entry to its nearest other entry, per channel.
            var spacing = 0.0
            for i in 0..<used {
                var best = Int.max
                for j in 0..<used where j != i {
                    let dr = Int(colors[i].0) - Int(colors[j].0), dg = Int(colors[i].1) - Int(colors[j].1), db = Int(colors[i].2) - Int(colors[j].2)
                    best = min(best, dr * dr + dg * dg + db * db)
                }
                spacing += best == Int.max ? 0 : (Double(best) / 3).squareRoot()
            }
            spread = max(8, min(64, Int((spacing / Double(max(1, used))).rounded())))
            nearest = [Int16](repeating: 0, count: 32 * 32 * 32)
            for key in 0..<(32 * 32 * 32) {
                let (cr, cg, cb) = ((key >> 10) * 8 + 4, ((key >> 5) & 31) * 8 + 4, (key & 31) * 8 + 4)
                var best = 0, bestDistance = Int.max
                for i in 0..<used {
                    let dr = cr - Int(colors[i].0), dg = cg - Int(colors[i].1), db = cb - Int(colors[i].2)
                    let d = dr * dr + dg * dg + db * db
                    if d < bestDistance { bestDistance = d; best = i }
                }
                nearest[key] = Int16(best)
            }
        }

        /// Row `y` of `image` as palette indices, dithered by the 4x4 Bayer matrix.
        func map(_ image: RGBImage, row y: Int, into line: inout [GifPixelType]) {
            let base = y * image.width
            for x in 0..<image.width {
                // Thresholds spread over one palette step, centred on 0.
                let offset = ((2 * Palette.bayer[(y & 3) * 4 + (x & 3)] + 1) * spread) / 32 - spread / 2
                func channel(_ c: Int) -> Int { min(31, max(0, (Int(image.pixels[3 * (base + x) + c]) + offset) >> 3)) }
                line[x] = GifPixelType(nearest[(channel(0) << 10) | (channel(1) << 5) | channel(2)])
            }
        }
    }
}

extension ImageIO {
    /// Writes a looping animated GIF of `frames` (same size), `delayCentiseconds` per frame,
    /// replacing `url` atomically.
    public static func writeGIF(_ frames: [RGBImage], delayCentiseconds: Int = 10, to url: URL) throws {
        let path = url.path
        try FileIO.replaceAtomically(path: path) { temporary in
            try GIFCodec.write(frames, delayCentiseconds: delayCentiseconds, temporaryPath: temporary, reportPath: path)
        }
    }
}
