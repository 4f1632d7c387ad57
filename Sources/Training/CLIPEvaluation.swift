// How well a CLIP knows the world, measured on fresh images: zero-shot accuracy per attribute
// (each image against one prompt per class, "a circle" ... "a star"; the highest cosine wins)
// with confusion matrices, and retrieval recall@1 of full captions among their images. This,
// not the loss, says whether shape and position were learned.

import CLIP
import Foundation
import ImageCodecs
import ImageTensors
import ShapeWorld
import Tensors

/// Zero-shot results on fresh images.
public struct ZeroShotReport: Sendable {
    /// Share of images classified correctly, per attribute.
    public var accuracy: [WorldAttribute: Double]
    /// confusion[attribute][true class][predicted class] = count.
    public var confusion: [WorldAttribute: [[Int]]]
    /// Share of captions whose own image ranks first among the retrieval set.
    public var recallAt1: Double
    public var samples: Int
    public var retrievalCount: Int
}

public enum CLIPEvaluation {
    /// The class prompts of an attribute, in class order.
    public static func prompts(for attribute: WorldAttribute) -> [String] {
        switch attribute {
        case .shape: return ShapeKind.allCases.map { "a \($0.rawValue)" }
        case .color: return ShapeColor.allCases.map { "\(SceneSpec.article($0.rawValue)) \($0.rawValue) shape" }
        case .background: return ShapeColor.allCases.map { "a shape on \(SceneSpec.article($0.rawValue)) \($0.rawValue) background" }
        case .size: return ShapeSize.allCases.map { "a \($0.rawValue) shape" }
        case .position: return ShapePosition.allCases.map { "a shape \($0.phrase)" }
        }
    }

    /// Normalised images [N, 3, S, S] of scenes, drawn without augmentation.
    static func images(_ scenes: [Scene], side: Int) -> Tensor {
        CLIPPreprocess.normalize(ShapeRasterizer.render(scenes, width: side, height: side))
    }

    /// Unit image features [N, E] of `scenes`, in chunks (no gradients).
    static func imageFeatures(_ model: CLIPModel, _ scenes: [Scene]) -> Tensor {
        Autograd.withoutGrad {
            let side = model.configuration.imageResolution
            let chunks = stride(from: 0, to: scenes.count, by: 64).map { start in
                model.encodeImage(images(Array(scenes[start..<min(scenes.count, start + 64)]), side: side))
            }
            return Tensor.concat(chunks, axis: 0).l2Normalized(axis: -1)
        }
    }

    /// Unit text features [N, E] of prompts.
    static func textFeatures(_ model: CLIPModel, tokenizer: Tokenizer, _ prompts: [String]) throws -> Tensor {
        try Autograd.withoutGrad {
            try model.encodeText(prompts, tokenizer: tokenizer, truncate: true).l2Normalized(axis: -1)
        }
    }

    /// Zero-shot accuracy of `model` on `samples` fresh one-object scenes of the `seed` stream
    /// (every attribute), and recall@1 over `retrievalCount` captions of fresh scenes (one or two objects).
    public static func evaluate(_ model: CLIPModel, tokenizer: Tokenizer, seed: UInt64, samples: Int,
                                retrievalCount: Int = 100) throws -> ZeroShotReport {
        let single = ShapeWorldGenerator(seed: seed, pairProbability: 0, absolutePositions: true)
        let scenes = single.scenes(samples)
        let features = imageFeatures(model, scenes)
        var accuracy: [WorldAttribute: Double] = [:], confusion: [WorldAttribute: [[Int]]] = [:]
        for attribute in WorldAttribute.allCases {
            let texts = try textFeatures(model, tokenizer: tokenizer, prompts(for: attribute))
            let cos = Tensor.matmul(features, texts, transposeB: true)
            let k = attribute.classCount
            var matrix = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
            var correct = 0
            for (i, scene) in scenes.enumerated() {
                let row = cos.data[(i * k)..<((i + 1) * k)]
                let predicted = row.indices.max { row[$0] < row[$1] }! - row.startIndex
                let truth = attribute.label(of: scene.spec)!
                matrix[truth][predicted] += 1
                if predicted == truth { correct += 1 }
            }
            accuracy[attribute] = Double(correct) / Double(max(1, samples))
            confusion[attribute] = matrix
        }

        // Retrieval: each canonical caption against all the images.
        let mixed = ShapeWorldGenerator(seed: seed ^ 0x5EED_0F_2E7, pairProbability: 0.3, absolutePositions: true)
        let retrievalScenes = mixed.scenes(retrievalCount)
        let retrievalImages = imageFeatures(model, retrievalScenes)
        let captions = try textFeatures(model, tokenizer: tokenizer, retrievalScenes.map(\.caption))
        let cos = Tensor.matmul(captions, retrievalImages, transposeB: true)
        var hits = 0
        for i in 0..<retrievalCount {
            let row = cos.data[(i * retrievalCount)..<((i + 1) * retrievalCount)]
            if row.indices.max(by: { row[$0] < row[$1] })! - row.startIndex == i { hits += 1 }
        }
        return ZeroShotReport(accuracy: accuracy, confusion: confusion, recallAt1: Double(hits) / Double(max(1, retrievalCount)),
                              samples: samples, retrievalCount: retrievalCount)
    }

    // MARK: Confusion sheet

    /// One picture of the five confusion matrices, left to right: shape, colour, background,
    /// size, position. Rows are the true class, columns the prediction; a cell's brightness is its
    /// share of the row (a perfect model shows a bright diagonal). Each row and column carries an
    /// icon of its class (the shape, a colour swatch, a dot where the position is).
    public static func confusionSheet(_ report: ZeroShotReport) -> RGBImage {
        let cell = 12, gap = 12
        let order: [WorldAttribute] = [.shape, .color, .background, .size, .position]
        let widths = order.map { ($0.classCount + 1) * cell }
        let width = widths.reduce(0, +) + gap * (order.count + 1)
        let height = (ShapeColor.allCases.count + 1) * cell + 2 * gap
        var image = RGBImage(width: width, height: height, fill: (40, 40, 40))
        func fill(_ x0: Int, _ y0: Int, _ w: Int, _ h: Int, _ c: (UInt8, UInt8, UInt8)) {
            for y in y0..<min(height, y0 + h) { for x in x0..<min(width, x0 + w) {
                let i = 3 * (y * width + x)
                image.pixels[i] = c.0; image.pixels[i + 1] = c.1; image.pixels[i + 2] = c.2
            } }
        }
        func paste(_ icon: Tensor, _ x0: Int, _ y0: Int) {
            let rgb = RGBImage(tensor: icon)
            for y in 0..<rgb.height { for x in 0..<rgb.width { fill(x0 + x, y0 + y, 1, 1, rgb[x, y]) } }
        }
        var left = gap
        for (a, attribute) in order.enumerated() {
            let k = attribute.classCount
            for c in 0..<k {
                let icon = Self.icon(attribute, c, size: cell)
                paste(icon, left, gap + (c + 1) * cell)        // row labels
                paste(icon, left + (c + 1) * cell, gap)        // column labels
            }
            let matrix = report.confusion[attribute] ?? []
            for (r, row) in matrix.enumerated() {
                let total = max(1, row.reduce(0, +))
                for (c, count) in row.enumerated() {
                    let v = UInt8(min(255, 255 * count / total))
                    let tint: (UInt8, UInt8, UInt8) = r == c ? (v / 3, v, v / 3) : (v, v / 3, v / 3)
                    fill(left + (c + 1) * cell + 1, gap + (r + 1) * cell + 1, cell - 2, cell - 2, tint)
                }
            }
            left += widths[a] + gap
        }
        return image
    }

    /// A small picture of one class.
    static func icon(_ attribute: WorldAttribute, _ index: Int, size: Int) -> Tensor {
        var spec = SceneSpec(primary: ObjectSpec(shape: .circle, color: .white, size: .large), background: .black, position: .center)
        switch attribute {
        case .shape: spec.primary.shape = ShapeKind.allCases[index]
        case .color, .background:
            return Tensor(shape: [1, 3, size, size], data: {
                let (r, g, b) = ShapeColor.allCases[index].rgb
                return [r, g, b].flatMap { [Float](repeating: Float($0) / 255, count: size * size) }
            }())
        case .size: spec.primary.size = ShapeSize.allCases[index]
        case .position:
            spec.position = ShapePosition.allCases[index]
            spec.primary.size = .small
        }
        let scene = Scene(spec: spec)
        return ShapeRasterizer.render(scene, width: size, height: size)
    }
}
