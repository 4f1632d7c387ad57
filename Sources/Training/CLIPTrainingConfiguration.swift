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

/// Adversarial training: part of each batch's images is moved, by a few steps of projected
/// gradient ascent on the training loss, to the worst nearby image, and the step trains on those.
/// A model trained so has input gradients that look like image features rather than noise, which
/// is what a render that follows those gradients needs.
public struct CLIPAdversarialTraining: Codable, Equatable, Sendable {
    /// The ball the perturbation stays in.
    public enum Norm: String, Codable, Sendable, CaseIterable {
        /// Euclidean length over one image's 3·S·S values.
        case l2
        /// Largest change of any one value.
        case linf
    }

    /// Ascent steps per batch.
    public var steps: Int
    /// Radius of the ball, in pixel units (values in [0, 1], before CLIP's normalisation).
    public var epsilon: Float
    public var norm: Norm
    /// Share of each batch's images perturbed (spread evenly over the random and grouped halves).
    public var fraction: Double

    public init(steps: Int = 2, epsilon: Float = 1, norm: Norm = .l2, fraction: Double = 0.5) {
        self.steps = steps
        self.epsilon = epsilon
        self.norm = norm
        self.fraction = fraction
    }

    /// Length of one ascent step: 2.5·ε / steps, the usual choice (the path can reach the
    /// boundary and move along it).
    public var stepSize: Float { 2.5 * epsilon / Float(max(steps, 1)) }

    /// Whether image `i` of a batch of `count` is perturbed.
    public func perturbs(_ i: Int, of count: Int) -> Bool {
        Int((Double(i + 1) * fraction).rounded(.down)) > Int((Double(i) * fraction).rounded(.down))
    }
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
    /// Adversarial training, when set (absent in runs from before it existed).
    public var adversarial: CLIPAdversarialTraining?
    /// Fragment images per batch (absent or 0: none): one-object images of the batch redrawn
    /// as what a render that follows a small CLIP's gradients paints (the object's colour
    /// scattered as smaller pieces, or the object cut by stripes of the background), which no
    /// caption describes. They are extra candidates of each caption's softmax over images, so
    /// a caption learns to prefer its one clean object to the pieces of its colour.
    public var distractors: Int?
    /// A folder of PNG images (at the model's input size) to draw the distractors from instead
    /// of fragments: renders that a caption's render reached without satisfying it, so that
    /// captions learn to rank them below clean images. Absent: fragments.
    public var distractorImages: String?
    /// The model the run started from (its path as given and the SHA-256 of its weights file),
    /// when it did not start from random weights. Recorded for the record; resuming does not reread it.
    public var initFrom: String?
    public var initFromSHA256: String?

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
