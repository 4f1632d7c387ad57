// Varied captions for training a text encoder on the world: what a caption states (a mention, in
// which any attribute may be left out), many templates and synonyms to say it in, whether a scene
// fits a caption (for masking false negatives), and hard negatives that change one stated fact.

import Tensors

/// What a caption says about one object; nil fields are not mentioned.
public struct ObjectMention: Sendable, Hashable {
    public var shape: ShapeKind?
    public var color: ShapeColor?
    public var size: ShapeSize?

    public init(shape: ShapeKind? = nil, color: ShapeColor? = nil, size: ShapeSize? = nil) {
        self.shape = shape
        self.color = color
        self.size = size
    }

    /// Everything about `object`.
    public init(_ object: ObjectSpec) { self.init(shape: object.shape, color: object.color, size: object.size) }

    /// Whether `object` has every stated attribute.
    public func matches(_ object: ObjectSpec) -> Bool {
        (shape ?? object.shape) == object.shape && (color ?? object.color) == object.color
            && (size ?? object.size) == object.size
    }
}

/// A second object in a caption and how the first relates to it.
public struct RelatedMention: Sendable, Hashable {
    public var relation: Relation
    public var object: ObjectMention

    public init(relation: Relation, object: ObjectMention) {
        self.relation = relation
        self.object = object
    }
}

/// Everything a caption states; attributes it leaves out are nil.
public struct CaptionMention: Sendable, Hashable {
    public var primary: ObjectMention
    public var secondary: RelatedMention?
    public var background: ShapeColor?
    /// Only for captions of one object.
    public var position: ShapePosition?

    public init(primary: ObjectMention, secondary: RelatedMention? = nil, background: ShapeColor? = nil,
                position: ShapePosition? = nil) {
        self.primary = primary
        self.secondary = secondary
        self.background = background
        self.position = position
    }

    /// Everything about `spec`.
    public init(_ spec: SceneSpec) {
        self.init(primary: ObjectMention(spec.primary),
                  secondary: spec.secondary.map { RelatedMention(relation: $0.relation, object: ObjectMention($0.object)) },
                  background: spec.background, position: spec.position)
    }

    /// Whether the scene `spec` fits every stated fact. A one-object caption fits a two-object
    /// scene when either object fits it and it states no position (a photo of a red circle and
    /// a blue square is also a photo of a red circle); a scene without a position counts as centred.
    public func isSatisfied(by spec: SceneSpec) -> Bool {
        if let background, background != spec.background { return false }
        if let secondary {
            guard let other = spec.secondary, other.relation == secondary.relation else { return false }
            return primary.matches(spec.primary) && secondary.object.matches(other.object)
        }
        if let other = spec.secondary {
            return position == nil && (primary.matches(spec.primary) || primary.matches(other.object))
        }
        if let position, position != (spec.position ?? .center) { return false }
        return primary.matches(spec.primary)
    }
}

/// A caption's text and what it states.
public struct Caption: Sendable, Hashable {
    public var text: String
    public var mention: CaptionMention

    public init(text: String, mention: CaptionMention) {
        self.text = text
        self.mention = mention
    }
}

/// Writes captions in many forms. Every form is read back by ``CaptionParser`` to the stated facts.
public enum CaptionWriter {
    /// A caption of `spec`: some attributes left out, then put in words by a random template.
    public static func caption(for spec: SceneSpec, using rng: inout SeededGenerator) -> Caption {
        let m = mention(of: spec, using: &rng)
        return Caption(text: text(for: m, using: &rng), mention: m)
    }

    /// What a caption of `spec` states: each attribute is dropped with some probability, but an
    /// object phrase always keeps at least one word the parser needs (shape, colour or size).
    public static func mention(of spec: SceneSpec, using rng: inout SeededGenerator) -> CaptionMention {
        func keep(_ p: Float) -> Bool { rng.nextUniform() >= p }
        func object(_ o: ObjectSpec, dropShape: Float, dropColor: Float, dropSize: Float) -> ObjectMention {
            var m = ObjectMention(shape: keep(dropShape) ? o.shape : nil, color: keep(dropColor) ? o.color : nil,
                                  size: keep(dropSize) ? o.size : nil)
            if m.shape == nil && m.color == nil && m.size == nil { m.shape = o.shape }
            return m
        }
        if let secondary = spec.secondary {
            return CaptionMention(
                primary: object(spec.primary, dropShape: 0.1, dropColor: 0.15, dropSize: 0.4),
                secondary: RelatedMention(relation: secondary.relation,
                                          object: object(secondary.object, dropShape: 0.1, dropColor: 0.15, dropSize: 0.4)),
                background: keep(0.3) ? spec.background : nil)
        }
        return CaptionMention(primary: object(spec.primary, dropShape: 0.15, dropColor: 0.25, dropSize: 0.35),
                              background: keep(0.3) ? spec.background : nil,
                              position: keep(0.3) ? spec.position : nil)
    }

    /// The mention in words, by a random template.
    public static func text(for mention: CaptionMention, using rng: inout SeededGenerator) -> String {
        func pick(_ options: [String]) -> String { options[Int(rng.next() % UInt64(options.count))] }
        func chance(_ p: Float) -> Bool { rng.nextUniform() < p }

        // "a big red circle", "one red circle", "red circle", "the small shape".
        func objectPhrase(_ o: ObjectMention) -> String {
            let noun = o.shape.map { pick([$0.rawValue] + $0.captionSynonyms) } ?? pick(["shape", "object"])
            let words = [o.size.map { pick(sizeWords[$0]!) }, o.color.map { pick(colorWords[$0]!) }, noun].compactMap { $0 }
            let body = words.joined(separator: " ")
            let determiner = pick(["a", "a", "a", "", "", "one", "the"])
            if determiner == "a" { return SceneSpec.article(body) + " " + body }
            return determiner.isEmpty ? body : determiner + " " + body
        }
        let prefix = pick(["", "", "", "a picture of ", "a photo of ", "a drawing of ", "an image of ", "there is "])

        if let secondary = mention.secondary {
            let swapped = chance(0.4)
            let relation: String
            switch (secondary.relation, swapped) {
            case (.leftOf, false): relation = pick(["to the left of", "left of"])
            case (.leftOf, true): relation = pick(["to the right of", "right of"])
            case (.above, false): relation = pick(["above", "over", "on top of"])
            case (.above, true): relation = pick(["below", "under", "beneath"])
            }
            let (first, second) = swapped ? (secondary.object, mention.primary) : (mention.primary, secondary.object)
            var text = prefix + objectPhrase(first) + " " + relation + " " + objectPhrase(second)
            if let background = mention.background { text += " " + backgroundPhrase(background, pick) }
            return text
        }

        let object = objectPhrase(mention.primary)
        let position = mention.position.map { pick(positionWords[$0]!) }
        // The comma form with the background's colour first in its phrase: "white square, black background".
        if let background = mention.background, chance(0.15) {
            var parts = [object, pick(colorWords[background]!) + " background"]
            if let position { parts.insert(position, at: chance(0.5) ? 1 : 2) }
            return prefix + parts.joined(separator: ", ")
        }
        // The background first: "a blue background with a red circle".
        if let background = mention.background, chance(0.1) {
            let opening = pick(["a " + pick(colorWords[background]!) + " background with ",
                                pick(colorWords[background]!) + " background, "])
            return opening + object + (position.map { " " + $0 } ?? "")
        }
        var tail: [String] = []
        if let position { tail.append(position) }
        if let background = mention.background { tail.append(backgroundPhrase(background, pick)) }
        if tail.count == 2 && chance(0.5) { tail.swapAt(0, 1) }
        // The position first: "in the top left corner, a red circle".
        if let position, chance(0.15) {
            return ([position + ","] + [prefix + object] + tail.filter { $0 != position }).joined(separator: " ")
        }
        return ([prefix + object] + tail).joined(separator: " ")
    }

    /// `mention` with one stated fact changed (shape and position most often, as the facts a
    /// contrastive objective learns last) so that `spec` no longer fits it. Nil when no change
    /// found in a few tries does that.
    public static func hardNegative(of mention: CaptionMention, excluding spec: SceneSpec,
                                    using rng: inout SeededGenerator) -> CaptionMention? {
        for _ in 0..<8 {
            if let m = changeOneFact(of: mention, using: &rng), !m.isSatisfied(by: spec) { return m }
        }
        return nil
    }

    private static func changeOneFact(of mention: CaptionMention, using rng: inout SeededGenerator) -> CaptionMention? {
        enum Change: CaseIterable { case shape, position, color, size, background, secondShape, relation }
        var options: [(Change, Int)] = []
        if mention.primary.shape != nil { options.append((.shape, 3)) }
        if mention.position != nil { options.append((.position, 3)) }
        if mention.primary.color != nil { options.append((.color, 1)) }
        if mention.primary.size != nil { options.append((.size, 1)) }
        if mention.background != nil { options.append((.background, 1)) }
        if mention.secondary?.object.shape != nil { options.append((.secondShape, 2)) }
        if mention.secondary != nil { options.append((.relation, 2)) }
        let total = options.reduce(0) { $0 + $1.1 }
        guard total > 0 else { return nil }
        var r = Int(rng.next() % UInt64(total))
        var change = options[0].0
        for (c, w) in options { if r < w { change = c; break }; r -= w }

        func other<T: Equatable>(_ all: [T], than value: T, avoiding: [T?] = []) -> T {
            let pool = all.filter { $0 != value && !avoiding.contains($0) }
            return pool[Int(rng.next() % UInt64(pool.count))]
        }
        var m = mention
        // Object colours never equal the background (such a scene cannot exist).
        let objectColors = [m.primary.color, m.secondary?.object.color]
        switch change {
        case .shape: m.primary.shape = other(ShapeKind.allCases, than: m.primary.shape!)
        case .position: m.position = other(ShapePosition.allCases, than: m.position!)
        case .color: m.primary.color = other(ShapeColor.allCases, than: m.primary.color!, avoiding: [m.background])
        case .size: m.primary.size = m.primary.size == .small ? .large : .small
        case .background: m.background = other(ShapeColor.allCases, than: m.background!, avoiding: objectColors)
        case .secondShape: m.secondary!.object.shape = other(ShapeKind.allCases, than: m.secondary!.object.shape!)
        case .relation:
            // Swapping the objects says the opposite when they differ; else turn the axis.
            if m.primary != m.secondary!.object {
                swap(&m.primary, &m.secondary!.object)
            } else {
                m.secondary!.relation = m.secondary!.relation == .leftOf ? .above : .leftOf
            }
        }
        return m
    }

    private static func backgroundPhrase(_ color: ShapeColor, _ pick: ([String]) -> String) -> String {
        let c = pick(colorWords[color]!)
        return pick(["on \(SceneSpec.article(c)) \(c) background", "on \(c)", "against \(c)",
                     "against \(SceneSpec.article(c)) \(c) background", "with \(SceneSpec.article(c)) \(c) background",
                     "on \(SceneSpec.article(c)) \(c) backdrop", "on \(c) background"])
    }

    /// Words a caption may use for each colour, size and position (all understood by the parser).
    static let colorWords: [ShapeColor: [String]] = Dictionary(uniqueKeysWithValues: ShapeColor.allCases.map {
        ($0, [$0.rawValue, $0.rawValue] + $0.synonyms)
    })
    static let sizeWords: [ShapeSize: [String]] = [.small: ["small", "small", "little", "tiny"], .large: ["large", "large", "big", "huge"]]
    static let positionWords: [ShapePosition: [String]] = Dictionary(uniqueKeysWithValues: ShapePosition.allCases.map { p in
        switch p {
        case .center: return (p, ["in the center", "in the middle", "at the center", "in the centre", "centered"])
        case .left, .right:
            return (p, ["on the \(p.rawValue)", "at the \(p.rawValue)", "on the \(p.rawValue) side", p.rawValue])
        case .top, .bottom:
            return (p, ["at the \(p.rawValue)", "near the \(p.rawValue)", "at the \(p.rawValue) edge", p.rawValue])
        default:
            let upper = (p.row < 0 ? "upper " : "lower ") + (p.column < 0 ? "left" : "right")
            return (p, ["in the \(p.rawValue) corner", "at the \(p.rawValue)", "in the \(upper) corner", p.rawValue, "in the \(upper)"])
        }
    })
}

extension ShapeKind {
    /// Synonyms common enough to appear in captions (a subset of what the parser accepts).
    var captionSynonyms: [String] {
        switch self {
        case .circle: return ["disc"]
        case .square: return ["box"]
        case .ring: return ["donut"]
        case .cross: return ["plus"]
        default: return []
        }
    }
}
