// The prompt syntax of the VQGAN+CLIP tools, with pixray's robust suffix rule:
//   "a red circle:2 | blurry:-1 | a cat:1:0.5 ^ a dog"
// `|` separates prompts optimised together, `^` separates story sets (switched every
// --change-prompt-every steps), and each prompt may end in `:weight` or `:weight:stop`. Only
// numeric suffixes are peeled off, so text with other colons ("http://…", "note: …") survives.

/// One prompt with its weight and stop threshold.
public struct WeightedPrompt: Equatable, Sendable {
    /// The text (or, for image prompts, the path).
    public var text: String
    /// Scales the prompt's loss term; a negative weight pushes the image away from it.
    public var weight: Float
    /// Signed distances below this stop contributing gradient (default −∞: never).
    public var stop: Float

    public init(text: String, weight: Float = 1, stop: Float = -.infinity) {
        self.text = text
        self.weight = weight
        self.stop = stop
    }
}

/// A prompt that cannot be used.
public struct PromptError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public enum PromptSyntax {
    /// Splits `text:weight:stop`: at most two numeric suffixes are taken from the right; one
    /// number is the weight, two are weight and stop. Whitespace around every part is trimmed.
    public static func parseOne(_ raw: String) throws -> WeightedPrompt {
        var text = raw.trimmingWhitespace()
        var numbers: [Float] = []
        while numbers.count < 2, let colon = text.lastIndex(of: ":") {
            let suffix = text[text.index(after: colon)...].trimmingWhitespace()
            guard let value = Float(suffix), value.isFinite else { break }
            numbers.insert(value, at: 0)
            text = String(text[..<colon]).trimmingWhitespace()
        }
        guard !text.isEmpty else { throw PromptError("empty prompt in \"\(raw)\"") }
        var prompt = WeightedPrompt(text: text)
        if let weight = numbers.first { prompt.weight = weight }
        if numbers.count == 2 { prompt.stop = numbers[1] }
        guard prompt.weight != 0 else { throw PromptError("prompt \"\(text)\" has weight 0") }
        return prompt
    }

    /// Parses a whole prompt string into story sets (split on `^`), each a list of prompts (split
    /// on `|`). Empty pieces between separators are skipped; no prompt at all is an error.
    public static func parse(_ raw: String) throws -> [[WeightedPrompt]] {
        let sets = try raw.split(separator: "^", omittingEmptySubsequences: false).compactMap { set -> [WeightedPrompt]? in
            let prompts = try set.split(separator: "|", omittingEmptySubsequences: false)
                .filter { !$0.trimmingWhitespace().isEmpty }
                .map { try parseOne(String($0)) }
            return prompts.isEmpty ? nil : prompts
        }
        guard !sets.isEmpty else { throw PromptError("no prompt given") }
        return sets
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        var start = scalars.startIndex, end = scalars.endIndex
        while start < end, scalars[start].properties.isWhitespace { start = scalars.index(after: start) }
        while end > start, scalars[scalars.index(before: end)].properties.isWhitespace { end = scalars.index(before: end) }
        return String(String.UnicodeScalarView(scalars[start..<end]))
    }
}
