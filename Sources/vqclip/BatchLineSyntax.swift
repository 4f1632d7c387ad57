// The syntax of a batch prompt file, apart from the command so that the fuzzer can compile it
// alone: one prompt per line, blank lines and `#` comments skipped, render options after the
// prompt (`a red circle --seed 3 --init-image 'my picture.png'`). The file is bytes: paths in
// its options are kept exactly (PathBytes), whatever their encoding.

import FilePaths

enum BatchLineSyntax {
    /// The prompt lines of a file's bytes with their 1-based line numbers, trimmed of
    /// surrounding spaces and tabs; blank lines and comment lines are left out.
    static func promptLines<Bytes: Collection>(_ bytes: Bytes) -> [(number: Int, text: String)] where Bytes.Element == UInt8 {
        var lines: [(number: Int, text: String)] = []
        for (index, raw) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            let text = trimmed(PathBytes.string(decoding: raw))
            guard !text.isEmpty, text.unicodeScalars.first != "#" else { continue }
            lines.append((index + 1, text))
        }
        return lines
    }

    /// Splits "PROMPT --option value ..." at the first whitespace followed by `--` into the
    /// prompt and the option words (shell-like: quotes group, backslash escapes outside single
    /// quotes). Scalars rather than Characters are read, so that a combining mark after a quote
    /// or a space cannot hide it.
    static func split(_ line: String) throws -> (prompt: String, options: [String]) {
        let scalars = Array(line.unicodeScalars)
        var promptEnd = scalars.count
        for i in scalars.indices where scalars[i].properties.isWhitespace {
            var j = i + 1
            while j < scalars.count, scalars[j].properties.isWhitespace { j += 1 }
            if j + 1 < scalars.count, scalars[j] == "-", scalars[j + 1] == "-" { promptEnd = i; break }
        }
        var words: [String] = [], current = String.UnicodeScalarView(), quote: Unicode.Scalar?, escaped = false, inWord = false
        for c in scalars[promptEnd...] {
            if escaped { current.append(c); escaped = false; continue }
            if c == "\\" && quote != "'" { escaped = true; inWord = true; continue }
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
                continue
            }
            if c == "\"" || c == "'" { quote = c; inWord = true; continue }
            if c.properties.isWhitespace {
                if inWord { words.append(String(current)); current = String.UnicodeScalarView(); inWord = false }
                continue
            }
            current.append(c)
            inWord = true
        }
        if quote != nil { throw BatchLineError("unterminated quote in the options") }
        if escaped { throw BatchLineError("a backslash ends the options") }
        if inWord { words.append(String(current)) }
        var prompt = String.UnicodeScalarView()
        prompt.append(contentsOf: scalars[..<promptEnd])
        return (trimmed(String(prompt)), words)
    }

    /// `text` without leading and trailing whitespace.
    static func trimmed(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return String(scalars[first...last])
    }
}

/// A batch line that cannot be split into a prompt and options.
struct BatchLineError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
