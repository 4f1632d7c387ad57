// What a scene is: the discrete description a caption carries (SceneSpec) and a concrete layout
// of it (Scene: positions and radii) that the rasterizer draws.

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

    public init(primary: ObjectSpec, secondary: RelatedObject? = nil, background: ShapeColor) {
        self.primary = primary
        self.secondary = secondary
        self.background = background
    }

    /// The canonical caption: "a small red circle on a blue background" ("an orange background"), or
    /// "a small red circle to the left of a large blue square on a yellow background".
    public var caption: String {
        var text = "a " + primary.phrase
        if let secondary { text += " \(secondary.relation.rawValue) a \(secondary.object.phrase)" }
        return text + " on \(Self.article(background.rawValue)) \(background.rawValue) background"
    }

    /// "a" or "an" before a word (the vocabulary has no silent-h or "you"-sound words).
    static func article(_ word: String) -> String { "aeiou".contains(word.first ?? "x") ? "an" : "a" }
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
