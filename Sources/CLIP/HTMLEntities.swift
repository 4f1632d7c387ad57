// HTML character references, decoded as Python's `html.unescape` does (the HTML5 rules: named
// references with or without ';', longest known prefix for unknown names, numeric references with
// the Windows-1252 remap) and as ftfy's more cautious `unescape_html` does (only `&name;` forms,
// plus upper-cased names like `&EACUTE;`).

import Foundation

struct HTMLEntities: Sendable {
    typealias Text = [Unicode.Scalar]

    /// Name (as written after '&', including its ';' when the standard lists one) → replacement.
    let named: [Text: Text]
    /// ftfy's table: "&name;" for names ending in ';', and the upper-cased "&NAME;" of lower-case
    /// names that html.unescape would leave alone, mapped to the upper-cased replacement.
    let ftfyNamed: [Text: Text]

    private static let loaded: Result<HTMLEntities, any Error> = Result {
        guard let url = Bundle.module.url(forResource: "html5-entities", withExtension: "txt") else {
            throw CLIPError("html5-entities.txt: resource missing from the CLIP bundle")
        }
        return try HTMLEntities(contentsOf: url)
    }

    /// The table shipped with the library, parsed once.
    static func shared() throws -> HTMLEntities { try loaded.get() }

    /// Reads lines "name<TAB>hex hex ..." (lines starting with '#' are comments).
    init(contentsOf url: URL) throws {
        let text = try String(contentsOf: url, encoding: .utf8)
        var named: [Text: Text] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: "\t")
            guard fields.count == 2 else { throw CLIPError("\(url.lastPathComponent): bad line '\(line)'") }
            var value: Text = []
            for hex in fields[1].split(separator: " ") {
                guard let v = UInt32(hex, radix: 16), let c = Unicode.Scalar(v) else {
                    throw CLIPError("\(url.lastPathComponent): bad code point '\(hex)'")
                }
                value.append(c)
            }
            named[Array(fields[0].unicodeScalars)] = value
        }
        self.named = named

        var ftfy: [Text: Text] = [:]
        let amp: Text = ["&"]
        for (name, value) in named where name.last == ";" {
            ftfy[amp + name] = value
        }
        let partial = HTMLEntities(named: named, ftfyNamed: [:])
        for (name, value) in named where name.last == ";" && name == TextCleanup.pythonLower(name) {
            let upper = amp + name.flatMap { $0.properties.uppercaseMapping.unicodeScalars }
            if partial.unescape(upper) == upper {
                ftfy[upper] = value.flatMap { $0.properties.uppercaseMapping.unicodeScalars }
            }
        }
        self.ftfyNamed = ftfy
    }

    private init(named: [Text: Text], ftfyNamed: [Text: Text]) {
        self.named = named
        self.ftfyNamed = ftfyNamed
    }

    // MARK: Python html.unescape

    /// `html.unescape`: every `&#digits;?`, `&#xhex;?` and `&name;?` reference (name: up to 32
    /// characters other than tab, LF, FF, space, '<', '&', '#', ';') is replaced.
    func unescape(_ text: Text) -> Text {
        guard text.contains("&") else { return text }
        var out: Text = []
        out.reserveCapacity(text.count)
        var i = 0
        let n = text.count
        while i < n {
            guard text[i] == "&", i + 1 < n else { out.append(text[i]); i += 1; continue }
            if text[i + 1] == "#" {
                if let (value, end) = numericReference(text, from: i + 2) {
                    out += Self.numericReplacement(value)
                    i = end
                } else {
                    out.append("&"); i += 1
                }
                continue
            }
            var j = i + 1
            while j < n && j - (i + 1) < 32 && !Self.endsName(text[j]) { j += 1 }
            if j == i + 1 { out.append("&"); i += 1; continue }
            if j < n && text[j] == ";" { j += 1 }
            let s = Array(text[(i + 1)..<j])
            out += replaceName(s)
            i = j
        }
        return out
    }

    private static func endsName(_ c: Unicode.Scalar) -> Bool {
        switch c {
        case "\t", "\n", "\u{0C}", " ", "<", "&", "#", ";": return true
        default: return false
        }
    }

    /// Digits after "&#" (decimal, or 'x'/'X' then hex) and an optional ';'. Returns the value
    /// (saturated above U+10FFFF) and the index after the reference.
    private func numericReference(_ text: Text, from start: Int) -> (UInt32, Int)? {
        var j = start
        var radix: UInt32 = 10
        if j < text.count && (text[j] == "x" || text[j] == "X") {
            radix = 16
            j += 1
        }
        let digitsStart = j
        var value: UInt32 = 0
        while j < text.count, let d = Self.digit(text[j], radix: radix) {
            value = min(value * radix + d, 0x11_0000)
            j += 1
        }
        if j == digitsStart {
            return nil
        }
        if j < text.count && text[j] == ";" { j += 1 }
        return (value, j)
    }

    private static func digit(_ c: Unicode.Scalar, radix: UInt32) -> UInt32? {
        switch c.value {
        case 0x30...0x39: return c.value - 0x30
        case 0x41...0x46 where radix == 16: return c.value - 0x41 + 10
        case 0x61...0x66 where radix == 16: return c.value - 0x61 + 10
        default: return nil
        }
    }

    /// HTML5's treatment of a numeric reference value.
    static func numericReplacement(_ value: UInt32) -> Text {
        switch value {
        case 0x00: return ["\u{FFFD}"]
        case 0x0D: return ["\r"]
        case 0x80...0x9F: return [TextCleanup.windows1252High[Int(value - 0x80)]]
        case 0xD800...0xDFFF, 0x11_0000...: return ["\u{FFFD}"]
        case 0x01...0x08, 0x0B, 0x0E...0x1F, 0x7F, 0xFDD0...0xFDEF: return []
        default:
            if value & 0xFFFE == 0xFFFE { return [] }   // U+xFFFE and U+xFFFF of every plane
            return [Unicode.Scalar(value)!]
        }
    }

    /// A named reference `s` (without '&'): exact name, else the longest known prefix of at
    /// least two characters followed by the rest, else unchanged.
    private func replaceName(_ s: Text) -> Text {
        if let v = named[s] { return v }
        var x = s.count - 1
        while x >= 2 {
            if let v = named[Array(s[..<x])] { return v + s[x...] }
            x -= 1
        }
        return ["&"] + s
    }

    // MARK: ftfy unescape_html

    /// ftfy's `unescape_html`: only `&#?[0-9A-Za-z]{1,24};` is considered; known names (and
    /// ftfy's upper-case variants) are replaced, numeric references only when fully decoded.
    func ftfyUnescape(_ text: Text) -> Text {
        guard text.contains("&") else { return text }
        var out: Text = []
        out.reserveCapacity(text.count)
        var i = 0
        let n = text.count
        while i < n {
            guard text[i] == "&" else { out.append(text[i]); i += 1; continue }
            var j = i + 1
            if j < n && text[j] == "#" { j += 1 }
            let runStart = j
            while j < n && text[j].isASCII && (text[j].properties.isAlphabetic || Self.digit(text[j], radix: 10) != nil) {
                j += 1
            }
            let run = j - runStart
            guard run >= 1 && run <= 24 && j < n && text[j] == ";" else { out.append("&"); i += 1; continue }
            let match = Array(text[i...j])
            if let v = ftfyNamed[match] {
                out += v
            } else if match.count > 1 && match[1] == "#" {
                let decoded = unescape(match)
                out += decoded.contains(";") ? match : decoded
            } else {
                out += match
            }
            i = j + 1
        }
        return out
    }
}
