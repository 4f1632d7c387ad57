// OpenAI CLIP's tokenizer (clip/simple_tokenizer.py): text cleanup, a fixed word-splitting
// pattern, then byte-level BPE over a 49,408-entry vocabulary; start 49406 / end 49407, padded
// with 0 to a context of 77.

import FilePaths
import Foundation

/// Token ids for one prompt, padded to the context length.
public struct TokenizedText: Equatable, Sendable {
    /// `[start] + tokens + [end]`, zero-padded (or cut, ending with the end token) to the context.
    public var ids: [Int]
    /// True when the prompt was longer than the context and its tail was dropped.
    public var truncated: Bool
    /// Index of the end-of-text token (the position CLIP's text tower reads its features from).
    public var endIndex: Int
}

/// OpenAI CLIP's byte-level BPE tokenizer.
///
/// The vocabulary comes from the merges file shipped with the library
/// (`bpe_simple_vocab_16e6.txt.gz`, see ``bundled()``) or from a Hugging Face folder
/// (`vocab.json` + `merges.txt`). Text is cleaned as the reference does it with ftfy (see
/// TextCleanup.swift; ftfy's heuristic mojibake repair is not replicated), split with the pattern
/// `<|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+`
/// (case-insensitive), and every piece is BPE-encoded from its UTF-8 bytes.
public final class Tokenizer: Sendable {
    /// Number of merges that OpenAI's vocabulary uses from the merges file (49152 − 256 − 2).
    public static let openAIMergeCount = 48_894
    /// CLIP's context length.
    public static let defaultContextLength = 77

    /// Id → token string (bytes shown as the printable characters of GPT-2's byte mapping).
    public let vocabulary: [String]
    /// Id of `<|startoftext|>` (49406 in OpenAI's vocabulary).
    public let startID: Int
    /// Id of `<|endoftext|>` (49407).
    public let endID: Int
    /// Id of each single byte, and of each byte ending a word (with `</w>`).
    private let byteIDs: [Int32], byteEndIDs: [Int32]
    /// (left id << 32 | right id) → (rank << 32 | merged id).
    private let merges: [UInt64: UInt64]

    /// The merges file shipped in the module's resources.
    static func bundledMergesURL() throws -> URL {
        guard let url = Bundle.module.url(forResource: "bpe_simple_vocab_16e6.txt", withExtension: "gz") else {
            throw CLIPError("bpe_simple_vocab_16e6.txt.gz: resource missing from the CLIP bundle")
        }
        return url
    }

    private static let bundledResult: Result<Tokenizer, any Error> = Result {
        try Tokenizer(openAIMergesGzip: try bundledMergesURL())
    }

    /// The tokenizer over the vocabulary shipped with the library (loaded once).
    public static func bundled() throws -> Tokenizer { try bundledResult.get() }

    /// Loads OpenAI's gzip-compressed merges file: line 0 is a header, lines 1…48894 are the
    /// merges; the vocabulary is the 256 byte symbols, the same with `</w>`, one entry per merge,
    /// then the two special tokens.
    public convenience init(openAIMergesGzip url: URL) throws {
        let name = url.lastPathComponent
        let data: Data
        do { data = Data(try Files.read(url.path)) } catch let error as FileError { throw CLIPError("\(name): cannot read (\(error.problem))") }
        guard let text = String(bytes: try gunzip(data, name: name), encoding: .utf8) else {
            throw CLIPError("\(name): merges are not UTF-8")
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count > Self.openAIMergeCount else {
            throw CLIPError("\(name): \(lines.count - 1) merges, expected at least \(Self.openAIMergeCount)")
        }
        let merges = try lines[1...Self.openAIMergeCount].enumerated().map { try Self.parseMerge($0.element, line: $0.offset + 2, file: name) }
        let symbols = byteSymbols()
        var vocab = symbols + symbols.map { $0 + "</w>" }
        vocab += merges.map { $0.0 + $0.1 }
        vocab += ["<|startoftext|>", "<|endoftext|>"]
        var encoder: [String: Int] = [:]
        for (i, s) in vocab.enumerated() { encoder[s] = i }   // a later duplicate wins, as in a Python dict
        try self.init(vocabulary: vocab, encoder: encoder, merges: merges, file: name)
    }

    /// Loads a Hugging Face tokenizer folder: `vocab.json` (token → id) and `merges.txt`.
    public convenience init(huggingFaceFolder folder: URL) throws {
        let vocabURL = folder.appendingPathComponent("vocab.json")
        let mergesURL = folder.appendingPathComponent("merges.txt")
        let encoder: [String: Int]
        do {
            encoder = try JSONDecoder().decode([String: Int].self, from: Data(Files.read(vocabURL.path)))
        } catch {
            throw CLIPError("\(vocabURL.path): not a JSON object of token ids (\(error.localizedDescription))")
        }
        guard let ids = encoder.values.max(), ids < 10_000_000, ids + 1 == encoder.count else {
            throw CLIPError("\(vocabURL.path): ids are not 0..<\(encoder.count)")
        }
        var vocab = [String](repeating: "", count: encoder.count)
        for (s, i) in encoder { vocab[i] = s }
        let text: String
        do {
            guard let valid = String(validating: try Files.read(mergesURL.path), as: UTF8.self) else {
                throw CLIPError("\(mergesURL.path): not UTF-8 text")
            }
            text = valid
        } catch let error as FileError {
            throw CLIPError("\(mergesURL.path): cannot read (\(error.problem))")
        }
        var merges: [(String, String)] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where !line.isEmpty && !line.hasPrefix("#version") {
            merges.append(try Self.parseMerge(line, line: n + 1, file: "merges.txt"))
        }
        try self.init(vocabulary: vocab, encoder: encoder, merges: merges, file: folder.lastPathComponent)
    }

    private static func parseMerge(_ line: Substring, line number: Int, file: String) throws -> (String, String) {
        let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
        guard parts.count == 2 else { throw CLIPError("\(file): line \(number) is not a merge pair: '\(line)'") }
        return (String(parts[0]), String(parts[1]))
    }

    private init(vocabulary: [String], encoder: [String: Int], merges mergeList: [(String, String)], file: String) throws {
        self.vocabulary = vocabulary
        func id(_ s: String) throws -> Int {
            guard let i = encoder[s] else { throw CLIPError("\(file): token '\(s)' is not in the vocabulary") }
            return i
        }
        startID = try id("<|startoftext|>")
        endID = try id("<|endoftext|>")
        let symbols = byteSymbols()
        // byteSymbols() lists bytes in vocabulary order; index them by byte value.
        let order = byteOrder()
        var byteIDs = [Int32](repeating: 0, count: 256), byteEndIDs = [Int32](repeating: 0, count: 256)
        for (k, b) in order.enumerated() {
            byteIDs[Int(b)] = Int32(try id(symbols[k]))
            byteEndIDs[Int(b)] = Int32(try id(symbols[k] + "</w>"))
        }
        self.byteIDs = byteIDs
        self.byteEndIDs = byteEndIDs
        var merges: [UInt64: UInt64] = [:]
        merges.reserveCapacity(mergeList.count)
        for (rank, (a, b)) in mergeList.enumerated() {
            let key = UInt64(try id(a)) << 32 | UInt64(try id(b))
            merges[key] = UInt64(rank) << 32 | UInt64(try id(a + b))   // a later duplicate wins
        }
        self.merges = merges
    }

    // MARK: Encoding

    /// Token ids of `text` without the start/end tokens (`SimpleTokenizer.encode`).
    public func encode(_ text: String) throws -> [Int] {
        let cleaned = try TextCleanup.clean(text)
        var ids: [Int] = []
        for piece in Self.split(cleaned) {
            if piece == Self.startText { ids.append(startID); continue }
            if piece == Self.endText { ids.append(endID); continue }
            var utf8: [UInt8] = []
            for c in piece { utf8 += Array(String(Character(c)).utf8) }
            ids += bpe(utf8)
        }
        return ids
    }

    /// `clip.tokenize` for one prompt: `[start] + encode(text) + [end]`, zero-padded to
    /// `contextLength`. A longer prompt throws, unless `truncate` is set: then it is cut to the
    /// context with the last position forced to the end token, and `truncated` is true.
    public func tokenize(_ text: String, contextLength: Int = Tokenizer.defaultContextLength,
                         truncate: Bool = false) throws -> TokenizedText {
        var ids = [startID] + (try encode(text)) + [endID]
        var truncated = false
        if ids.count > contextLength {
            guard truncate else {
                let preview = text.count > 40 ? String(text.prefix(40)) + "…" : text
                throw CLIPError("prompt \"\(preview)\" is \(ids.count) tokens long, more than CLIP's context of \(contextLength); shorten it or allow truncation")
            }
            ids = Array(ids.prefix(contextLength))
            ids[contextLength - 1] = endID
            truncated = true
        }
        let end = ids.count - 1
        ids += [Int](repeating: 0, count: contextLength - ids.count)
        return TokenizedText(ids: ids, truncated: truncated, endIndex: end)
    }

    /// Text of token ids (special tokens dropped, `</w>` read as a space), for diagnostics.
    public func decode(_ ids: [Int]) -> String {
        let inverse = byteDecoder()
        var bytes: [UInt8] = []
        for id in ids where id >= 0 && id < vocabulary.count && id != startID && id != endID {
            var token = vocabulary[id]
            let endsWord = token.hasSuffix("</w>")
            if endsWord { token.removeLast(4) }
            for c in token.unicodeScalars { if let b = inverse[c] { bytes.append(b) } }
            if endsWord { bytes.append(0x20) }
        }
        return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespaces)
    }

    /// Byte-pair encoding of one word: start from one symbol per byte (the last one marked as
    /// the word end) and repeatedly merge every occurrence of the lowest-ranked adjacent pair.
    private func bpe(_ bytes: [UInt8]) -> [Int] {
        guard let last = bytes.last else { return [] }
        var word = bytes.dropLast().map { byteIDs[Int($0)] } + [byteEndIDs[Int(last)]]
        while word.count > 1 {
            var best = UInt64.max
            for i in 0..<(word.count - 1) {
                if let m = merges[UInt64(word[i]) << 32 | UInt64(word[i + 1])], m < best { best = m }
            }
            guard best != .max else { break }
            let merged = Int32(truncatingIfNeeded: best & 0xFFFF_FFFF)
            // Find the pair that has this rank again (ranks are unique per pair).
            var first: Int32 = -1, second: Int32 = -1
            for i in 0..<(word.count - 1) where merges[UInt64(word[i]) << 32 | UInt64(word[i + 1])] == best {
                first = word[i]; second = word[i + 1]; break
            }
            var next: [Int32] = []
            next.reserveCapacity(word.count)
            var i = 0
            while i < word.count {
                if i + 1 < word.count && word[i] == first && word[i + 1] == second {
                    next.append(merged); i += 2
                } else {
                    next.append(word[i]); i += 1
                }
            }
            word = next
        }
        return word.map(Int.init)
    }

    // MARK: Word splitting

    private static let startText = Array("<|startoftext|>".unicodeScalars)
    private static let endText = Array("<|endoftext|>".unicodeScalars)
    private static let contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"].map { Array($0.unicodeScalars) }

    /// The reference pattern's matches, in order; whitespace between them is dropped.
    static func split(_ text: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var pieces: [[Unicode.Scalar]] = []
        var i = 0
        let n = text.count
        while i < n {
            if let len = ([startText, endText] + contractions).lazy.compactMap({ matchLiteral(text, at: i, $0) }).first {
                pieces.append(Array(text[i..<(i + len)]))
                i += len
                continue
            }
            let c = text[i]
            switch wordClass(c) {
            case .letter:
                var j = i + 1
                while j < n && wordClass(text[j]) == .letter { j += 1 }
                pieces.append(Array(text[i..<j])); i = j
            case .number:
                pieces.append([c]); i += 1
            case .other:
                var j = i + 1
                while j < n && wordClass(text[j]) == .other { j += 1 }
                pieces.append(Array(text[i..<j])); i = j
            case .skipped:
                i += 1
            }
        }
        return pieces
    }

    private enum WordClass { case letter, number, other, skipped }

    /// \p{L}, \p{N}, whitespace, or anything else. U+0345 (which case-folds to a letter) is
    /// matched by neither `\p{L}` nor `[^\s\p{L}\p{N}]` under the reference's IGNORECASE flag,
    /// so it is skipped like whitespace.
    private static func wordClass(_ c: Unicode.Scalar) -> WordClass {
        if c.isASCII {
            switch c.value {
            case 0x41...0x5A, 0x61...0x7A: return .letter
            case 0x30...0x39: return .number
            default: return TextCleanup.isPythonSpace(c) ? .skipped : .other
            }
        }
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default:
            if TextCleanup.isPythonSpace(c) || c.value == 0x345 { return .skipped }
            return .other
        }
    }

    /// Length of `literal` if it occurs at `i`, compared case-insensitively as the reference's
    /// IGNORECASE does (ASCII case, and 'ſ' folding to 's').
    private static func matchLiteral(_ text: [Unicode.Scalar], at i: Int, _ literal: [Unicode.Scalar]) -> Int? {
        guard i + literal.count <= text.count else { return nil }
        for (k, l) in literal.enumerated() {
            var c = text[i + k]
            if c.value >= 0x41 && c.value <= 0x5A { c = Unicode.Scalar(c.value + 32)! }
            if c == "\u{17F}" { c = "s" }
            if c != l { return nil }
        }
        return literal.count
    }
}

// MARK: Byte mapping (GPT-2's bytes_to_unicode)

/// Bytes in vocabulary order: the printable ones (33–126, 161–172, 174–255), then the rest.
private func byteOrder() -> [UInt8] {
    let printable = Array(33...126) + Array(161...172) + Array(174...255)
    let rest = (0...255).filter { !printable.contains($0) }
    return (printable + rest).map(UInt8.init)
}

/// The character standing for each byte, in vocabulary order: printable bytes are themselves,
/// the other 68 take U+0100, U+0101, … in increasing byte order.
private func byteSymbols() -> [String] {
    var next: UInt32 = 256
    return byteOrder().map { b in
        let printable = (33...126).contains(b) || (161...172).contains(b) || b >= 174
        if printable { return String(Character(Unicode.Scalar(b))) }
        defer { next += 1 }
        return String(Character(Unicode.Scalar(next)!))
    }
}

private func byteDecoder() -> [Unicode.Scalar: UInt8] {
    var map: [Unicode.Scalar: UInt8] = [:]
    for (b, s) in zip(byteOrder(), byteSymbols()) { map[s.unicodeScalars.first!] = b }
    return map
}
