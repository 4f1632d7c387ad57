// A pixel-level judge of one-object images: what an image shows, read from its pixels alone, to
// check renders against their prompts. Background = the palette colour of most border pixels;
// object colour = the palette colour of most other pixels; each pixel's coverage is its place
// between the two colours; the largest connected part of the covered pixels is the object.
// Position from its centroid (thirds of the frame), size from its area (as a radius, through the
// shape's own area). Shape from moments of the binary object: a hole (ring); up-down mirror
// symmetry (triangle and star are the asymmetric ones, told apart by solidity = area / convex hull
// area); solidity again for the cross; fill of the bounding box (square); and whether the box's
// corners outside the inscribed diamond are covered (circle, not diamond). Thresholds sit midway
// in the gaps measured on generated images at 64x64 (see the tests).

import Tensors

/// What the judge read from an image.
public struct JudgedImage: Sendable, Hashable {
    public var shape: ShapeKind
    public var color: ShapeColor
    public var background: ShapeColor
    public var position: ShapePosition
    public var size: ShapeSize
    /// Share of the covered area outside the main object (stray blobs); 0 for a clean image.
    public var strayFraction: Double
    /// Object area as a fraction of the image.
    public var areaFraction: Double

    /// Whether every fact `mention` states holds (one-object mentions; a relation is never judged true).
    public func satisfies(_ mention: CaptionMention) -> Bool {
        guard mention.secondary == nil else { return false }
        if let s = mention.primary.shape, s != shape { return false }
        if let c = mention.primary.color, c != color { return false }
        if let s = mention.primary.size, s != size { return false }
        if let b = mention.background, b != background { return false }
        if let p = mention.position, p != position { return false }
        return true
    }
}

public enum ShapeJudge {
    /// Each fact `mention` states about one object, named ("shape", "color", "size",
    /// "background", "position"), and whether `judged` shows it (nothing holds without an image
    /// reading).
    public static func checks(_ judged: JudgedImage?, against mention: CaptionMention) -> [(attribute: String, holds: Bool)] {
        var checks: [(String, Bool)] = []
        if let shape = mention.primary.shape { checks.append(("shape", judged?.shape == shape)) }
        if let color = mention.primary.color { checks.append(("color", judged?.color == color)) }
        if let size = mention.primary.size { checks.append(("size", judged?.size == size)) }
        if let background = mention.background { checks.append(("background", judged?.background == background)) }
        if let position = mention.position { checks.append(("position", judged?.position == position)) }
        return checks
    }

    /// Radius (as a fraction of the side) between small and large objects: small ones reach at
    /// most 0.165 (centred layout) and large ones start at 0.189 (positioned layout).
    public static let sizeThreshold = 0.177
    /// Centroid bounds of the middle third, as fractions of the side.
    public static let middle = 0.385...0.615

    /// Judges an image [1, 3, H, W] with values in [0, 1]. Nil when no object stands out from
    /// the background.
    public static func judge(_ image: Tensor) -> JudgedImage? {
        precondition(image.rank == 4 && image.shape[0] == 1 && image.shape[1] == 3, "judge: image must be [1, 3, H, W], got \(image.shape)")
        let h = image.shape[2], w = image.shape[3], plane = h * w
        let d = image.data
        func pixel(_ i: Int) -> (Float, Float, Float) { (d[i], d[plane + i], d[2 * plane + i]) }
        let palette = ShapeColor.allCases.map { c -> (Float, Float, Float) in
            (Float(c.rgb.r) / 255, Float(c.rgb.g) / 255, Float(c.rgb.b) / 255)
        }
        func distance2(_ a: (Float, Float, Float), _ b: (Float, Float, Float)) -> Float {
            let (x, y, z) = (a.0 - b.0, a.1 - b.1, a.2 - b.2)
            return x * x + y * y + z * z
        }
        func nearest(_ p: (Float, Float, Float)) -> Int {
            var best = 0, bestD = Float.infinity
            for (k, c) in palette.enumerated() { let e = distance2(p, c); if e < bestD { bestD = e; best = k } }
            return best
        }
        let classes = (0..<plane).map { nearest(pixel($0)) }

        // Background: the most common class on the border; its colour is the border's mean there.
        var borderCounts = [Int](repeating: 0, count: palette.count)
        var border: [Int] = []
        for x in 0..<w { border.append(x); border.append((h - 1) * w + x) }
        for y in 1..<max(1, h - 1) { border.append(y * w); border.append(y * w + w - 1) }
        for i in border { borderCounts[classes[i]] += 1 }
        let bgClass = borderCounts.indices.max { borderCounts[$0] < borderCounts[$1] }!
        let bg = mean(of: border.filter { classes[$0] == bgClass }, pixel) ?? palette[bgClass]

        // Object colour: the most common other class among pixels far from the background.
        var counts = [Int](repeating: 0, count: palette.count)
        for i in 0..<plane where classes[i] != bgClass && distance2(pixel(i), bg) > 0.02 { counts[classes[i]] += 1 }
        guard let objClass = counts.indices.filter({ counts[$0] > 0 }).max(by: { counts[$0] < counts[$1] }) else { return nil }
        let obj = mean(of: (0..<plane).filter { classes[$0] == objClass }, pixel) ?? palette[objClass]

        // Coverage: the projection of each pixel onto the background → object segment.
        let axis = (obj.0 - bg.0, obj.1 - bg.1, obj.2 - bg.2)
        let axisLength2 = max(1e-6, axis.0 * axis.0 + axis.1 * axis.1 + axis.2 * axis.2)
        let coverage = (0..<plane).map { i -> Float in
            let p = pixel(i)
            let t = ((p.0 - bg.0) * axis.0 + (p.1 - bg.1) * axis.1 + (p.2 - bg.2) * axis.2) / axisLength2
            return min(1, max(0, t))
        }
        let mask = coverage.map { $0 >= 0.5 }
        let components = connectedComponents(mask, width: w, height: h)
        guard let main = components.max(by: { $0.count < $1.count }) else { return nil }
        let mainSet = Set(main)

        var area = 0.0, sx = 0.0, sy = 0.0, totalCovered = 0.0
        for i in 0..<plane { totalCovered += Double(coverage[i]) }
        var minX = w, maxX = -1, minY = h, maxY = -1
        for i in main {
            let x = i % w, y = i / w
            minX = min(minX, x); maxX = max(maxX, x); minY = min(minY, y); maxY = max(maxY, y)
        }
        // The object's area and centroid weigh every pixel in (and one pixel around) its box by coverage.
        for y in max(0, minY - 1)...min(h - 1, maxY + 1) {
            for x in max(0, minX - 1)...min(w - 1, maxX + 1) {
                let c = Double(coverage[y * w + x])
                area += c; sx += c * (Double(x) + 0.5); sy += c * (Double(y) + 0.5)
            }
        }
        let cx = sx / area / Double(w), cy = sy / area / Double(h)
        func place(_ v: Double) -> Int { v < middle.lowerBound ? -1 : (v > middle.upperBound ? 1 : 0) }
        let position = ShapePosition(column: place(cx), row: place(cy))

        // Shape features on the binary main component.
        let boxW = maxX - minX + 1, boxH = maxY - minY + 1
        let pixels = Double(main.count)
        let fill = pixels / Double(boxW * boxH)
        let holes = enclosedBackground(mainSet, minX: minX, maxX: maxX, minY: minY, maxY: maxY, width: w)
        let solidity = pixels / max(1, convexHullArea(main, width: w))
        // Up-down mirror symmetry: the overlap of the object with its flip about the box's middle row.
        var both = 0, either = 0
        // Share of the box's corners (outside the inscribed diamond) that the object covers.
        var cornerCells = 0, cornerCovered = 0
        let halfW = Double(boxW) / 2, halfH = Double(boxH) / 2
        for y in minY...maxY {
            for x in minX...maxX {
                let a = mainSet.contains(y * w + x), b = mainSet.contains((minY + maxY - y) * w + x)
                if a && b { both += 1 }
                if a || b { either += 1 }
                let u = abs(Double(x - minX) + 0.5 - halfW) / halfW, v = abs(Double(y - minY) + 0.5 - halfH) / halfH
                if u + v > 1.2 { cornerCells += 1; if a { cornerCovered += 1 } }
            }
        }
        let symmetry = Double(both) / Double(max(1, either))
        let cornerFill = Double(cornerCovered) / Double(max(1, cornerCells))
        let shape: ShapeKind
        if Double(holes) > 0.12 * pixels {
            shape = .ring
        } else if symmetry < 0.65 {
            shape = solidity < 0.76 ? .star : .triangle
        } else if solidity < 0.845 {
            shape = .cross
        } else if fill > 0.93 {
            shape = .square
        } else {
            shape = cornerFill > 0.05 ? .circle : .diamond
        }
        let unit = Double(min(w, h))
        let radius = (area / areaPerUnitRadius(shape)).squareRoot() / unit
        return JudgedImage(shape: shape, color: ShapeColor.allCases[objClass], background: ShapeColor.allCases[bgClass],
                           position: position, size: radius < sizeThreshold ? .small : .large,
                           strayFraction: max(0, 1 - area / max(totalCovered, 1e-9)), areaFraction: area / Double(plane))
    }

    /// Area of each shape at radius 1 (the rasterizer's outlines).
    static func areaPerUnitRadius(_ shape: ShapeKind) -> Double {
        switch shape {
        case .circle: return Double.pi
        case .ring: return Double.pi * (1 - 0.55 * 0.55)
        case .square: return 1.6 * 1.6
        case .diamond: return 2
        case .cross: return 2 * 0.6 * 1.8 - 0.6 * 0.6
        case .triangle: return 3 * 3.0.squareRoot() / 4
        case .star: return 10 * 0.5 * 0.4 * 0.587785   // ten triangles of sides 1 and 0.4 at 36°
        }
    }

    private static func mean(of indices: [Int], _ pixel: (Int) -> (Float, Float, Float)) -> (Float, Float, Float)? {
        guard !indices.isEmpty else { return nil }
        var s = (Float(0), Float(0), Float(0))
        for i in indices { let p = pixel(i); s.0 += p.0; s.1 += p.1; s.2 += p.2 }
        let n = Float(indices.count)
        return (s.0 / n, s.1 / n, s.2 / n)
    }

    /// 4-connected components of the set pixels, each as a list of pixel indices.
    static func connectedComponents(_ mask: [Bool], width w: Int, height h: Int) -> [[Int]] {
        var label = [Bool](repeating: false, count: mask.count)
        var components: [[Int]] = []
        for start in mask.indices where mask[start] && !label[start] {
            var stack = [start], members: [Int] = []
            label[start] = true
            while let i = stack.popLast() {
                members.append(i)
                let x = i % w, y = i / w
                for (nx, ny) in [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)] where nx >= 0 && nx < w && ny >= 0 && ny < h {
                    let j = ny * w + nx
                    if mask[j] && !label[j] { label[j] = true; stack.append(j) }
                }
            }
            components.append(members)
        }
        return components
    }

    /// Pixels inside the box that are not the object and cannot reach the box's edge: holes.
    private static func enclosedBackground(_ object: Set<Int>, minX: Int, maxX: Int, minY: Int, maxY: Int, width w: Int) -> Int {
        let bw = maxX - minX + 3, bh = maxY - minY + 3   // one free pixel around the box
        var outside = [Bool](repeating: false, count: bw * bh)
        func isObject(_ x: Int, _ y: Int) -> Bool {
            let gx = x + minX - 1, gy = y + minY - 1
            return gx >= minX && gx <= maxX && gy >= minY && gy <= maxY && object.contains(gy * w + gx)
        }
        var stack = [0]
        outside[0] = true
        while let i = stack.popLast() {
            let x = i % bw, y = i / bw
            for (nx, ny) in [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)] where nx >= 0 && nx < bw && ny >= 0 && ny < bh {
                let j = ny * bw + nx
                if !outside[j] && !isObject(nx, ny) { outside[j] = true; stack.append(j) }
            }
        }
        var holes = 0
        for y in 0..<bh { for x in 0..<bw where !outside[y * bw + x] && !isObject(x, y) { holes += 1 } }
        return holes
    }

    /// Area of the convex hull of the pixels' squares (their corners), by the monotone chain.
    static func convexHullArea(_ pixels: [Int], width w: Int) -> Double {
        var points = Set<[Int]>()
        for i in pixels {
            let x = i % w, y = i / w
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] { points.insert([x + dx, y + dy]) }
        }
        let sorted = points.sorted { $0[0] < $1[0] || ($0[0] == $1[0] && $0[1] < $1[1]) }
        guard sorted.count >= 3 else { return Double(pixels.count) }
        func cross(_ o: [Int], _ a: [Int], _ b: [Int]) -> Int { (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]) }
        var lower: [[Int]] = [], upper: [[Int]] = []
        for p in sorted {
            while lower.count >= 2 && cross(lower[lower.count - 2], lower[lower.count - 1], p) <= 0 { lower.removeLast() }
            lower.append(p)
        }
        for p in sorted.reversed() {
            while upper.count >= 2 && cross(upper[upper.count - 2], upper[upper.count - 1], p) <= 0 { upper.removeLast() }
            upper.append(p)
        }
        let hull = Array(lower.dropLast() + upper.dropLast())
        var twice = 0
        for k in hull.indices { let a = hull[k], b = hull[(k + 1) % hull.count]; twice += a[0] * b[1] - b[0] * a[1] }
        return Double(abs(twice)) / 2
    }
}
