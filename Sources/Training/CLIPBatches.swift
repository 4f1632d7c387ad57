// Training batches for the small CLIP, drawn from ShapeWorld. A batch depends only on (seed,
// step), so a resumed run sees exactly the batches it would have seen. Half of a batch is random
// scenes; the other half comes in groups that share colour, background and size and differ only
// in shape and position, so that those facts are what tells the pairs apart there. Every image is
// augmented in ways that keep its caption true (small zoom and shift, brightness, colour offset,
// noise; no flips and no large crops, since left/right and position are facts).

import CLIP
import FilePaths
import Foundation
import ImageCodecs
import ImageTensors
import ShapeWorld
import Tensors

/// The attributes the world labels for free, with their class counts.
public enum WorldAttribute: String, CaseIterable, Sendable {
    case shape, color, background, size, position

    /// Number of classes.
    public var classCount: Int {
        switch self {
        case .shape: return ShapeKind.allCases.count
        case .color, .background: return ShapeColor.allCases.count
        case .size: return ShapeSize.allCases.count
        case .position: return ShapePosition.allCases.count
        }
    }

    /// The class of a one-object scene (nil for what it does not define: a pair's shape, colour,
    /// size and position).
    public func label(of spec: SceneSpec) -> Int? {
        if spec.secondary != nil && self != .background { return nil }
        switch self {
        case .shape: return ShapeKind.allCases.firstIndex(of: spec.primary.shape)
        case .color: return ShapeColor.allCases.firstIndex(of: spec.primary.color)
        case .background: return ShapeColor.allCases.firstIndex(of: spec.background)
        case .size: return ShapeSize.allCases.firstIndex(of: spec.primary.size)
        case .position: return spec.position.flatMap { ShapePosition.allCases.firstIndex(of: $0) }
        }
    }

    /// The class a caption states (nil when it leaves the attribute out or speaks of two objects).
    public func label(of mention: CaptionMention) -> Int? {
        if mention.secondary != nil && self != .background { return nil }
        switch self {
        case .shape: return mention.primary.shape.flatMap { ShapeKind.allCases.firstIndex(of: $0) }
        case .color: return mention.primary.color.flatMap { ShapeColor.allCases.firstIndex(of: $0) }
        case .background: return mention.background.flatMap { ShapeColor.allCases.firstIndex(of: $0) }
        case .size: return mention.primary.size.flatMap { ShapeSize.allCases.firstIndex(of: $0) }
        case .position: return mention.position.flatMap { ShapePosition.allCases.firstIndex(of: $0) }
        }
    }
}

/// One training batch: B images with their captions, then H hard-negative captions.
public struct CLIPBatch {
    /// Normalised images [B, 3, S, S].
    public var images: Tensor
    /// The scenes drawn.
    public var specs: [SceneSpec]
    /// B captions of the images (row i describes image i), then the hard negatives.
    public var captions: [Caption]
    /// Token rows of the captions, padded to the longest.
    public var tokens: [[Int]]
    /// Normalised fragment images [D, 3, S, S] that no caption fits (nil: none).
    public var distractors: Tensor? = nil
}

/// Draws batches for a training run.
public struct CLIPBatchSampler {
    public let configuration: CLIPTrainingConfiguration
    let tokenizer: Tokenizer
    let generator: ShapeWorldGenerator
    /// Distractor images [3·S·S] in [0, 1], drawn from instead of fragments when not empty.
    let distractorPool: [[Float]]

    public init(configuration: CLIPTrainingConfiguration, tokenizer: Tokenizer, distractorPool: [[Float]] = []) {
        self.configuration = configuration
        self.tokenizer = tokenizer
        self.distractorPool = distractorPool
        generator = ShapeWorldGenerator(seed: configuration.seed, pairProbability: configuration.pairProbability,
                                        absolutePositions: true)
    }

    /// The batch of 0-based `step`.
    public func batch(step: Int) throws -> CLIPBatch {
        let c = configuration
        var rng = SeededGenerator(seed: mixSeed(c.seed, UInt64(step), 0xC11F))
        var specs: [Scene] = []
        let grouped = Int(Double(c.batchSize) * c.groupedFraction) / 4 * 4
        for i in 0..<(c.batchSize - grouped) { specs.append(generator.scene(at: step * c.batchSize + i)) }
        // Groups of four one-object scenes alike in everything but shape and position.
        while specs.count < c.batchSize {
            var base = generator.scene(at: step * c.batchSize + specs.count).spec
            base.secondary = nil
            var variants: [SceneSpec] = []
            var used = Set<[Int]>()
            while variants.count < 4 {
                var v = base
                v.primary.shape = ShapeKind.allCases.randomElement(using: &rng)!
                v.position = ShapePosition.allCases.randomElement(using: &rng)!
                let key = [ShapeKind.allCases.firstIndex(of: v.primary.shape)!, ShapePosition.allCases.firstIndex(of: v.position!)!]
                if used.insert(key).inserted { variants.append(v) }
            }
            for v in variants { specs.append(Scene(spec: v, jitterSeed: rng.next())) }
        }

        let side = c.model.imageResolution
        var pixels: [Float] = []
        pixels.reserveCapacity(c.batchSize * 3 * side * side)
        for scene in specs { pixels += augmentedPixels(scene, side: side, rng: &rng) }
        let images = CLIPPreprocess.normalize(Tensor(shape: [c.batchSize, 3, side, side], data: pixels))

        var captions = specs.map { CaptionWriter.caption(for: $0.spec, using: &rng) }
        // Hard negatives: one fact of a caption changed, for the first H images.
        var k = 0
        while captions.count < c.batchSize + c.hardNegatives && k < 4 * c.batchSize {
            let i = k % c.batchSize
            k += 1
            guard let m = CaptionWriter.hardNegative(of: captions[i].mention, excluding: specs[i].spec, using: &rng) else { continue }
            captions.append(Caption(text: CaptionWriter.text(for: m, using: &rng), mention: m))
        }
        var batch = CLIPBatch(images: images, specs: specs.map(\.spec), captions: captions,
                              tokens: try tokenRows(captions.map(\.text)))
        // Drawn last, so that a batch without them is the batch of runs from before they existed.
        let sources = specs.filter { $0.spec.secondary == nil && $0.objects.count == 1 }
        if let count = c.distractors, count > 0, !sources.isEmpty || !distractorPool.isEmpty {
            var fragments: [Float] = []
            fragments.reserveCapacity(count * 3 * side * side)
            for k in 0..<count {
                fragments += distractorPool.isEmpty ? distractorPixels(sources[k % sources.count], side: side, rng: &rng)
                                                    : distractorPool[Int(rng.next() % UInt64(distractorPool.count))]
            }
            batch.distractors = CLIPPreprocess.normalize(Tensor(shape: [count, 3, side, side], data: fragments))
        }
        return batch
    }

    /// The PNG images of `folder` (sorted by name) as [3·S·S] values in [0, 1], for
    /// ``CLIPTrainingConfiguration/distractorImages``: each must be S×S.
    public static func distractorImages(in folder: URL, side: Int) throws -> [[Float]] {
        guard Files.isDirectory(folder.path),
              let entries = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else {
            throw CLIPError("\(folder.path): not a readable folder of distractor images")
        }
        let names = entries.filter { $0.lowercased().hasSuffix(".png") }.sorted()
        guard !names.isEmpty else { throw CLIPError("\(folder.path): no PNG images to draw distractors from") }
        return try names.map { name in
            let url = folder.appendingPathComponent(name)
            let image = try ImageIO.read(contentsOf: url)
            guard image.width == side && image.height == side else {
                throw CLIPError("\(url.path): \(image.width)x\(image.height), but distractors must be \(side)x\(side), the CLIP's input size")
            }
            return image.tensor().data
        }
    }

    /// `count` one-object scenes and a fragment image of each, [count, 3, S, S] in [−1, 1] (for a
    /// sheet of what the distractors look like).
    public func distractorPreview(count: Int) -> (sources: Tensor, fragments: Tensor) {
        let side = configuration.model.imageResolution
        var rng = SeededGenerator(seed: mixSeed(configuration.seed, 0, 0xF4A9))
        let scenes = ShapeWorldGenerator(seed: configuration.seed, pairProbability: 0, absolutePositions: true).scenes(count)
        let sources = scenes.flatMap { ShapeRasterizer.render($0, width: side, height: side).data }
        let fragments = scenes.flatMap { distractorPixels($0, side: side, rng: &rng) }
        let shape = [count, 3, side, side]
        return (Tensor(shape: shape, data: sources.map { $0 * 2 - 1 }),
                Tensor(shape: shape, data: fragments.map { min(max($0, 0), 1) * 2 - 1 }))
    }

    /// A one-object scene redrawn as the fragments a render following a non-robust CLIP's
    /// gradients paints, [3·S·S] values, augmented like a training image: half of the time the
    /// object's colour as two to five smaller pieces of random shapes scattered around where the
    /// object was, otherwise the object cut by stripes of the background colour.
    func distractorPixels(_ scene: Scene, side: Int, rng: inout SeededGenerator) -> [Float] {
        let object = scene.objects[0]
        func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * Double(rng.nextUniform()) }
        if rng.next() % 2 == 0 {
            var pieces = scene
            let count = 2 + Int(rng.next() % 4)
            pieces.objects = (0..<count).map { _ in
                var piece = object
                piece.spec.shape = ShapeKind.allCases.randomElement(using: &rng)!
                piece.radius = max(0.04, object.radius * uniform(0.25, 0.6))
                piece.centerX = min(max(object.centerX + object.radius * uniform(-1.3, 1.3), 0.05), 0.95)
                piece.centerY = min(max(object.centerY + object.radius * uniform(-1.3, 1.3), 0.05), 0.95)
                return piece
            }
            return augmentedPixels(pieces, side: side, rng: &rng)
        }
        let angle = uniform(0, .pi), period = uniform(4, 10), duty = uniform(0.3, 0.6)
        return augmentedPixels(scene, side: side, rng: &rng, stripes: (angle, period, duty))
    }

    /// Token rows for `texts`, cut to the longest row (the text tower takes any length up to its context).
    public func tokenRows(_ texts: [String]) throws -> [[Int]] {
        let rows = try texts.map { try tokenizer.tokenize($0, contextLength: configuration.model.contextLength).ids }
        let length = rows.map { row in (row.lastIndex { $0 != 0 } ?? 0) + 1 }.max() ?? 1
        return rows.map { Array($0.prefix(length)) }
    }

    /// The scene drawn with a small zoom and shift (applied to the layout, so edges stay sharp),
    /// then brightness, a per-channel offset and Gaussian noise: [3·S·S] values.
    /// With `stripes` (angle, period in pixels, share cut), the pixels on those stripes within
    /// 1.2 radii of the first object take the background colour before the colour changes.
    func augmentedPixels(_ scene: Scene, side: Int, rng: inout SeededGenerator,
                         stripes: (angle: Double, period: Double, duty: Double)? = nil) -> [Float] {
        let a = configuration.augmentation
        func uniform(_ r: ClosedRange<Float>) -> Float { r.lowerBound + (r.upperBound - r.lowerBound) * rng.nextUniform() }
        let zoom = Double(uniform(a.zoom)), dx = Double(uniform(-a.shift...a.shift)), dy = Double(uniform(-a.shift...a.shift))
        var moved = scene
        moved.objects = scene.objects.map { o in
            var p = o
            p.centerX = 0.5 + (o.centerX - 0.5) * zoom + dx
            p.centerY = 0.5 + (o.centerY - 0.5) * zoom + dy
            p.radius = o.radius * zoom
            return p
        }
        var data = ShapeRasterizer.render(moved, width: side, height: side).data
        if let stripes, let object = moved.objects.first {
            let rgb = moved.spec.background.rgb
            let background = [Float(rgb.0) / 255, Float(rgb.1) / 255, Float(rgb.2) / 255]
            let (cx, cy, r) = (object.centerX * Double(side), object.centerY * Double(side), 1.2 * object.radius * Double(side))
            let (cosA, sinA) = (cos(stripes.angle), sin(stripes.angle))
            // Only the object's neighbourhood can be cut.
            let rows = max(0, Int(cy - r))...min(side - 1, Int(cy + r)), columns = max(0, Int(cx - r))...min(side - 1, Int(cx + r))
            for y in rows {
                for x in columns {
                    let (px, py) = (Double(x) + 0.5, Double(y) + 0.5)
                    guard (px - cx) * (px - cx) + (py - cy) * (py - cy) < r * r else { continue }
                    let phase = (px * cosA + py * sinA) / stripes.period
                    guard phase - phase.rounded(.down) < stripes.duty else { continue }
                    for ch in 0..<3 { data[ch * side * side + y * side + x] = background[ch] }
                }
            }
        }
        let gain = uniform(a.brightness)
        let noise = a.noise * rng.nextUniform()
        let plane = side * side
        for ch in 0..<3 {
            let offset = uniform(-a.channelOffset...a.channelOffset)
            for i in (ch * plane)..<((ch + 1) * plane) {
                data[i] = data[i] * gain + offset + (noise > 0 ? noise * rng.nextNormal() : 0)
            }
        }
        return data
    }
}

/// A 64-bit mix of a seed and two more numbers (SplitMix64's finaliser over a combination).
func mixSeed(_ seed: UInt64, _ a: UInt64, _ b: UInt64) -> UInt64 {
    var z = seed ^ (a &* 0x9E37_79B9_7F4A_7C15) ^ (b &* 0xD1B5_4A32_D192_ED03)
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}
