// Antialiased drawing of a Scene at any size: each pixel's coverage is the fraction of an
// n x n grid of sub-pixel samples inside the shape, and its colour blends object over background.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Tensors

public enum ShapeRasterizer {
    /// Renders `scenes` as one batch [k, 3, height, width] with values in [0, 1].
    public static func render<S: Collection<Scene>>(_ scenes: S, width: Int, height: Int) -> Tensor {
        var data: [Float] = []
        data.reserveCapacity(scenes.count * 3 * width * height)
        for scene in scenes { data += render(scene, width: width, height: height).data }
        return Tensor(shape: [scenes.count, 3, height, width], data: data)
    }

    /// Renders `scene` as a [1, 3, height, width] tensor with values in [0, 1].
    /// `samplesPerAxis` sub-samples per pixel side (4 gives 17 coverage levels).
    public static func render(_ scene: Scene, width: Int, height: Int, samplesPerAxis: Int = 4) -> Tensor {
        precondition(width > 0 && height > 0 && samplesPerAxis > 0, "bad raster size \(width)x\(height)")
        let plane = width * height
        var data = [Float](repeating: 0, count: 3 * plane)
        let bg = unitColor(scene.spec.background)
        for c in 0..<3 { for i in 0..<plane { data[c * plane + i] = bg[c] } }
        let unit = Double(min(width, height))
        let n = samplesPerAxis
        for object in scene.objects {
            let color = unitColor(object.spec.color)
            let cx = object.centerX * Double(width), cy = object.centerY * Double(height)
            let r = object.radius * unit
            // Only the bounding box can be covered (every shape fits in its unit circle).
            let x0 = max(0, Int((cx - r).rounded(.down))), x1 = min(width - 1, Int((cx + r).rounded(.up)))
            let y0 = max(0, Int((cy - r).rounded(.down))), y1 = min(height - 1, Int((cy + r).rounded(.up)))
            guard x0 <= x1, y0 <= y1 else { continue }
            for y in y0...y1 {
                for x in x0...x1 {
                    var inside = 0
                    for sy in 0..<n {
                        // Sample centres of the sub-grid, in shape units with y pointing up.
                        let v = -((Double(y) + (Double(sy) + 0.5) / Double(n)) - cy) / r
                        for sx in 0..<n {
                            let u = ((Double(x) + (Double(sx) + 0.5) / Double(n)) - cx) / r
                            if contains(object.spec.shape, u, v) { inside += 1 }
                        }
                    }
                    guard inside > 0 else { continue }
                    let coverage = Float(inside) / Float(n * n)
                    let i = y * width + x
                    for c in 0..<3 { data[c * plane + i] += coverage * (color[c] - data[c * plane + i]) }
                }
            }
        }
        return Tensor(shape: [1, 3, height, width], data: data)
    }

    /// The palette colour as [0, 1] floats (blending is done on the stored sRGB values, as image
    /// editors do by default, so that pure object and background pixels are exact).
    private static func unitColor(_ color: ShapeColor) -> [Float] {
        let (r, g, b) = color.rgb
        return [Float(r) / 255, Float(g) / 255, Float(b) / 255]
    }

    /// Whether the point (u, v) — in units of the object's radius, centred, y up — is inside.
    static func contains(_ shape: ShapeKind, _ u: Double, _ v: Double) -> Bool {
        switch shape {
        case .circle:
            return u * u + v * v <= 1
        case .ring:
            let d = u * u + v * v
            return d <= 1 && d >= 0.55 * 0.55
        case .square:
            return abs(u) <= 0.8 && abs(v) <= 0.8
        case .diamond:
            return abs(u) + abs(v) <= 1
        case .cross:
            return (abs(u) <= 0.3 && abs(v) <= 0.9) || (abs(v) <= 0.3 && abs(u) <= 0.9)
        case .triangle:
            return polygonContains(triangle, u, v)
        case .star:
            return polygonContains(star, u, v)
        }
    }

    /// Equilateral, pointing up, inscribed in the unit circle.
    private static let triangle: [(Double, Double)] = (0..<3).map { k in
        let a = Double.pi / 2 + Double(k) * 2 * Double.pi / 3
        return (cos(a), sin(a))
    }

    /// Five points: outer radius 1, inner radius 0.4, first point up.
    private static let star: [(Double, Double)] = (0..<10).map { k in
        let a = Double.pi / 2 + Double(k) * Double.pi / 5
        let r = k % 2 == 0 ? 1.0 : 0.4
        return (r * cos(a), r * sin(a))
    }

    /// Even-odd rule point-in-polygon test.
    private static func polygonContains(_ vertices: [(Double, Double)], _ u: Double, _ v: Double) -> Bool {
        var inside = false
        var j = vertices.count - 1
        for i in 0..<vertices.count {
            let (xi, yi) = vertices[i], (xj, yj) = vertices[j]
            if (yi > v) != (yj > v), u < (xj - xi) * (v - yi) / (yj - yi) + xi { inside.toggle() }
            j = i
        }
        return inside
    }
}
