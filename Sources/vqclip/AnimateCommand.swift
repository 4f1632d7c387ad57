// `vqclip animate FRAMES_DIR`: a render's progress frames (step-NNNN.png) as a looping GIF
// (giflib) and a contact sheet PNG; with --mp4, also a video through ffmpeg when installed.

import ArgumentParser
import FilePaths
import Foundation
import ImageCodecs

struct AnimateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "animate",
        abstract: "Turn a folder of progress frames into an animated GIF and a contact sheet.",
        discussion: """
            Reads FRAMES_DIR/step-NNNN.png (as `render --frames` writes them) in step order and \
            writes FRAMES_DIR/animation.gif and FRAMES_DIR/contact-sheet.png (up to 16 frames \
            evenly spaced, the last one included); --mp4 also writes FRAMES_DIR/animation.mp4 \
            with ffmpeg.
            """)

    @Argument(help: "Folder of step-NNNN.png frames.")
    var framesDir: String

    @Option(name: .long, help: "Frames per second.")
    var fps: Int = 10

    @Flag(name: .long, help: "Also write an MP4 video (needs ffmpeg).")
    var mp4 = false

    @OptionGroup var reporting: ReportingOptions

    func validate() throws { try requireRange(fps, 1...100, "fps") }

    func run() throws {
        for written in try Animation.write(frames: Files.url(framesDir), fps: fps, mp4: mp4) {
            if reporting.json {
                JSONLine.write([("event", .string("saved")), ("path", .string(written.path)), ("kind", .string("animation"))])
            } else {
                Terminal.writeOutput(written.path + "\n")
            }
        }
    }
}

enum Animation {
    /// The frames of a folder, in step order.
    static func frameFiles(in folder: URL) throws -> [URL] {
        guard Files.isDirectory(folder.path) else {
            throw BadInput("\(folder.path): no such folder")
        }
        let names = (try? Files.contentsOfDirectory(folder.path)) ?? []
        let frames = names.filter { $0.hasPrefix("step-") && $0.hasSuffix(".png") }.sorted {
            (Int($0.dropFirst(5).dropLast(4)) ?? 0) < (Int($1.dropFirst(5).dropLast(4)) ?? 0)
        }
        guard !frames.isEmpty else { throw BadInput("\(folder.path): no step-NNNN.png frames") }
        return frames.map { folder.appendingPathComponent($0) }
    }

    /// Writes animation.gif and contact-sheet.png (and animation.mp4) into `frames`; returns
    /// what was written.
    static func write(frames folder: URL, fps: Int, mp4: Bool) throws -> [URL] {
        let files = try frameFiles(in: folder)
        if mp4, !ffmpegAvailable() {
            throw BadInput("--mp4 needs ffmpeg, which is not installed (Debian: apt-get install ffmpeg)")
        }
        let images = try files.map { try ImageIO.read(contentsOf: $0) }
        guard images.allSatisfy({ $0.width == images[0].width && $0.height == images[0].height }) else {
            throw BadInput("\(folder.path): frames differ in size")
        }
        let gif = folder.appendingPathComponent("animation.gif")
        try ImageIO.writeGIF(images, delayCentiseconds: max(1, 100 / fps), to: gif)
        let sheet = folder.appendingPathComponent("contact-sheet.png")
        try ImageIO.writePNG(contactSheet(images), to: sheet)
        var written = [gif, sheet]
        if mp4 {
            let video = folder.appendingPathComponent("animation.mp4")
            try encodeMP4(frames: folder, fps: fps, to: video)
            written.append(video)
        }
        return written
    }

    /// Up to 16 frames, evenly spaced with the first and last, in a grid with 2-pixel gaps.
    static func contactSheet(_ images: [RGBImage], maxFrames: Int = 16) -> RGBImage {
        let n = min(maxFrames, images.count)
        let picked = n == 1 ? [images[0]] : (0..<n).map { images[$0 * (images.count - 1) / (n - 1)] }
        let columns = Int(Double(n).squareRoot().rounded(.up)), rows = (n + columns - 1) / columns
        let (w, h, gap) = (images[0].width, images[0].height, 2)
        var sheet = RGBImage(width: columns * w + (columns + 1) * gap, height: rows * h + (rows + 1) * gap, fill: (255, 255, 255))
        for (k, image) in picked.enumerated() {
            let (x0, y0) = (gap + (k % columns) * (w + gap), gap + (k / columns) * (h + gap))
            for y in 0..<h {
                let src = 3 * y * w, dst = 3 * ((y0 + y) * sheet.width + x0)
                sheet.pixels.replaceSubrange(dst..<(dst + 3 * w), with: image.pixels[src..<(src + 3 * w)])
            }
        }
        return sheet
    }

    static func ffmpegAvailable() -> Bool {
        (PathBytes.environment()["PATH"] ?? "/usr/bin:/bin").split(separator: ":").contains {
            Files.isExecutableFile("\($0)/ffmpeg")
        }
    }

    /// Pipes the frames through ffmpeg (H.264, even dimensions, yuv420p for players) into a
    /// temporary file, renamed on success.
    static func encodeMP4(frames folder: URL, fps: Int, to video: URL) throws {
        let temporaryName = ".animation.mp4.tmp-\(getpid()).mp4"
        let temporary = folder.appendingPathComponent(temporaryName)
        // ffmpeg runs inside the frames folder and is given relative names: the folder's path may
        // hold bytes that are not UTF-8, which Process's String arguments could not carry.
        let previous = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard previous >= 0 else { throw BadInput("cannot open the working directory (\(Files.errnoText()))") }
        defer { _ = fchdir(previous); close(previous) }
        guard Files.withSystemPath(folder.path, { chdir($0) }) == 0 else {
            throw BadInput("\(folder.path): cannot enter the folder (\(Files.errnoText()))")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ffmpeg", "-y", "-loglevel", "error", "-framerate", String(fps), "-pattern_type", "glob",
                             "-i", "step-*.png",
                             "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2:flags=neighbor", "-pix_fmt", "yuv420p", temporaryName]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0, (try? Files.rename(temporary.path, to: video.path)) != nil else {
            Files.remove(temporary.path)
            throw BadInput("\(video.path): ffmpeg failed: \(message.split(separator: "\n").first ?? "exit \(process.terminationStatus)")")
        }
    }
}
