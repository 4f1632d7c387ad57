// The small CLIP's objective: CLIP's symmetric cross-entropy over a batch (with a learned
// temperature, clamped at 100), with false negatives masked out, plus supervised per-attribute
// heads on both embeddings, which make shape and position matter even when colour alone would
// tell the pairs apart (the feature suppression a purely contrastive objective shows here).

import Foundation
import Layers
import ShapeWorld
import Tensors

/// One linear classifier per world attribute on the L2-normalised joint embedding, shared by the
/// image and the text side (so that both put each attribute along the same directions).
/// Training-only: the shipped model has no heads.
public struct AttributeHeads {
    /// Per attribute: weight [classes, embed] and bias [classes].
    public let layers: [WorldAttribute: Linear]
    /// Every parameter under `heads.ATTRIBUTE.weight` / `.bias`.
    public let parameters: [(name: String, tensor: Tensor)]
    /// Logit scale applied to the unit-length embedding.
    static let inputScale: Float = 10

    public init(embedDim: Int, seed: UInt64) {
        let loader = WeightLoader(randomSeed: seed, requiresGrad: true)
        var layers: [WorldAttribute: Linear] = [:]
        for attribute in WorldAttribute.allCases {
            layers[attribute] = try! Linear(loader.scope("heads").scope(attribute.rawValue), in: embedDim, out: attribute.classCount)
        }
        self.layers = layers
        parameters = loader.parameters
    }

    /// Logits [N, classes] of `attribute` for unit embeddings [N, E].
    func logits(_ attribute: WorldAttribute, _ unit: Tensor) -> Tensor { layers[attribute]!(unit * Self.inputScale) }
}

/// The loss of one batch and its parts.
public struct CLIPLossParts: Sendable {
    public var total: Float
    public var contrastive: Float
    public var attributes: Float
    /// Share of images whose own caption scores highest among the unmasked captions.
    public var batchAccuracy: Float
    /// exp(logit scale) as used.
    public var temperature: Float
}

public enum CLIPLoss {
    /// The most a logit scale may reach (as OpenAI clamps it).
    public static let maxLogitScale = Float(Foundation.log(100.0))

    /// `mask[i][k]` true when caption k also fits image i (and k ≠ i): left out of the softmaxes.
    public static func falseNegatives(specs: [SceneSpec], captions: [Caption]) -> [[Bool]] {
        specs.indices.map { i in captions.indices.map { k in k != i && captions[k].mention.isSatisfied(by: specs[i]) } }
    }

    /// Mean cross-entropy of rows with a target; `excluded` entries are left out of each softmax.
    /// Returns nil when no row has a target.
    static func crossEntropy(_ logits: Tensor, targets: [Int?], excluded: [[Bool]]? = nil) -> Tensor? {
        let rows = logits.shape[0], classes = logits.shape[1]
        let count = targets.compactMap { $0 }.count
        guard count > 0 else { return nil }
        var pick = [Float](repeating: 0, count: rows * classes)
        for (r, t) in targets.enumerated() { if let t { pick[r * classes + t] = 1 / Float(count) } }
        var input = logits
        if let excluded {
            var additive = [Float](repeating: 0, count: rows * classes)
            for r in 0..<rows { for c in 0..<classes where excluded[r][c] { additive[r * classes + c] = -1e4 } }
            input = logits + Tensor(shape: [rows, classes], data: additive)
        }
        return -(input.logSoftmax(axis: -1) * Tensor(shape: [rows, classes], data: pick)).sum()
    }

    /// The loss of a batch from image features [B, E] and text features [B + H, E] (rows 0..<B
    /// are the images' own captions). Distractor features [D, E], of images no caption fits, join
    /// the candidates of each own caption's softmax over images.
    public static func compute(imageFeatures: Tensor, textFeatures: Tensor, distractorFeatures: Tensor? = nil,
                               logitScale: Tensor, heads: AttributeHeads?,
                               attributeWeight: Float, specs: [SceneSpec], captions: [Caption]) -> (loss: Tensor, parts: CLIPLossParts) {
        let b = imageFeatures.shape[0], n = textFeatures.shape[0]
        precondition(specs.count == b && captions.count == n && n >= b, "CLIPLoss: \(b) images, \(n) captions")
        let images = imageFeatures.l2Normalized(axis: -1), texts = textFeatures.l2Normalized(axis: -1)
        let scale = logitScale.clamped(max: maxLogitScale).exp()
        let excluded = falseNegatives(specs: specs, captions: captions)

        // Image → text over all captions; text → image over the images, for the B own captions.
        let perImage = Tensor.matmul(images, texts, transposeB: true) * scale.reshaped([1, 1])          // [B, N]
        let ownTexts = Tensor.slice(texts, axis: 0, range: 0..<b)
        let d = distractorFeatures?.shape[0] ?? 0
        let candidates = distractorFeatures.map { Tensor.concat([images, $0.l2Normalized(axis: -1)], axis: 0) } ?? images
        let perText = Tensor.matmul(ownTexts, candidates, transposeB: true) * scale.reshaped([1, 1])    // [B, B + D]
        let diagonal = (0..<b).map { Optional($0) }
        let transposedMask = (0..<b).map { i in (0..<b).map { j in excluded[j][i] } + [Bool](repeating: false, count: d) }
        let contrastive = (crossEntropy(perImage, targets: diagonal, excluded: excluded)!
                           + crossEntropy(perText, targets: diagonal, excluded: transposedMask)!) * 0.5

        var loss = contrastive
        var attributeLoss: Float = 0
        if let heads, attributeWeight > 0 {
            var terms: [Tensor] = []
            for attribute in WorldAttribute.allCases {
                if let t = crossEntropy(heads.logits(attribute, images), targets: specs.map { attribute.label(of: $0) }) { terms.append(t) }
                if let t = crossEntropy(heads.logits(attribute, texts), targets: captions.map { attribute.label(of: $0.mention) }) {
                    terms.append(t)
                }
            }
            if !terms.isEmpty {
                let sum = terms.dropFirst().reduce(terms[0], +) * (1 / Float(terms.count))
                attributeLoss = sum.item
                loss = loss + sum * attributeWeight
            }
        }

        // In-batch accuracy: the own caption beats every unmasked caption.
        var correct = 0
        for i in 0..<b {
            let row = perImage.data[(i * n)..<((i + 1) * n)]
            let own = row[row.startIndex + i]
            if !(0..<n).contains(where: { k in k != i && !excluded[i][k] && row[row.startIndex + k] >= own }) { correct += 1 }
        }
        return (loss, CLIPLossParts(total: loss.item, contrastive: contrastive.item, attributes: attributeLoss,
                                    batchAccuracy: Float(correct) / Float(b), temperature: scale.item))
    }
}
