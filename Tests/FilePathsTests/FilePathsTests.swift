import Foundation
import Testing
@testable import FilePaths

struct PathBytesTests {
    /// Byte strings that are not UTF-8, and UTF-8 of characters in the escape range itself.
    static let awkward: [[UInt8]] = [
        [0xFF], [0x61, 0xFE, 0x62], [0x80], [0xC0, 0x80], [0xC3], [0xE2, 0x82], [0xED, 0xA0, 0x80],
        [0xF4, 0x90, 0x80, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF], [0xF4, 0x8F, 0xBC, 0x80],
        Array("caf".utf8) + [0xE9] + Array(".png".utf8),
    ]

    @Test func everyByteStringComesBackExactly() {
        var generator = SystemRandomNumberGenerator()
        var samples = Self.awkward
        for _ in 0..<2000 {
            let count = Int.random(in: 0...24, using: &generator)
            // Bias towards bytes that start or continue multi-byte sequences.
            samples.append((0..<count).map { _ in Bool.random() ? UInt8.random(in: 0x80...0xFF) : UInt8.random(in: 0...0xFF) })
        }
        for bytes in samples {
            #expect(PathBytes.bytes(of: PathBytes.string(decoding: bytes)) == bytes, "\(bytes)")
        }
    }

    @Test func distinctBytesGiveDistinctStrings() {
        // Injective: the lone byte 0xE9 and the character é (C3 A9) stay apart, as do a real
        // U+10FFFF and the bytes it is escaped as.
        let pairs: [([UInt8], [UInt8])] = [([0xE9], [0xC3, 0xA9]), ([0xF4, 0x8F, 0xBF, 0xBF], [0xBF]), ([0xFF], Array("\\xFF".utf8))]
        for (a, b) in pairs {
            #expect(PathBytes.string(decoding: a).unicodeScalars.elementsEqual(PathBytes.string(decoding: b).unicodeScalars) == false)
        }
    }

    @Test func utf8IsUnchanged() {
        for text in ["plain.png", "café ☃ 😀/ünïcödé", "", "tab\tnew\nline"] {
            let string = PathBytes.string(decoding: Array(text.utf8))
            #expect(string.unicodeScalars.elementsEqual(text.unicodeScalars))
            #expect(!PathBytes.hasEscapes(string))
            #expect(PathBytes.display(string) == text)
        }
    }

    @Test func environmentValuesKeepTheirBytes() {
        let value: [CChar] = [0x2F, 0x74, CChar(bitPattern: 0xFF), 0x3D, 0x78, 0]   // "/t\xFF=x"
        #expect(setenv("FILEPATHS_TEST_VALUE", value, 1) == 0)
        defer { unsetenv("FILEPATHS_TEST_VALUE") }
        let read = PathBytes.environment()["FILEPATHS_TEST_VALUE"]
        #expect(read.map(PathBytes.bytes(of:)) == [0x2F, 0x74, 0xFF, 0x3D, 0x78])
        #expect(PathBytes.environment()["PATH"] == ProcessInfo.processInfo.environment["PATH"])
    }

    @Test func displayAndRepair() {
        let string = PathBytes.string(decoding: Array("a".utf8) + [0xFF, 0x0A] + Array("é".utf8) + [0xC3])
        #expect(PathBytes.display(string) == "a\\xFF\né\\xC3")
        #expect(PathBytes.repaired(string) == "a\u{FFFD}\né\u{FFFD}")
        #expect(PathBytes.hasEscapes(string))
    }
}

struct FilesTests {
    /// A fresh folder under the system's temporary directory.
    func scratch() throws -> String {
        let path = NSTemporaryDirectory() + "/filepaths-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try Files.createDirectory(path)
        return path
    }

    /// The names in `folder` as raw bytes, read with readdir directly.
    func rawNames(_ folder: String) -> [[UInt8]] {
        guard let directory = Files.withSystemPath(folder, { opendir($0) }) ?? nil else { return [] }
        defer { closedir(directory) }
        var names: [[UInt8]] = []
        while let entry = readdir(directory) {
            var name = entry.pointee.d_name
            let bytes = withUnsafeBytes(of: &name) { Array($0.prefix { $0 != 0 }) }
            if bytes != [0x2E] && bytes != [0x2E, 0x2E] { names.append(bytes) }
        }
        return names
    }

    @Test func namesThatAreNotUTF8AreCreatedReadRenamedAndListedExactly() throws {
        let folder = try scratch()
        defer { _ = try? FileManager.default.removeItem(atPath: folder) }
        let subBytes: [UInt8] = [0x64, 0xFE]                       // "d\xFE"
        let nameBytes: [UInt8] = [0x78, 0xFF, 0x2E, 0x62, 0x69, 0x6E] // "x\xFF.bin"
        let sub = folder + "/" + PathBytes.string(decoding: subBytes)
        let file = sub + "/" + PathBytes.string(decoding: nameBytes)
        try Files.createDirectory(sub + "/nested")
        #expect(rawNames(folder) == [subBytes])
        try Files.write([1, 2, 3], to: file)
        try Files.append([4], to: file)
        #expect(try Files.read(file) == [1, 2, 3, 4])
        #expect(Set(rawNames(sub)) == [nameBytes, Array("nested".utf8)])
        #expect(Set(try Files.contentsOfDirectory(sub)) == [PathBytes.string(decoding: nameBytes), "nested"])
        // Foundation would look for the UTF-8 of the escapes, a file that does not exist.
        #expect(!FileManager.default.fileExists(atPath: file))
        #expect(Files.exists(file) && !Files.isDirectory(file) && Files.isDirectory(sub))

        let renamed = sub + "/" + PathBytes.string(decoding: [0x79, 0x80])
        try Files.rename(file, to: renamed)
        #expect(Set(rawNames(sub)) == [[0x79, 0x80], Array("nested".utf8)])
        Files.remove(renamed)
        #expect(!Files.exists(renamed))
    }

    @Test func failuresNameThePathReadably() throws {
        let missing = "/nonexistent-\(getpid())/" + PathBytes.string(decoding: [0x61, 0xFF])
        do {
            _ = try Files.read(missing)
            Issue.record("read of a missing file succeeded")
        } catch let error as FileError {
            #expect(error.description.hasPrefix("/nonexistent-\(getpid())/a\\xFF: cannot open file"))
        }
        #expect(Files.open("a\u{0}b", O_RDONLY) == -1)
    }

    @Test func relativePathsResolveAgainstTheWorkingDirectorysBytes() throws {
        let folder = try scratch()
        defer { _ = try? FileManager.default.removeItem(atPath: folder) }
        let inner = folder + "/" + PathBytes.string(decoding: [0x77, 0xFF])
        try Files.createDirectory(inner)
        let previous = open(".", O_RDONLY | O_DIRECTORY)
        defer { _ = fchdir(previous); close(previous) }
        #expect(Files.withSystemPath(inner) { chdir($0) } == 0)
        #expect(Files.currentDirectory().hasSuffix(PathBytes.string(decoding: [0x2F, 0x77, 0xFF])))
        let url = Files.url("out.png")
        #expect(PathBytes.bytes(of: url.path).suffix(11) == [0x2F, 0x77, 0xFF] + Array("/out.png".utf8))
    }
}
