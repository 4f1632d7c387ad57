// Text cleanup before tokenisation, as OpenAI's simple_tokenizer does it in Python:
//   ftfy.fix_text → html.unescape twice → strip → collapse whitespace → str.lower().
// Everything works on arrays of Unicode scalars because Python strings index code points and
// Swift's String compares by canonical equivalence (a loop "until nothing changes" needs exact
// code-point equality).
//
// Of ftfy 6.3's default fixers, all deterministic ones are replicated: HTML entity unescaping
// (unless the line contains '<'), C1 controls as Windows-1252, Latin ligatures, full/half-width
// forms, curly quotes, line breaks, terminal escapes, control characters, NFC. Of its heuristic
// mojibake repair (fix_encoding) the common case is: UTF-8 read as Windows-1252 or Latin-1
// ("cafÃ©" → "café", "â€œ" → "“", "ðŸ˜€" → "😀"), repaired where the misread characters
// spell complete UTF-8 sequences.

import Foundation

enum TextCleanup {
    /// The cleaned, lower-cased text that the word splitter sees.
    static func clean(_ text: String) throws -> [Unicode.Scalar] {
        let entities = try HTMLEntities.shared()
        var s = ftfyFixText(Array(text.unicodeScalars), entities: entities)
        s = entities.unescape(entities.unescape(s))
        s = collapseWhitespace(stripped(s))
        return pythonLower(s)
    }

    // MARK: ftfy.fix_text

    /// Fixes each line separately (ftfy's segments end after '\n'); once a line contains '<',
    /// entity unescaping stays off for the rest of the text, as ftfy's "auto" mode does.
    static func ftfyFixText(_ text: [Unicode.Scalar], entities: HTMLEntities) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var unescape = true
        var start = 0
        while start < text.count {
            var end = start
            while end < text.count && text[end] != "\n" { end += 1 }
            end = min(end + 1, text.count)
            let segment = Array(text[start..<end])
            if segment.contains("<") { unescape = false }
            out += fixSegment(segment, entities: unescape ? entities : nil)
            start = end
        }
        return out
    }

    /// ftfy's fixer chain, repeated until the text stops changing.
    private static func fixSegment(_ segment: [Unicode.Scalar], entities: HTMLEntities?) -> [Unicode.Scalar] {
        var text = segment
        while true {
            let original = text
            if let entities { text = entities.ftfyUnescape(text) }
            text = fixEncoding(text)
            text = text.map(fixC1Control)
            text = text.flatMap(fixLigature)
            text = text.flatMap(fixWidth)
            text = text.map(uncurlQuote)
            text = fixLineBreaks(text)
            text = removeTerminalEscapes(text)
            text = text.filter { !isRemovedControl($0) }
            text = nfc(text)
            if text == original { return text }
        }
    }

    /// UTF-8 that was decoded as Windows-1252 (or Latin-1): characters whose Windows-1252 bytes
    /// form a complete multi-byte UTF-8 sequence become that character.
    static func fixEncoding(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            // Two-byte sequences only from Â and Ã (U+0080–U+00FF, most real mojibake): other
            // leads pair with NBSP or symbols in real text ("CAFÉ\u{A0}"), where ftfy leaves them.
            if let lead = sloppyByte(text[i]), lead == 0xC2 || lead == 0xC3 || (0xE0...0xF4).contains(lead) {
                let length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2
                if i + length <= text.count {
                    let bytes = text[i..<(i + length)].compactMap(sloppyByte)
                    // A no-break space (0xA0) only continues Â and Ã: after other leads it is
                    // real spacing ("résumé\u{A0}\u{A0}"), as ftfy also judges it.
                    if bytes.count == length,
                       bytes.dropFirst().allSatisfy({ (0x80...0xBF).contains($0) && ($0 != 0xA0 || length == 2) }),
                       let decoded = String(validating: bytes, as: UTF8.self), decoded.unicodeScalars.count == 1 {
                        out.append(decoded.unicodeScalars.first!)
                        i += length
                        continue
                    }
                }
            }
            out.append(text[i])
            i += 1
        }
        return out
    }

    /// The byte a character comes from when bytes are read as Windows-1252 (Latin-1 for the
    /// five bytes it leaves undefined), or nil for characters no byte gives.
    static func sloppyByte(_ c: Unicode.Scalar) -> UInt8? {
        if c.value <= 0xFF { return UInt8(c.value) }
        return windows1252Bytes[c]
    }

    private static let windows1252Bytes: [Unicode.Scalar: UInt8] = Dictionary(
        uniqueKeysWithValues: windows1252High.enumerated().map { ($0.element, UInt8(0x80 + $0.offset)) })

    /// C1 controls U+0080–U+009F read as Windows-1252 (undefined bytes stay as they are).
    static func fixC1Control(_ c: Unicode.Scalar) -> Unicode.Scalar {
        guard c.value >= 0x80 && c.value <= 0x9F else { return c }
        return windows1252High[Int(c.value - 0x80)]
    }

    /// Windows-1252 for bytes 0x80–0x9F; 0x81, 0x8D, 0x8F, 0x90, 0x9D are undefined and map to
    /// themselves (as ftfy's "sloppy" codec and HTML's numeric references do).
    static let windows1252High: [Unicode.Scalar] = [
        0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039,
        0x0152, 0x8D, 0x017D, 0x8F, 0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
        0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
    ].map { Unicode.Scalar(UInt32($0))! }

    /// Latin ligatures and digraphs that ftfy takes apart.
    private static let ligatures: [UInt32: String] = [
        0x0132: "IJ", 0x0133: "ij", 0x0149: "\u{2BC}n", 0x01F1: "DZ", 0x01F2: "Dz", 0x01F3: "dz",
        0x01C4: "D\u{17D}", 0x01C5: "D\u{17E}", 0x01C6: "d\u{17E}", 0x01C7: "LJ", 0x01C8: "Lj",
        0x01C9: "lj", 0x01CA: "NJ", 0x01CB: "Nj", 0x01CC: "nj", 0xFB00: "ff", 0xFB01: "fi",
        0xFB02: "fl", 0xFB03: "ffi", 0xFB04: "ffl", 0xFB05: "\u{17F}t", 0xFB06: "st",
    ]

    private static func fixLigature(_ c: Unicode.Scalar) -> [Unicode.Scalar] {
        if let s = ligatures[c.value] { return Array(s.unicodeScalars) }
        return [c]
    }

    /// Ideographic space → space; half-width and full-width forms (U+FF01–U+FFEF) → their NFKC form.
    private static func fixWidth(_ c: Unicode.Scalar) -> [Unicode.Scalar] {
        if c.value == 0x3000 { return [" "] }
        guard c.value >= 0xFF01 && c.value <= 0xFFEF else { return [c] }
        return Array(String(Character(c)).precomposedStringWithCompatibilityMapping.unicodeScalars)
    }

    private static func uncurlQuote(_ c: Unicode.Scalar) -> Unicode.Scalar {
        switch c.value {
        case 0x02BC, 0x2018...0x201B: return "'"
        case 0x201C...0x201F: return "\""
        default: return c
        }
    }

    /// CRLF, CR, U+2028, U+2029 and U+0085 → LF.
    private static func fixLineBreaks(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            let c = text[i]
            if c == "\r" && i + 1 < text.count && text[i + 1] == "\n" {
                out.append("\n"); i += 2; continue
            }
            switch c.value {
            case 0x0D, 0x2028, 0x2029, 0x85: out.append("\n")
            default: out.append(c)
            }
            i += 1
        }
        return out
    }

    /// Removes ANSI escapes ESC '[' (decimal digit | ';')* ASCII-letter.
    private static func removeTerminalEscapes(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard text.contains("\u{1B}") else { return text }
        var out: [Unicode.Scalar] = []
        var i = 0
        while i < text.count {
            if text[i] == "\u{1B}" && i + 1 < text.count && text[i + 1] == "[" {
                var j = i + 2
                while j < text.count && (text[j] == ";" || text[j].properties.generalCategory == .decimalNumber) { j += 1 }
                if j < text.count && text[j].isASCII && text[j].properties.isAlphabetic {
                    i = j + 1
                    continue
                }
            }
            out.append(text[i])
            i += 1
        }
        return out
    }

    private static func isRemovedControl(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x00...0x08, 0x0B, 0x0E...0x1F, 0x7F, 0x206A...0x206F, 0xFEFF, 0xFFF9...0xFFFC: return true
        default: return false
        }
    }

    static func nfc(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        // ASCII is already in NFC; skip the round trip through String.
        if text.allSatisfy({ $0.isASCII }) { return text }
        var s = String.UnicodeScalarView()
        s.append(contentsOf: text)
        return Array(String(s).precomposedStringWithCanonicalMapping.unicodeScalars)
    }

    // MARK: Whitespace and case

    /// Python's str.isspace(): bidirectional class WS, B or S, or category Zs.
    static func isPythonSpace(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    static func stripped(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard let first = text.firstIndex(where: { !isPythonSpace($0) }),
              let last = text.lastIndex(where: { !isPythonSpace($0) }) else { return [] }
        return Array(text[first...last])
    }

    /// Every run of whitespace becomes one space (`re.sub(r'\s+', ' ', text).strip()`).
    static func collapseWhitespace(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var inSpace = false
        for c in text {
            if isPythonSpace(c) {
                if !inSpace { out.append(" ") }
                inSpace = true
            } else {
                out.append(c)
                inSpace = false
            }
        }
        return stripped(out)
    }

    /// Python's str.lower(): full Unicode lower-case mappings plus the final-sigma rule (Σ → ς
    /// after a cased letter and not before one, case-ignorable characters skipped).
    static func pythonLower(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        for (i, c) in text.enumerated() {
            if c.isASCII {
                out.append(c.value >= 65 && c.value <= 90 ? Unicode.Scalar(c.value + 32)! : c)
            } else if c.value == 0x3A3 {
                out.append(isFinalSigma(text, at: i) ? "\u{3C2}" : "\u{3C3}")
            } else {
                out.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return out
    }

    private static func isFinalSigma(_ text: [Unicode.Scalar], at i: Int) -> Bool {
        var j = i - 1
        while j >= 0 && text[j].properties.isCaseIgnorable { j -= 1 }
        guard j >= 0 && text[j].properties.isCased else { return false }
        j = i + 1
        while j < text.count && text[j].properties.isCaseIgnorable { j += 1 }
        return j == text.count || !text[j].properties.isCased
    }
}
