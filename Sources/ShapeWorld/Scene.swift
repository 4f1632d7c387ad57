// What a scene is: the discrete description a caption carries (SceneSpec) and a concrete layout
// of it (Scene: positions and radii) that the rasterizer draws.

import Tensors

/// One object as a caption describes it.
public struct ObjectSpec: Sendable, Hashable {
    public var shape: ShapeKind
    public var color: ShapeColor
    public var size: ShapeSize

    public init(shape: ShapeKind, color: ShapeColor, size: ShapeSize) {
        self.shape = shape
        self.color = color
        self.size = size
    }

    /// "small red circle".
    public var phrase: String { "\(size.rawValue) \(color.rawValue) \(shape.rawValue)" }
}

/// A second object and where it is relative to the first.
public struct RelatedObject: Sendable, Hashable {
    public var relation: Relation
    public var object: ObjectSpec

    public init(relation: Relation, object: ObjectSpec) {
        self.relation = relation
        self.object = object
    }
}

/// Everything a caption says about a scene: one or two objects and the background colour.
public struct SceneSpec: Sendable, Hashable {
    public var primary: ObjectSpec
    public var secondary: RelatedObject?
    public var background: ShapeColor
    /// Where a lone object sits; nil means near the centre at the classic sizes (the layout
    /// before absolute positions existed). Ignored when there is a second object.
    public var position: ShapePosition?

    public init(primary: ObjectSpec, secondary: RelatedObject? = nil, background: ShapeColor,
                position: ShapePosition? = nil) {
        self.primary = primary
        self.secondary = secondary
        self.background = background
        self.position = secondary == nil ? position : nil
    }

    /// The canonical caption: "a small red circle on a blue background" ("an orange background"),
    /// "a small red circle in the top left corner on a blue background", or
    /// "a small red circle to the left of a large blue square on a yellow background".
    public var caption: String {
        var text = "a " + primary.phrase
        if let secondary { text += " \(secondary.relation.rawValue) a \(secondary.object.phrase)" }
        if let position { text += " " + position.phrase }
        return text + " on \(Self.article(background.rawValue)) \(background.rawValue) background"
    }

    /// "a" or "an" before a word (the vocabulary has no silent-h or "you"-sound words).
    public static func article(_ word: String) -> String { "aeiou".contains(word.first ?? "x") ? "an" : "a" }
}

extension Scene {
    /// Nominal radius of a positioned object by size (±10% jitter). Smaller than the centred
    /// layout's so that a large object fits in a corner; small and large stay apart in area by
    /// a factor above 2 even at the jitter's extremes, which the judge's size rule relies on.
    public static func positionedRadius(_ size: ShapeSize) -> Double { size == .small ? 0.11 : 0.21 }

    /// Centre offset from the middle for an edge or corner position (±0.03 jitter): centres at
    /// 0.27 / 0.5 / 0.73 of the side keep a large object inside the frame and leave the judge's
    /// thirds-based position rule a margin of about 0.1.
    public static let positionOffset = 0.23

    /// Centre and radius of a lone object at `position`; `jitter(0...2)` move x, y and the radius.
    static func placement(_ position: ShapePosition, size: ShapeSize, jitter: (Int) -> Double) -> (Double, Double, Double) {
        let x = 0.5 + positionOffset * Double(position.column) + 0.03 * jitter(0)
        let y = 0.5 + positionOffset * Double(position.row) + 0.03 * jitter(1)
        return (x, y, positionedRadius(size) * (1 + 0.1 * jitter(2)))
    }

    /// A layout of `spec` with jitter drawn from `seed` (variants of one description).
    public init(spec: SceneSpec, jitterSeed: UInt64) {
        var rng = SeededGenerator(seed: jitterSeed)
        let jitters = (0..<6).map { _ in Double(rng.nextUniform()) * 2 - 1 }
        self.init(spec: spec, jitter: { jitters[$0] })
    }
}

/// An object placed in the image. Coordinates are fractions: `centerX` of the width, `centerY` of
/// the height (0 at the top), `radius` of the shorter side.
public struct PlacedObject: Sendable, Hashable {
    public var spec: ObjectSpec
    public var centerX: Double
    public var centerY: Double
    public var radius: Double

    public init(spec: ObjectSpec, centerX: Double, centerY: Double, radius: Double) {
        self.spec = spec
        self.centerX = centerX
        self.centerY = centerY
        self.radius = radius
    }
}

/// A laid-out scene, ready to rasterize at any size.
public struct Scene: Sendable, Hashable {
    public var spec: SceneSpec
    /// Drawn in order (later objects on top).
    public var objects: [PlacedObject]

    public init(spec: SceneSpec, objects: [PlacedObject]) {
        self.spec = spec
        self.objects = objects
    }

    public var caption: String { spec.caption }

    /// The layout without random jitter: one object centred, or two objects side by side
    /// (left of) or stacked (above) at nominal sizes.
    public init(spec: SceneSpec) {
        self.init(spec: spec, jitter: { _ in 0 })
    }

    /// Lays out `spec`; `jitter(k)` returns the k-th offset in [-1, 1] (position and size noise).
    init(spec: SceneSpec, jitter: (Int) -> Double) {
        self.spec = spec
        if spec.secondary == nil, let position = spec.position {
            let (x, y, r) = Self.placement(position, size: spec.primary.size, jitter: jitter)
            objects = [PlacedObject(spec: spec.primary, centerX: x, centerY: y, radius: r)]
            return
        }
        let paired = spec.secondary != nil
        func radius(_ size: ShapeSize, _ k: Int) -> Double {
            // Paired objects are smaller so that two large ones never touch (see the layout bounds below).
            let base: Double = switch (size, paired) {
            case (.small, false): 0.15
            case (.large, false): 0.30
            case (.small, true): 0.10
            case (.large, true): 0.18
            }
            return base * (1 + 0.1 * jitter(k))
        }
        guard let secondary = spec.secondary else {
            objects = [PlacedObject(spec: spec.primary, centerX: 0.5 + 0.1 * jitter(0), centerY: 0.5 + 0.1 * jitter(1),
                                    radius: radius(spec.primary.size, 2))]
            return
        }
        // Along the relation axis the centres sit at 0.27 and 0.73 (±0.03): even two large objects
        // (radius ≤ 0.198) keep a gap, and stay inside the frame.
        let along1 = 0.27 + 0.03 * jitter(0), along2 = 0.73 + 0.03 * jitter(1)
        let across1 = 0.5 + 0.08 * jitter(2), across2 = 0.5 + 0.08 * jitter(3)
        let r1 = radius(spec.primary.size, 4), r2 = radius(secondary.object.size, 5)
        switch secondary.relation {
        case .leftOf:
            objects = [PlacedObject(spec: spec.primary, centerX: along1, centerY: across1, radius: r1),
                       PlacedObject(spec: secondary.object, centerX: along2, centerY: across2, radius: r2)]
        case .above:
            objects = [PlacedObject(spec: spec.primary, centerX: across1, centerY: along1, radius: r1),
                       PlacedObject(spec: secondary.object, centerX: across2, centerY: along2, radius: r2)]
        }
    }
}

extension SceneSpec {
    /// Every valid description that differs from this one in exactly one stated fact: an object's
    /// shape, colour or size, the background, a lone object's position, the relation; a pair
    /// also has its lone first object at each position as neighbours, and a lone object each
    /// relation to a copy of itself in another colour. Objects never take the background's colour.
    /// This is the neighbourhood of a local search over scenes (`render --init-search`).
    public var neighbours: [SceneSpec] {
        var result: [SceneSpec] = []
        func add(_ spec: SceneSpec) {
            let colors = [spec.primary.color] + (spec.secondary.map { [$0.object.color] } ?? [])
            if !colors.contains(spec.background), spec != self { result.append(spec) }
        }
        func objectVariants(_ object: ObjectSpec) -> [ObjectSpec] {
            ShapeKind.allCases.map { ObjectSpec(shape: $0, color: object.color, size: object.size) }
                + ShapeColor.allCases.map { ObjectSpec(shape: object.shape, color: $0, size: object.size) }
                + ShapeSize.allCases.map { ObjectSpec(shape: object.shape, color: object.color, size: $0) }
        }
        for object in objectVariants(primary) {
            add(SceneSpec(primary: object, secondary: secondary, background: background, position: position))
        }
        for color in ShapeColor.allCases {
            add(SceneSpec(primary: primary, secondary: secondary, background: color, position: position))
        }
        if let secondary {
            for object in objectVariants(secondary.object) {
                add(SceneSpec(primary: primary, secondary: RelatedObject(relation: secondary.relation, object: object),
                              background: background))
            }
            for relation in Relation.allCases {
                add(SceneSpec(primary: primary, secondary: RelatedObject(relation: relation, object: secondary.object),
                              background: background))
            }
            for position in ShapePosition.allCases {
                add(SceneSpec(primary: primary, background: background, position: position))
            }
        } else {
            for position in ShapePosition.allCases {
                add(SceneSpec(primary: primary, background: background, position: position))
            }
            for relation in Relation.allCases {
                for color in ShapeColor.allCases where color != primary.color {
                    let copy = ObjectSpec(shape: primary.shape, color: color, size: primary.size)
                    add(SceneSpec(primary: primary, secondary: RelatedObject(relation: relation, object: copy), background: background))
                }
            }
        }
        return result
    }
}
