// The settings of a VQGAN training run: the model layout and every loss and schedule constant.
// Stored as JSON in each training checkpoint, so that `--resume` continues with exactly the
// settings the run started with.

import Foundation
import VQGAN

/// Hyperparameters of ``VQGANTrainer``: taming's VQGAN recipe (L1 reconstruction, codebook and
/// commitment loss, hinge PatchGAN with an adaptive weight after a warm-up) at a small scale.
public struct VQGANTrainingConfig: Codable, Equatable, Sendable {
    /// The autoencoder to train (its `discriminator` field is ignored; see ``discriminator``).
    public var model: VQGANConfig
    /// The patch discriminator.
    public var discriminator: DiscriminatorConfig
    /// Side of the square ShapeWorld images, in pixels.
    public var imageSize: Int
    /// Images per step.
    public var batchSize: Int
    /// Total optimisation steps; also the length of the learning-rate schedule.
    public var steps: Int
    /// Seed of the training scenes, of the initial weights and of the codebook restarts.
    public var seed: UInt64
    /// Adam's peak learning rate (both networks).
    public var learningRate: Float
    /// Linear warm-up steps before the cosine decay.
    public var warmupSteps: Int
    /// The cosine decays to `learningRate * finalLearningRateFraction` at ``steps``.
    public var finalLearningRateFraction: Float
    /// Adam's β1 and β2 (taming: 0.5, 0.9).
    public var beta1: Float
    public var beta2: Float
    /// Weight of the L1 loss on horizontal and vertical pixel differences. It stands in for the
    /// LPIPS perceptual term (whose VGG weights cannot be had here): plain L1 is satisfied by
    /// blurred edges that shift a few pixels of error around, the gradient term is not.
    public var edgeWeight: Float
    /// Weight of the quantizer loss (taming's `codebook_weight`).
    public var codebookWeight: Float
    /// Commitment weight β inside the quantizer loss.
    public var beta: Float
    /// First step at which the discriminator trains and the generator sees its loss (taming's
    /// `disc_start`); past ``steps`` means no GAN at all.
    public var discriminatorStart: Int
    /// Scale of the adaptive GAN weight (taming's `disc_weight`).
    public var discriminatorWeight: Float
    /// Steps between codebook restarts: codes unused since the last restart are re-seeded from
    /// encoder outputs of the current batch. 0 turns restarts off.
    public var restartEvery: Int
    /// No restarts from this step on, so that the decoder settles on a fixed codebook.
    public var restartUntil: Int
    /// The model the run started from instead of random weights (as given to `--init-from`) and
    /// the SHA-256 of its weights file; nil for a run from scratch (and in runs from before it existed).
    public var initFrom: String?
    public var initFromSHA256: String?

    public init(model: VQGANConfig, discriminator: DiscriminatorConfig, imageSize: Int, batchSize: Int, steps: Int,
                seed: UInt64, learningRate: Float, warmupSteps: Int, finalLearningRateFraction: Float,
                beta1: Float = 0.5, beta2: Float = 0.9, edgeWeight: Float, codebookWeight: Float = 1,
                beta: Float = 0.25, discriminatorStart: Int, discriminatorWeight: Float, restartEvery: Int,
                restartUntil: Int) {
        self.model = model
        self.discriminator = discriminator
        self.imageSize = imageSize
        self.batchSize = batchSize
        self.steps = steps
        self.seed = seed
        self.learningRate = learningRate
        self.warmupSteps = warmupSteps
        self.finalLearningRateFraction = finalLearningRateFraction
        self.beta1 = beta1
        self.beta2 = beta2
        self.edgeWeight = edgeWeight
        self.codebookWeight = codebookWeight
        self.beta = beta
        self.discriminatorStart = discriminatorStart
        self.discriminatorWeight = discriminatorWeight
        self.restartEvery = restartEvery
        self.restartUntil = restartUntil
    }

    /// The embedded model: f = 2 (32×32 codes for 64×64 images), one residual block per level,
    /// attention only in the middle (as taming's Encoder/Decoder always have), 8 norm groups,
    /// 32-dimensional codes, 1024 entries. The discriminator is taming's NLayerDiscriminator
    /// with two stride-2 layers and 16 base channels (a quarter of taming's width, which keeps
    /// the GAN phase cheap next to the autoencoder); each of its 14×14 logits sees a 34-pixel
    /// patch, about a quarter of the image, a large shape or a small one whole.
    /// `factor` 4 adds a third level (16×16 codes; the model shipped before), where the smallest
    /// shapes are one or two codes wide and the decoder gives them back as round blobs.
    public static func embedded(steps: Int, batchSize: Int = 8, seed: UInt64 = 0, ch: Int = 16,
                                factor: Int = 2) -> VQGANTrainingConfig {
        let model = VQGANConfig(
            embedDim: 32, nEmbed: 1024,
            ddconfig: DDConfig(ch: ch, chMult: factor == 2 ? [1, 2] : [1, 2, 2], numResBlocks: 1, attnResolutions: [],
                               zChannels: 32, resolution: 64, normGroups: 8))
        return VQGANTrainingConfig(
            model: model, discriminator: DiscriminatorConfig(inChannels: 3, ndf: 16, nLayers: 2, useActNorm: false),
            imageSize: 64, batchSize: batchSize, steps: steps, seed: seed, learningRate: 5e-4,
            warmupSteps: min(100, steps / 10), finalLearningRateFraction: 0.05, edgeWeight: 0.5,
            discriminatorStart: steps * 7 / 10, discriminatorWeight: 0.1, restartEvery: 100,
            restartUntil: steps * 3 / 5)
    }

    /// A model small enough for tests: 16×16 images, f = 2, 64 codes.
    public static func tiny(steps: Int, seed: UInt64 = 0) -> VQGANTrainingConfig {
        let model = VQGANConfig(
            embedDim: 4, nEmbed: 64,
            ddconfig: DDConfig(ch: 8, chMult: [1, 2], numResBlocks: 1, attnResolutions: [],
                               zChannels: 4, resolution: 16, normGroups: 4))
        return VQGANTrainingConfig(
            model: model, discriminator: DiscriminatorConfig(inChannels: 3, ndf: 8, nLayers: 1, useActNorm: false),
            imageSize: 16, batchSize: 4, steps: steps, seed: seed, learningRate: 2e-3, warmupSteps: 2,
            finalLearningRateFraction: 0.1, edgeWeight: 0.5, discriminatorStart: steps / 2,
            discriminatorWeight: 0.1, restartEvery: 3, restartUntil: steps)
    }

    /// Rejects settings the trainer cannot run, naming the field.
    public func validate() throws {
        try model.validate(file: "training config")
        let f = model.ddconfig.downsamplingFactor
        guard imageSize > 0, imageSize % f == 0 else {
            throw VQGANError("training config: image size \(imageSize) is not a positive multiple of f = \(f)")
        }
        guard batchSize > 0, steps > 0 else { throw VQGANError("training config: batch and steps must be positive") }
        guard learningRate > 0, warmupSteps >= 0 else { throw VQGANError("training config: bad learning rate") }
    }

    /// The JSON form stored in checkpoints.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(self)
    }

    /// Reads ``jsonData()``; `file` names the source in errors.
    public init(json: Data, file: String) throws {
        do { self = try JSONDecoder().decode(Self.self, from: json) } catch {
            throw VQGANError("\(file): unreadable training config: \(error)")
        }
    }
}
