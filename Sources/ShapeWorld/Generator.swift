// Seeded random scenes. Each scene depends only on (seed, index), so a data set is random-access
// and identical on every machine.

import Tensors

/// Draws random captioned scenes.
public struct ShapeWorldGenerator: Sendable {
    /// The stream's seed.
    public var seed: UInt64
    /// Probability that a scene has a second object.
    public var pairProbability: Double
    /// The shapes and colours to draw from.
    public var shapes: [ShapeKind]
    public var colors: [ShapeColor]
    /// When true, every lone object gets one of the nine absolute positions (drawn last, so the
    /// rest of a scene is the same as without it); when false, lone objects sit near the centre
    /// (the original stream, unchanged).
    public var absolutePositions: Bool

    public init(seed: UInt64, pairProbability: Double = 0.5,
                shapes: [ShapeKind] = ShapeKind.allCases, colors: [ShapeColor] = ShapeColor.allCases,
                absolutePositions: Bool = false) {
        precondition(!shapes.isEmpty && colors.count >= 2, "need at least one shape and two colours")
        self.seed = seed
        self.absolutePositions = absolutePositions
        self.pairProbability = pairProbability
        self.shapes = shapes
        self.colors = colors
    }

    /// The scene at `index` of this seed's stream.
    public func scene(at index: Int) -> Scene {
        // Hash (seed, index) before seeding: SeededGenerator's own SplitMix seeding steps by the same
        // Weyl constant, so a plain `seed ^ index * constant` would make scene i+1's stream a shifted
        // copy of scene i's.
        var rng = SeededGenerator(seed: Self.mix(seed ^ Self.mix(UInt64(truncatingIfNeeded: index) &+ 0x5851_F42D_4C95_7F2D)))
        let background = colors.randomElement(using: &rng)!
        // Objects never share the background colour (they would be invisible).
        let objectColors = colors.filter { $0 != background }
        func object() -> ObjectSpec {
            ObjectSpec(shape: shapes.randomElement(using: &rng)!, color: objectColors.randomElement(using: &rng)!,
                       size: ShapeSize.allCases.randomElement(using: &rng)!)
        }
        let primary = object()
        var secondary: RelatedObject?
        if Double(rng.nextUniform()) < pairProbability {
            secondary = RelatedObject(relation: Relation.allCases.randomElement(using: &rng)!, object: object())
        }
        let jitters = (0..<6).map { _ in Double(rng.nextUniform()) * 2 - 1 }
        let position = absolutePositions && secondary == nil ? ShapePosition.allCases.randomElement(using: &rng)! : nil
        return Scene(spec: SceneSpec(primary: primary, secondary: secondary, background: background, position: position),
                     jitter: { jitters[$0] })
    }

    /// SplitMix64's output function: a bijective 64-bit mixer.
    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The first `count` scenes.
    public func scenes(_ count: Int) -> [Scene] { (0..<count).map(scene(at:)) }
}
