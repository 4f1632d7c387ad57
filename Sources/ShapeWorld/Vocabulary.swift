// The closed vocabulary of ShapeWorld: shapes, colours, sizes and spatial relations, with the
// words a caption uses for each and the synonyms the prompt parser accepts.

/// The kinds of shape a scene can hold.
public enum ShapeKind: String, CaseIterable, Sendable, Hashable {
    case circle, square, triangle, diamond, star, cross, ring

    /// Extra words the parser maps to this shape.
    var synonyms: [String] {
        switch self {
        case .circle: return ["disc", "disk", "dot"]
        case .square: return ["box"]
        case .diamond: return ["rhombus"]
        case .cross: return ["plus"]
        case .ring: return ["donut", "annulus"]
        case .triangle, .star: return []
        }
    }
}

/// The palette: every object and background colour, with its sRGB value.
public enum ShapeColor: String, CaseIterable, Sendable, Hashable {
    case red, green, blue, yellow, orange, purple, pink, cyan, brown, white, gray, black

    /// 8-bit sRGB, chosen far apart so that colours stay distinguishable after antialiasing.
    public var rgb: (r: UInt8, g: UInt8, b: UInt8) {
        switch self {
        case .red: return (220, 40, 40)
        case .green: return (40, 170, 60)
        case .blue: return (40, 80, 220)
        case .yellow: return (240, 210, 40)
        case .orange: return (245, 140, 30)
        case .purple: return (140, 60, 180)
        case .pink: return (240, 130, 180)
        case .cyan: return (40, 200, 210)
        case .brown: return (130, 80, 40)
        case .white: return (245, 245, 245)
        case .gray: return (128, 128, 128)
        case .black: return (20, 20, 20)
        }
    }

    var synonyms: [String] {
        switch self {
        case .gray: return ["grey"]
        case .purple: return ["violet"]
        case .pink: return ["magenta"]
        case .cyan: return ["turquoise"]
        default: return []
        }
    }
}

/// Object size classes.
public enum ShapeSize: String, CaseIterable, Sendable, Hashable {
    case small, large

    var synonyms: [String] {
        switch self {
        case .small: return ["little", "tiny", "smaller"]
        case .large: return ["big", "huge", "larger", "bigger"]
        }
    }
}

/// How the second object of a two-object scene sits relative to the first.
public enum Relation: String, CaseIterable, Sendable, Hashable {
    /// The first object is left of the second.
    case leftOf = "to the left of"
    /// The first object is above the second.
    case above
}

/// Where a lone object sits in the frame: the centre, an edge's middle or a corner.
public enum ShapePosition: String, CaseIterable, Sendable, Hashable {
    case center, left, right, top, bottom
    case topLeft = "top left", topRight = "top right", bottomLeft = "bottom left", bottomRight = "bottom right"

    /// Horizontal place: -1 left, 0 middle, 1 right.
    public var column: Int {
        switch self {
        case .left, .topLeft, .bottomLeft: return -1
        case .right, .topRight, .bottomRight: return 1
        case .center, .top, .bottom: return 0
        }
    }

    /// Vertical place: -1 top, 0 middle, 1 bottom.
    public var row: Int {
        switch self {
        case .top, .topLeft, .topRight: return -1
        case .bottom, .bottomLeft, .bottomRight: return 1
        case .center, .left, .right: return 0
        }
    }

    /// The position with this column and row (both in -1...1).
    public init(column: Int, row: Int) {
        switch (column, row) {
        case (-1, -1): self = .topLeft
        case (1, -1): self = .topRight
        case (-1, 1): self = .bottomLeft
        case (1, 1): self = .bottomRight
        case (-1, _): self = .left
        case (1, _): self = .right
        case (_, -1): self = .top
        case (_, 1): self = .bottom
        default: self = .center
        }
    }

    /// The canonical caption phrase: "in the center", "on the left", "at the top", "in the top left corner".
    public var phrase: String {
        switch self {
        case .center: return "in the center"
        case .left, .right: return "on the \(rawValue)"
        case .top, .bottom: return "at the \(rawValue)"
        default: return "in the \(rawValue) corner"
        }
    }
}

/// Every word the parser understands, for error messages.
public enum ShapeWorldVocabulary {
    /// A human-readable list of the known words, grouped by kind.
    public static var summary: String {
        "shapes: " + ShapeKind.allCases.map(\.rawValue).joined(separator: ", ")
            + "; colours: " + ShapeColor.allCases.map(\.rawValue).joined(separator: ", ")
            + "; sizes: " + ShapeSize.allCases.map(\.rawValue).joined(separator: ", ")
            + "; positions: center, left, right, top, bottom, top left, top right, bottom left, bottom right"
            + "; relations: left of, right of, above, below"
    }
}
