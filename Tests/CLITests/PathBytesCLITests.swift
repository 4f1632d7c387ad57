// Paths are bytes: names that are not UTF-8, given on the command line or in a batch file, are
// read and written exactly as given, and shown readably (`\xFF`) in messages and events.
// Foundation's Process takes String arguments, so the raw bytes are made by a shell's printf.

import FilePaths
import Foundation
import ImageCodecs
import Testing

@Suite("vqclip paths as bytes", .serialized)
struct PathBytesCLITests {
    /// Runs `script` in /bin/sh inside `directory`, with the vqclip binary as "$V".
    func shell(_ script: String, in directory: URL) throws -> Run {
        try VQClipBinary.run(["-c", "V=\"$0\"; " + script, VQClipBinary.url.path], workingDirectory: directory,
                             program: URL(fileURLWithPath: "/bin/sh"))
    }

    /// The entries of `folder` as raw bytes (readdir, no String conversion).
    func rawNames(_ folder: URL) -> Set<[UInt8]> {
        guard let directory = opendir(folder.path) else { return [] }
        defer { closedir(directory) }
        var names: Set<[UInt8]> = []
        while let entry = readdir(directory) {
            var name = entry.pointee.d_name
            names.insert(withUnsafeBytes(of: &name) { Array($0.prefix { $0 != 0 }) })
        }
        return names
    }

    static let models = "--vqgan '\(RenderCLITests.vqgan)' --clip '\(RenderCLITests.clip)' --size 32x24 --cutn 4 --iterations 2"

    @Test func initImageAndOutputNamesThatAreNotUTF8() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        // in\xFF.png: a small image, renamed to its byte name without going through a String.
        try ImageIO.writePNG(RGBImage(width: 32, height: 24, fill: (200, 40, 40)), to: dir.file("in.png"))
        #expect(shellPlace("mv", "in.png", toBytes: Array("in".utf8) + [0xFF] + Array(".png".utf8), in: dir.url))

        let render = try shell("exec \"$V\" render 'a red circle' --seed 1 --init-image \"$(printf 'in\\377.png')\" "
                               + "--output \"$(printf 'out\\376\\377.png')\" \(Self.models) --json", in: dir.url)
        #expect(render.status == 0, "\(render.stderr)")
        let outBytes = Array("out".utf8) + [0xFE, 0xFF] + Array(".png".utf8)
        #expect(rawNames(dir.url).contains(outBytes), "the output has exactly the bytes asked for")
        #expect(!rawNames(dir.url).contains(Array("out\u{FFFD}\u{FFFD}.png".utf8)))
        // Events show the name readably; the PNG records the init image so that a replay finds it.
        let saved = jsonEvents(render.stdout).first { $0["event"] as? String == "saved" && $0["kind"] as? String == "final" }
        #expect((saved?["path"] as? String)?.hasSuffix("/out\\xFE\\xFF.png") == true, "\(render.stdout)")
        let out = dir.url.path + "/" + PathBytes.string(decoding: outBytes)
        let text = Dictionary(try ImageIO.readText(contentsOf: URL(fileURLWithPath: out)).map { ($0.keyword, $0.text) }, uniquingKeysWith: { $1 })
        #expect(text["command"]?.contains("--init-image $'in\\xFF.png'") == true, "\(text["command"] ?? "")")

        let replay = try shell("exec \"$V\" render --replay \"$(printf 'out\\376\\377.png')\" --output again.png", in: dir.url)
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(try Files.read(out) == Files.read(dir.file("again.png").path))

        // A missing input named with such bytes: one readable line.
        let missing = try shell("exec \"$V\" render 'a red circle' --init-image \"$(printf 'nope\\377.png')\" --output x.png \(Self.models)",
                                in: dir.url)
        expectUserError(missing, startingWith: "")
        #expect(missing.stderr.contains("nope\\xFF.png: cannot open file (No such file or directory)"), "\(missing.stderr)")
    }

    @Test func batchFileLinesAndOutputFolderKeepTheirBytes() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        try ImageIO.writePNG(RGBImage(width: 32, height: 24, fill: (40, 40, 200)), to: dir.file("in.png"))
        #expect(shellPlace("mv", "in.png", toBytes: Array("caf".utf8) + [0xE9] + Array(".png".utf8), in: dir.url))
        // Latin-1 bytes in the prompt file: the path in the options is used as is.
        let line = Array("a blue square --init-image caf".utf8) + [0xE9] + Array(".png --seed 2\n".utf8)
        try Data(line).write(to: dir.file("lines.txt"))
        let batch = try shell("exec \"$V\" batch lines.txt --output-dir \"$(printf 'd\\377')\" \(Self.models) --json", in: dir.url)
        #expect(batch.status == 0, "\(batch.stderr)\n\(batch.stdout)")
        #expect(rawNames(dir.url).contains([0x64, 0xFF]))
        let folder = dir.url.path + "/" + PathBytes.string(decoding: [0x64, 0xFF])
        #expect(try Files.contentsOfDirectory(folder).contains("a-blue-square-2.png"))
    }

    @Test func everyOtherCommandReadsAndWritesByteNames() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        // shapes writes into a folder named s\xFF; gallery reads it and writes index.html there.
        let shapes = try shell("exec \"$V\" shapes --output \"$(printf 's\\377')\" --prompt 'a red circle' --size 16", in: dir.url)
        #expect(shapes.status == 0, "\(shapes.stderr)")
        #expect(shapes.stdout.hasSuffix("/s\\xFF/a-red-circle-0.png\n"), "\(shapes.stdout)")
        let folder = dir.url.path + "/" + PathBytes.string(decoding: [0x73, 0xFF])
        #expect(try Files.contentsOfDirectory(folder) == ["a-red-circle-0.png"])

        // render --frames into f\xFF with --animate: frames, GIF and contact sheet; animate reads them again.
        let frames = try shell("exec \"$V\" render 'a red circle' --frames \"$(printf 'f\\377')\" --frame-every 1 --animate "
                               + "--output r.png \(Self.models)", in: dir.url)
        #expect(frames.status == 0, "\(frames.stderr)")
        let framesFolder = dir.url.path + "/" + PathBytes.string(decoding: [0x66, 0xFF])
        #expect(Set(try Files.contentsOfDirectory(framesFolder)).isSuperset(of: ["step-0000.png", "step-0002.png", "animation.gif", "contact-sheet.png"]))
        let animate = try shell("exec \"$V\" animate \"$(printf 'f\\377')\" --fps 5", in: dir.url)
        #expect(animate.status == 0, "\(animate.stderr)")

        // score and inspect read models under byte names (copies of the fixtures).
        #expect(shellPlace("cp -r", RenderCLITests.clip, toBytes: [0x63, 0xE9], in: dir.url))
        #expect(shellPlace("cp -r", RenderCLITests.vqgan, toBytes: [0x76, 0xE9, 0x2E, 0x63, 0x6B, 0x70, 0x74], in: dir.url))
        let score = try shell("exec \"$V\" score r.png --model \"$(printf 'c\\351')\" --text 'a red circle' --json", in: dir.url)
        #expect(score.status == 0, "\(score.stderr)")
        let inspect = try shell("exec \"$V\" inspect \"$(printf 'v\\351.ckpt')\"", in: dir.url)
        #expect(inspect.status == 0 && inspect.stdout.contains("model: taming VQGAN"), "\(inspect.stderr)")
        let gallery = try shell("exec \"$V\" gallery \"$(printf 's\\377')\"", in: dir.url)
        #expect(gallery.status == 0, "\(gallery.stderr)")
        #expect(Files.exists(folder + "/index.html"))

        // train and eval write and read their run folders under byte names.
        let byteFolder = { (byte: UInt8) in dir.url.path + "/" + PathBytes.string(decoding: [byte, 0xFF]) }
        let trainCLIP = try shell("exec \"$V\" train clip --out \"$(printf 't\\377')\" --tiny --batch 8 --steps 2 "
                                  + "--checkpoint-every 2 --eval-samples 20", in: dir.url)
        #expect(trainCLIP.status == 0, "\(trainCLIP.stderr)")
        #expect(Set(try Files.contentsOfDirectory(byteFolder(0x74))).isSuperset(of: ["checkpoint.safetensors", "model.safetensors", "log.jsonl"]))
        let evalCLIP = try shell("exec \"$V\" eval clip --model \"$(printf 't\\377')\" --samples 20", in: dir.url)
        #expect(evalCLIP.status == 0, "\(evalCLIP.stderr)")
        let trainVQGAN = try shell("exec \"$V\" train vqgan --out \"$(printf 'q\\377')\" --preset tiny --steps 4 "
                                   + "--checkpoint-every 2 --threads 1", in: dir.url)
        #expect(trainVQGAN.status == 0, "\(trainVQGAN.stderr)")
        #expect(Set(try Files.contentsOfDirectory(byteFolder(0x71))).isSuperset(of: ["model.safetensors", "config.json", "log.jsonl"]))
        let evalVQGAN = try shell("exec \"$V\" eval vqgan --model \"$(printf 'q\\377')\" --samples 4", in: dir.url)
        #expect(evalVQGAN.status == 0, "\(evalVQGAN.stderr)")
        let evalRender = try shell("exec \"$V\" eval render --count 1 --iterations 1 --cutn 2 --output-dir \"$(printf 'e\\377')\"",
                                   in: dir.url)
        #expect(evalRender.status == 0, "\(evalRender.stderr)")
        #expect(try Files.contentsOfDirectory(byteFolder(0x65)).contains { $0.hasSuffix(".png") })
    }

    /// Runs `command` (mv, cp -r) from `source` to a name given as bytes, made by the shell's
    /// printf so that no String stands between.
    func shellPlace(_ command: String, _ source: String, toBytes: [UInt8], in directory: URL) -> Bool {
        let octal = toBytes.map { String(format: "\\%03o", $0) }.joined()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "\(command) \"$0\" \"$(printf '\(octal)')\"", source]
        process.currentDirectoryURL = directory
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }
}
