// Tokenizer parity with OpenAI's simple_tokenizer (fixture made by scripts/make_clip_fixtures.py).

import Foundation
import Testing
@testable import CLIP

func fixtureURL(_ name: String) -> URL {
    Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures")!
}

private struct TokenCases: Decodable {
    struct Case: Decodable { var text: String; var ids: [Int] }
    var cases: [Case]
}

@Suite struct TokenizerTests {
    @Test func knownAnswers() throws {
        let t = try Tokenizer.bundled()
        #expect(t.vocabulary.count == 49408)
        #expect(t.startID == 49406 && t.endID == 49407)
        #expect(try t.encode("a photo of a cat") == [320, 1125, 539, 320, 2368])
        #expect(try t.encode("Hello,  WORLD!!  it's 2024") == [3306, 267, 1002, 748, 585, 568, 273, 271, 273, 275])
        #expect(try t.encode("naïve café ﬁne “quoted” ＬＯＵＤ") == [1097, 35689, 563, 15304, 3797, 257, 27706, 257, 7464])
        #expect(try t.encode("<|endoftext|> x") == [49407, 343])
        #expect(try t.encode("&amp; &lt;3 100%") == [261, 283, 274, 272, 271, 271, 260])
    }

    /// UTF-8 read as Windows-1252: pairs of (input, ftfy 6.3.1's fix_text of it). The reference
    /// tokenises fix_text's output, so the mojibake must give the repaired text's tokens.
    @Test func mojibakeIsRepairedAsFtfyDoes() throws {
        let t = try Tokenizer.bundled()
        let cases: [(String, String)] = [
            ("Ã©tÃ©", "été"), ("cafÃ© au lait", "café au lait"), ("â€œquotedâ€\u{9d} text", "\"quoted\" text"),
            ("Iâ€™m here", "I'm here"), ("naÃ¯ve rÃ©sumÃ©", "naïve résumé"), ("Ã¼ber straÃŸe", "über straße"),
            ("emoji ðŸ˜€ smile", "emoji 😀 smile"), ("plain café", "plain café"), ("Â£5 price", "£5 price"),
            ("Ã\u{a0}la mode", "àla mode"), ("MÃ¼ller – Ã–sterreich", "Müller – Österreich"), ("Ã", "Ã"), ("Â©2020", "©2020"),
        ]
        for (input, fixed) in cases {
            #expect(try t.encode(input) == t.encode(fixed), "\(input)")
        }
        #expect(try t.encode("cafÃ©") != t.encode("cafa"))
    }

    @Test func fixtureParity() throws {
        let t = try Tokenizer.bundled()
        let data = try Data(contentsOf: fixtureURL("tokenizer.json"))
        let cases = try JSONDecoder().decode(TokenCases.self, from: data).cases
        #expect(cases.count > 300)
        var failures = 0
        for c in cases {
            let ids = try t.encode(c.text)
            if ids != c.ids {
                failures += 1
                Issue.record("\(c.text.debugDescription): got \(ids), expected \(c.ids)")
                if failures > 10 { return }
            }
        }
    }

    @Test func contextPaddingAndTruncation() throws {
        let t = try Tokenizer.bundled()
        let short = try t.tokenize("a photo of a cat")
        #expect(short.ids.count == 77 && !short.truncated && short.endIndex == 6)
        #expect(Array(short.ids.prefix(8)) == [49406, 320, 1125, 539, 320, 2368, 49407, 0])
        let long = String(repeating: "cat ", count: 100)
        #expect(throws: CLIPError.self) { try t.tokenize(long) }
        let cut = try t.tokenize(long, truncate: true)
        #expect(cut.truncated && cut.ids.count == 77 && cut.ids[76] == 49407 && cut.endIndex == 76)
        #expect(cut.ids[1...75].allSatisfy { $0 == 2368 })
        let exact = try t.tokenize(String(repeating: "cat ", count: 75))
        #expect(!exact.truncated && exact.ids[76] == 49407)
    }

    @Test func decodeRoundTrip() throws {
        let t = try Tokenizer.bundled()
        let tokens = try t.tokenize("a photo of a CAT, 2024!")
        #expect(t.decode(Array(tokens.ids[...tokens.endIndex])) == "a photo of a cat , 2 0 2 4 !")
    }
}

@Suite struct HuggingFaceTokenizerTests {
    /// Writes the shipped vocabulary as a Hugging Face folder (vocab.json + merges.txt) and checks
    /// that both loaders agree.
    @Test func folderMatchesBundled() throws {
        let bundled = try Tokenizer.bundled()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("clip-hf-tok-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var vocab: [String: Int] = [:]
        for (i, s) in bundled.vocabulary.enumerated() { vocab[s] = i }
        try JSONEncoder().encode(vocab).write(to: folder.appendingPathComponent("vocab.json"))
        let merges = String(decoding: try gunzip(Data(contentsOf: Tokenizer.bundledMergesURL()), name: "merges"), as: UTF8.self)
            .split(separator: "\n", omittingEmptySubsequences: false)
        let mergesTxt = "#version: 0.2\n" + merges[1...Tokenizer.openAIMergeCount].joined(separator: "\n") + "\n"
        try mergesTxt.write(to: folder.appendingPathComponent("merges.txt"), atomically: true, encoding: .utf8)
        let hf = try Tokenizer(huggingFaceFolder: folder)
        #expect(hf.vocabulary == bundled.vocabulary)
        for text in ["a photo of a cat", "naïve café ﬁne “quoted” ＬＯＵＤ", "emoji 😀🎨 中文 <|endoftext|>"] {
            #expect(try hf.encode(text) == bundled.encode(text))
        }
    }

}
