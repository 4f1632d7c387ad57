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
        #expect(shellRename(from: "in.png", toBytes: Array("in".utf8) + [0xFF] + Array(".png".utf8), in: dir.url))

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
        #expect(shellRename(from: "in.png", toBytes: Array("caf".utf8) + [0xE9] + Array(".png".utf8), in: dir.url))
        // Latin-1 bytes in the prompt file: the path in the options is used as is.
        let line = Array("a blue square --init-image caf".utf8) + [0xE9] + Array(".png --seed 2\n".utf8)
        try Data(line).write(to: dir.file("lines.txt"))
        let batch = try shell("exec \"$V\" batch lines.txt --output-dir \"$(printf 'd\\377')\" \(Self.models) --json", in: dir.url)
        #expect(batch.status == 0, "\(batch.stderr)\n\(batch.stdout)")
        #expect(rawNames(dir.url).contains([0x64, 0xFF]))
        let folder = dir.url.path + "/" + PathBytes.string(decoding: [0x64, 0xFF])
        #expect(try Files.contentsOfDirectory(folder).contains("a-blue-square-2.png"))
    }

    /// Renames `from` to a name given as bytes, with the shell's printf (no String in between).
    func shellRename(from: String, toBytes: [UInt8], in directory: URL) -> Bool {
        let octal = toBytes.map { String(format: "\\%03o", $0) }.joined()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "mv \"$0\" \"$(printf '\(octal)')\"", from]
        process.currentDirectoryURL = directory
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }
}
