// Prompt text → SceneSpec. Tolerant by design: case, punctuation, articles, plurals, synonyms and
// word order do not matter; "right of" and "below" are turned around into "left of" and "above";
// two shapes without a relation word stand side by side; missing attributes take defaults. Only a prompt with no ShapeWorld word at all is an error.

/// A prompt that names nothing ShapeWorld knows.
public struct CaptionError: Error, CustomStringConvertible, Sendable {
    public let prompt: String
    public var description: String {
        "prompt \"\(prompt)\" uses no known word (\(ShapeWorldVocabulary.summary))"
    }
}

/// A part of a prompt that the scene leaves out: a word or a whole object, and why.
public struct IgnoredPart: Sendable, Equatable, CustomStringConvertible {
    /// The words, as written (lowercased).
    public var text: String
    /// Why the scene does without them.
    public var reason: String

    public init(text: String, reason: String) {
        self.text = text
        self.reason = reason
    }

    public var description: String { "\"\(text)\" (\(reason))" }
}

/// The result of parsing a prompt.
public struct ParsedPrompt: Sendable {
    /// The scene the prompt describes, with defaults filled in.
    public var spec: SceneSpec
    /// Words that were neither vocabulary nor filler, in order (for a warning).
    public var ignoredWords: [String]
    /// Everything the scene leaves out, in prompt order: unknown words, objects beyond the two a
    /// scene holds, attributes overridden by a later word of the same kind, relations and
    /// positions that cannot apply.
    public var ignored: [IgnoredPart]
}

public enum CaptionParser {
    /// Words that carry no meaning here.
    private static let filler: Set<String> = [
        "a", "an", "the", "one", "some", "on", "in", "of", "with", "and", "to", "is", "at", "against",
        "shape", "shaped", "object", "colored", "coloured", "sized", "size", "image", "picture", "photo",
        "drawing", "painting", "ground", "backdrop", "side", "next", "beside", "it", "that", "which",
        "corner", "edge", "near", "there", "frame",
    ]

    private enum Token: Equatable {
        case shape(ShapeKind), color(ShapeColor), size(ShapeSize)
        /// `swapped` means the objects are written in reverse ("right of", "below").
        case relation(Relation, swapped: Bool)
        /// A word of an absolute position ("top", "left", "middle"); "left"/"right" before "of" are relations.
        case place(column: Int, row: Int)
        case background, on, other(String), filler
    }

    /// Parses `prompt`. Defaults: shape circle, size large, colour white (black if the background is
    /// white), background black (white if the object is black).
    public static func parse(_ prompt: String) throws -> ParsedPrompt {
        let words = prompt.lowercased().split(whereSeparator: { !$0.isLetter }).map(String.init)
        var tokens = words.map(classify)
        for i in tokens.indices {
            let beforeOf = i + 1 < words.count && words[i + 1] == "of"
            if words[i] == "top" && beforeOf {
                // "on top of" means above: mark the "top" so that its "on" is not read as a background cue.
                tokens[i] = .relation(.above, swapped: false)
                if i > 0, tokens[i - 1] == .on { tokens[i - 1] = .filler }
            } else if let place = Self.places[words[i]], !(beforeOf && (words[i] == "left" || words[i] == "right")) {
                // "on the left" is a place in the frame; "left of" relates two objects.
                tokens[i] = .place(column: place.column, row: place.row)
            }
        }
        guard tokens.contains(where: { if case .shape = $0 { true } else if case .color = $0 { true } else if case .size = $0 { true } else { false } }) else {
            throw CaptionError(prompt: prompt)
        }

        // Background: the colour next to "background" (before it, else after it), else a colour after
        // "on"/"against" that no shape follows before the end or the next relation.
        var background: ShapeColor?
        if let b = tokens.firstIndex(of: .background) {
            let before = tokens[..<b].lastIndex { if case .color = $0 { true } else { false } }
            let after = tokens[(b + 1)...].firstIndex { if case .color = $0 { true } else { false } }
            if let c = before.flatMap({ i in onlyFiller(tokens, (i + 1)..<b) ? i : nil }) ?? after.flatMap({ i in onlyFiller(tokens, (b + 1)..<i) ? i : nil }) {
                if case .color(let color) = tokens[c] { background = color }
                tokens[c] = .filler
            }
            tokens[b] = .filler
        }
        if background == nil {
            for i in tokens.indices where tokens[i] == .on {
                guard let c = tokens[(i + 1)...].firstIndex(where: { $0 != .filler }), case .color(let color) = tokens[c] else { continue }
                let rest = tokens[(c + 1)...].prefix { if case .relation = $0 { false } else { true } }
                if !rest.contains(where: { if case .shape = $0 { true } else { false } }) {
                    background = color
                    tokens[c] = .filler
                    break
                }
            }
        }

        // Split at the first relation into the first and the second object phrase.
        var relation: (Relation, Bool)?
        var first = tokens[...], second = tokens[tokens.endIndex...]
        let relationIndex = tokens.firstIndex(where: { if case .relation = $0 { true } else { false } })
        if let r = relationIndex, case .relation(let rel, let swapped) = tokens[r] {
            let tail = tokens[(r + 1)...]
            if describesObject(tail) {
                relation = (rel, swapped)
                first = tokens[..<r]
                second = tail
            }
        }
        // Two shapes and no relation word ("a red circle and a blue square"): side by side, in order.
        let shapeIndices = tokens.indices.filter { if case .shape = tokens[$0] { true } else { false } }
        if relation == nil, shapeIndices.count >= 2 {
            relation = (.leftOf, false)
            first = tokens[...shapeIndices[0]]
            second = tokens[(shapeIndices[0] + 1)...]
        }
        // A scene holds two objects: a phrase naming a second shape ends at its first one, and
        // the objects after it are left out ("a red circle, a blue square and a green star").
        var dropped: [Range<Int>] = []
        func ending(_ phrase: ArraySlice<Token>) -> ArraySlice<Token> {
            let shapes = phrase.indices.filter { if case .shape = phrase[$0] { true } else { false } }
            guard shapes.count >= 2 else { return phrase }
            var start = shapes[0] + 1
            for end in shapes.dropFirst() {
                dropped.append(start..<(end + 1))
                start = end + 1
            }
            return phrase[...shapes[0]]
        }
        first = ending(first)
        second = ending(second)
        var used = Set<Int>()
        var a = objectPhrase(first, used: &used), b = objectPhrase(second, used: &used)
        if relation != nil, !describesObject(first) { a = ObjectPhrase() }   // "above a red square": first object all defaults
        if let r = relationIndex, relation != nil, second.startIndex == r + 1 { used.insert(r) }
        if let (_, swapped) = relation, swapped { swap(&a, &b) }

        // Defaults that keep the object visible against the background.
        let bg = background ?? ((a.color == .black || b.color == .black) ? .white : .black)
        let fallbackColor: ShapeColor = bg == .white ? .black : .white
        func spec(_ p: ObjectPhrase) -> ObjectSpec {
            ObjectSpec(shape: p.shape ?? .circle, color: p.color ?? fallbackColor, size: p.size ?? .large)
        }
        let secondary = relation.map { RelatedObject(relation: $0.0, object: spec(b)) }
        if secondary == nil { used.formUnion(tokens.indices.filter { if case .place = tokens[$0] { true } else { false } }) }
        let ignoredWords = tokens.compactMap { if case .other(let w) = $0 { w } else { nil } }
        return ParsedPrompt(spec: SceneSpec(primary: spec(a), secondary: secondary, background: bg,
                                            position: secondary == nil ? position(tokens) : nil),
                            ignoredWords: ignoredWords,
                            ignored: ignoredParts(words: words, tokens: tokens, used: used, dropped: dropped))
    }

    /// What the scene leaves out, in prompt order: each dropped object as one part, then every
    /// other word that is neither filler nor used.
    private static func ignoredParts(words: [String], tokens: [Token], used: Set<Int>, dropped: [Range<Int>]) -> [IgnoredPart] {
        var parts: [(index: Int, part: IgnoredPart)] = []
        var inDroppedObject = Set<Int>()
        for range in dropped {
            let described = range.filter { switch tokens[$0] { case .shape, .color, .size: true; default: false } }
            inDroppedObject.formUnion(described)
            parts.append((described.first ?? range.lowerBound, IgnoredPart(text: described.map { words[$0] }.joined(separator: " "),
                                                        reason: "a scene holds at most two objects")))
        }
        for i in tokens.indices where !used.contains(i) && !inDroppedObject.contains(i) {
            let reason: String
            switch tokens[i] {
            case .other: reason = "not a ShapeWorld word"
            case .shape: reason = "a later shape word for the same object wins"
            case .color: reason = "a later colour word for the same object wins"
            case .size: reason = "a later size word for the same object wins"
            case .relation: reason = "a scene has one relation, between two objects"
            case .place: reason = "a position applies only to a lone object"
            case .background, .on, .filler: continue
            }
            parts.append((i, IgnoredPart(text: words[i], reason: reason)))
        }
        return parts.sorted { $0.index < $1.index }.map(\.part)
    }

    /// Column and row words combine ("top" + "left" = the top left corner); "center" counts only
    /// when no edge is named ("top center" is the top).
    private static func position(_ tokens: [Token]) -> ShapePosition? {
        var column = 0, row = 0, any = false
        for t in tokens {
            guard case .place(let c, let r) = t else { continue }
            any = true
            if c != 0 { column = c }
            if r != 0 { row = r }
        }
        return any ? ShapePosition(column: column, row: row) : nil
    }

    /// Words of absolute position: column (-1 left, 1 right) and row (-1 top, 1 bottom).
    private static let places: [String: (column: Int, row: Int)] = [
        "left": (-1, 0), "right": (1, 0), "top": (0, -1), "upper": (0, -1), "bottom": (0, 1), "lower": (0, 1),
        "center": (0, 0), "centre": (0, 0), "middle": (0, 0), "centered": (0, 0), "centred": (0, 0), "central": (0, 0),
    ]

    private struct ObjectPhrase {
        var shape: ShapeKind?
        var color: ShapeColor?
        var size: ShapeSize?
    }

    /// The attributes in a phrase; when a kind repeats, the last word wins (nearest the noun).
    /// The indices of the words that count are added to `used`.
    private static func objectPhrase(_ tokens: ArraySlice<Token>, used: inout Set<Int>) -> ObjectPhrase {
        var phrase = ObjectPhrase()
        var shape: Int?, color: Int?, size: Int?
        for i in tokens.indices {
            switch tokens[i] {
            case .shape(let s): phrase.shape = s; shape = i
            case .color(let c): phrase.color = c; color = i
            case .size(let s): phrase.size = s; size = i
            default: break
            }
        }
        used.formUnion([shape, color, size].compactMap { $0 })
        return phrase
    }

    private static func describesObject(_ tokens: ArraySlice<Token>) -> Bool {
        tokens.contains { switch $0 { case .shape, .color, .size: true; default: false } }
    }

    private static func onlyFiller(_ tokens: [Token], _ range: Range<Int>) -> Bool {
        range.allSatisfy { tokens[$0] == .filler || tokens[$0] == .on }
    }

    private static func classify(_ word: String) -> Token {
        if let t = lexicon[word] { return t }
        // Plurals: "circles", "crosses".
        for suffix in ["es", "s"] where word.hasSuffix(suffix) {
            if let t = lexicon[String(word.dropLast(suffix.count))], case .shape = t { return t }
        }
        if word == "background" || word == "bg" { return .background }
        if word == "on" || word == "against" { return .on }
        return filler.contains(word) ? .filler : .other(word)
    }

    private static let lexicon: [String: Token] = {
        var table: [String: Token] = [:]
        for s in ShapeKind.allCases { for w in [s.rawValue] + s.synonyms { table[w] = .shape(s) } }
        for c in ShapeColor.allCases { for w in [c.rawValue] + c.synonyms { table[w] = .color(c) } }
        for s in ShapeSize.allCases { for w in [s.rawValue] + s.synonyms { table[w] = .size(s) } }
        table["left"] = .relation(.leftOf, swapped: false)
        table["right"] = .relation(.leftOf, swapped: true)
        for w in ["above", "over"] { table[w] = .relation(.above, swapped: false) }
        for w in ["below", "under", "beneath", "underneath"] { table[w] = .relation(.above, swapped: true) }
        return table
    }()
}
