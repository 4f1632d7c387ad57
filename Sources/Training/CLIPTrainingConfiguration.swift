// Everything that determines a CLIP training run. Stored as JSON in every checkpoint, so that a
// resumed run continues with exactly the settings it started with.

import CLIP
import Foundation

/// Augmentations that keep a caption true.
public struct CLIPAugmentation: Codable, Equatable, Sendable {
    /// Scale of the layout about the image centre.
    public var zoom: ClosedRange<Float> = 0.9...1.1
    /// Largest shift, as a fraction of the side.
    public var shift: Float = 0.03
    /// Brightness gain.
    public var brightness: ClosedRange<Float> = 0.9...1.1
    /// Largest per-channel offset.
    public var channelOffset: Float = 0.05
    /// Largest standard deviation of the Gaussian pixel noise (drawn per image).
    public var noise: Float = 0.04

    public init() {}
}

/// A CLIP training run's settings.
public struct CLIPTrainingConfiguration: Codable, Equatable, Sendable {
    /// The network's size.
    public var model: CLIPConfiguration
    public var seed: UInt64
    /// Images per batch.
    public var batchSize: Int
    /// Extra hard-negative captions per batch (one fact of an image's caption changed).
    public var hardNegatives: Int
    /// Share of the batch drawn as groups that differ only in shape and position.
    public var groupedFraction: Double
    /// Share of random scenes with two objects.
    public var pairProbability: Double
    /// Total steps (the cosine schedule's length).
    public var steps: Int
    public var warmupSteps: Int
    public var learningRate: Float
    public var weightDecay: Float
    /// Weight of the per-attribute classification heads' loss (0 turns them off).
    public var attributeLossWeight: Float
    /// Steps between checkpoints (and zero-shot evaluations).
    public var checkpointEvery: Int
    /// Fresh images per zero-shot evaluation.
    public var evaluationSamples: Int
    public var augmentation: CLIPAugmentation

    public init(model: CLIPConfiguration, seed: UInt64 = 0, batchSize: Int = 128, hardNegatives: Int = 64,
                groupedFraction: Double = 0.5, pairProbability: Double = 0.25, steps: Int = 4000, warmupSteps: Int = 200,
                learningRate: Float = 1e-3, weightDecay: Float = 0.05, attributeLossWeight: Float = 2,
                checkpointEvery: Int = 100, evaluationSamples: Int = 300, augmentation: CLIPAugmentation = CLIPAugmentation()) {
        self.model = model
        self.seed = seed
        self.batchSize = batchSize
        self.hardNegatives = hardNegatives
        self.groupedFraction = groupedFraction
        self.pairProbability = pairProbability
        self.steps = steps
        self.warmupSteps = warmupSteps
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        self.attributeLossWeight = attributeLossWeight
        self.checkpointEvery = checkpointEvery
        self.evaluationSamples = evaluationSamples
        self.augmentation = augmentation
    }

    /// The embedded model's size: 64x64 images in 8x8 patches, a 128-wide 4-layer ViT, a 64-wide
    /// 4-layer text transformer over the real 49,408-token vocabulary with a 32-token context,
    /// joint embedding 128. The token table is most of the weights; at text width 64 the shipped
    /// float16 file stays under 10 MB (at width 128 the table alone would be 12.6 MB).
    public static let embeddedModel = CLIPConfiguration(embedDim: 128, imageResolution: 64, visionLayers: 4, visionWidth: 128,
                                                        patchSize: 8, contextLength: 32, vocabSize: 49408,
                                                        textWidth: 64, textLayers: 4)

    /// A model small enough for tests: one layer per tower.
    public static let tinyModel = CLIPConfiguration(embedDim: 32, imageResolution: 32, visionLayers: 1, visionWidth: 64,
                                                    patchSize: 8, contextLength: 32, vocabSize: 49408,
                                                    textWidth: 64, textLayers: 1)

    /// Settings as JSON (stored in checkpoints).
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }

    /// Settings read back from ``json()``.
    public init(json: String) throws {
        self = try JSONDecoder().decode(Self.self, from: Data(json.utf8))
    }
}
