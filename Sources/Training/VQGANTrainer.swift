// One VQGAN training step after another, taming's recipe: encoder → quant_conv → nearest-code
// quantization (straight-through) → post_quant_conv → decoder; L1 plus an edge L1 term, the
// quantizer's codebook/commitment loss, and from `discriminatorStart` on a hinge PatchGAN whose
// generator term is weighted adaptively at the decoder's last layer. Dead codes are re-seeded
// from encoder outputs. Everything that decides the next step (weights, both Adam states, the
// discriminator's running statistics, code usage, the restart random stream) is in
// ``namedState`` and the metadata, so a restored trainer continues bit for bit.

import Foundation
import Layers
import Optimizers
import Tensors
import VQGAN

/// What one training step measured.
public struct VQGANStepRecord: Sendable, Equatable {
    /// The 1-based number of the step just taken.
    public var step: Int
    public var learningRate: Float
    /// mean |x − x̂| on the [−1, 1] scale.
    public var l1: Float
    /// The edge L1 term (before its weight).
    public var edge: Float
    /// The quantizer loss (codebook + β·commitment).
    public var quantizer: Float
    /// The generator's GAN loss, when the GAN is active.
    public var generator: Float?
    /// The discriminator's hinge loss, when the GAN is active.
    public var discriminator: Float?
    /// The adaptive GAN weight used this step, when the GAN is active.
    public var adaptiveWeight: Float?
    /// PSNR of this batch's reconstructions in dB (on [0, 1] pixels).
    public var psnr: Float
    /// Distinct codes used by this batch.
    public var codesInBatch: Int
    /// Codes re-seeded at the end of this step.
    public var restartedCodes: Int
}

/// A VQGAN and its discriminator being trained on ShapeWorld images.
public final class VQGANTrainer {
    /// The settings.
    public let config: VQGANTrainingConfig
    /// The autoencoder (parameters require gradients).
    public let model: VQModel
    /// The patch discriminator.
    public let discriminator: NLayerDiscriminator
    /// Steps completed.
    public private(set) var step = 0

    private let discriminatorParameters: [(name: String, tensor: Tensor)]
    private let discriminatorBuffers: [(name: String, tensor: Tensor)]
    private let generatorOptimizer: Adam
    private let discriminatorOptimizer: Adam
    private let schedule: WarmupCosineSchedule
    private let images: ShapeWorldImages
    /// Uses of each code since the last restart, as a tensor so that it is checkpointed with the weights.
    private let codeCounts: Tensor
    private var random: SeededGenerator

    /// A fresh trainer: seeded random weights (taming's N(0, 0.02) for the discriminator).
    public init(config: VQGANTrainingConfig) throws {
        try config.validate()
        self.config = config
        var modelConfig = config.model
        modelConfig.discriminator = nil
        model = try VQModel(config: modelConfig, weights: WeightLoader(randomSeed: config.seed, requiresGrad: true))
        let discriminatorLoader = WeightLoader(randomSeed: config.seed &+ 0x9E37_79B9, requiresGrad: true)
        discriminator = try NLayerDiscriminator(discriminatorLoader.scope("loss").scope("discriminator"),
                                                config: config.discriminator)
        discriminatorParameters = discriminatorLoader.parameters
        discriminatorBuffers = discriminatorLoader.buffers
        Self.initializeLikeTaming(discriminator, seed: config.seed &+ 0x7F4A_7C15)
        generatorOptimizer = Adam(parameters: model.parameters.map(\.tensor), learningRate: config.learningRate,
                                  beta1: config.beta1, beta2: config.beta2)
        discriminatorOptimizer = Adam(parameters: discriminatorParameters.map(\.tensor),
                                      learningRate: config.learningRate, beta1: config.beta1, beta2: config.beta2)
        schedule = WarmupCosineSchedule(peak: config.learningRate, warmupSteps: config.warmupSteps,
                                        totalSteps: config.steps, floorFraction: config.finalLearningRateFraction)
        images = ShapeWorldImages(seed: config.seed, size: config.imageSize)
        codeCounts = Tensor.zeros([config.model.nEmbed])
        random = SeededGenerator(seed: config.seed &+ 0x2545_F491)
    }

    /// Starts from `source`'s autoencoder weights instead of the random ones (before the first
    /// step; the optimiser state stays fresh). The models must have the same layout (the
    /// discriminator aside); errors name ``VQGANTrainingConfig/initFrom`` when it is set.
    public func loadInitialWeights(from source: VQModel) throws {
        let file = config.initFrom ?? "initial model"
        var expected = config.model, given = source.config
        expected.discriminator = nil
        given.discriminator = nil
        guard given == expected else { throw VQGANError("\(file): the initial model's configuration differs from the run's") }
        do {
            try copyNamedValues(from: source.parameters + source.buffers, into: model.parameters + model.buffers)
        } catch {
            throw VQGANError("\(file): \(error)")
        }
    }

    /// taming's `weights_init`: convolutions N(0, 0.02), BatchNorm scales N(1, 0.02), shifts 0.
    private static func initializeLikeTaming(_ d: NLayerDiscriminator, seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        for layer in d.layers {
            for i in layer.conv.weight.data.indices { layer.conv.weight.data[i] = 0.02 * rng.nextNormal() }
            if case .batch(let weight, let bias, _, _)? = layer.norm {
                for i in weight.data.indices { weight.data[i] = 1 + 0.02 * rng.nextNormal() }
                for i in bias.data.indices { bias.data[i] = 0 }
            }
        }
    }

    /// Every tensor a checkpoint must hold: the autoencoder's parameters under their checkpoint
    /// keys, the discriminator's under `loss.discriminator.`, its running statistics, and the
    /// code usage counts.
    public var namedState: [(name: String, tensor: Tensor)] {
        model.parameters + discriminatorParameters + discriminatorBuffers + [("trainer.code_counts", codeCounts)]
    }

    /// Writes a resumable checkpoint (atomically).
    public func saveCheckpoint(to url: URL) throws {
        let config = String(decoding: try self.config.jsonData(), as: UTF8.self)
        try TrainingCheckpoint.save(
            to: url, parameters: namedState,
            optimizers: ["generator": generatorOptimizer.state, "discriminator": discriminatorOptimizer.state],
            metadata: ["step": String(step), "random": random.state.map(String.init).joined(separator: ","),
                       "training_config": config])
    }

    /// The training settings stored in a checkpoint.
    public static func config(of checkpoint: TrainingCheckpoint) throws -> VQGANTrainingConfig {
        guard let text = checkpoint.metadata["training_config"] else {
            throw VQGANError("\(checkpoint.url.path): not a VQGAN training checkpoint (no training_config)")
        }
        return try VQGANTrainingConfig(json: Data(text.utf8), file: checkpoint.url.path)
    }

    /// A trainer that continues from `checkpoint` exactly where it was saved. `adjust` may change
    /// the stored settings that do not shape the networks (the schedule, GAN start, restarts),
    /// for a branch of a run; the continuation then differs from the original run's.
    public convenience init(resumingFrom checkpoint: TrainingCheckpoint,
                            adjust: (inout VQGANTrainingConfig) -> Void = { _ in }) throws {
        let stored = try Self.config(of: checkpoint)
        var config = stored
        adjust(&config)
        let file = checkpoint.url.path
        guard config.model == stored.model, config.discriminator == stored.discriminator else {
            throw VQGANError("\(file): a resumed run cannot change the network layout")
        }
        try self.init(config: config)
        guard let step = checkpoint.metadata["step"].flatMap({ Int($0) }),
              let state = checkpoint.metadata["random"]?.split(separator: ",").compactMap({ UInt64($0) }),
              state.count == 4 else {
            throw VQGANError("\(file): training checkpoint lacks its step or random state")
        }
        try checkpoint.restore(parameters: namedState)
        do {
            try generatorOptimizer.restore(checkpoint.optimizerState("generator"))
            try discriminatorOptimizer.restore(checkpoint.optimizerState("discriminator"))
        } catch let error as OptimizerStateError {
            throw VQGANError("\(file): \(error)")
        }
        self.step = step
        random = SeededGenerator(state: state)
    }

    /// The training batch of 0-based step `s`: scenes s·B ..< (s+1)·B of the seed's stream.
    public func batch(forStep s: Int) -> Tensor {
        images.batch(start: s * config.batchSize, count: config.batchSize)
    }

    /// Takes one step of both networks and returns what it measured.
    public func trainStep() -> VQGANStepRecord {
        let learningRate = schedule.learningRate(at: step)
        generatorOptimizer.learningRate = learningRate
        discriminatorOptimizer.learningRate = learningRate
        let ganActive = step >= config.discriminatorStart
        let x = batch(forStep: step)

        // Autoencoder forward, kept as one graph.
        generatorOptimizer.zeroGrad()
        let z = model.encode(x)
        let (zq, indices) = model.quantize(z)
        let quantizerLoss = model.quantizer.loss(z, indices: indices)
        let features = model.decoder.features(model.postQuantConv(zq))
        let reconstruction = model.decoder.convOut(features)

        // The pixel-space losses on a detached copy of the reconstruction: their gradients there
        // are needed separately (for the adaptive weight) before the network's single backward.
        let cut = Tensor(shape: reconstruction.shape, data: reconstruction.data, requiresGrad: true)
        let l1 = VQGANLosses.l1(x, cut), edge = VQGANLosses.edgeL1(x, cut)
        (l1 + edge * config.edgeWeight).backward()
        var outputGrad = cut.gradData!

        var generatorLoss: Float?, discriminatorLoss: Float?, adaptiveWeight: Float?
        if ganActive {
            let ganCut = Tensor(shape: reconstruction.shape, data: reconstruction.data, requiresGrad: true)
            let gLoss = VQGANLosses.generator(fake: discriminator(ganCut, training: true))
            gLoss.backward()
            // The generator's loss must not train the discriminator.
            discriminatorOptimizer.zeroGrad()
            let ganGrad = ganCut.gradData!
            let weight = VQGANLosses.adaptiveWeight(
                features: features, weight: model.decoder.convOut.weight, padding: model.decoder.convOut.padding,
                reconstructionGrad: outputGrad, ganGrad: ganGrad, discriminatorWeight: config.discriminatorWeight)
            for i in outputGrad.indices { outputGrad[i] += weight * ganGrad[i] }
            generatorLoss = gLoss.item
            adaptiveWeight = weight
        }
        // d/dx̂ of Σ x̂·g is g: one backward carries the pixel losses' gradient and the quantizer loss.
        let seeded = (reconstruction * Tensor(shape: reconstruction.shape, data: outputGrad)).sum()
        (seeded + quantizerLoss * config.codebookWeight).backward()
        generatorOptimizer.step()

        if ganActive {
            // taming recomputes x̂ after the autoencoder's update; the pre-update one saves a forward pass.
            discriminatorOptimizer.zeroGrad()
            let real = discriminator(x, training: true)
            let fake = discriminator(reconstruction.detached(), training: true)
            let dLoss = VQGANLosses.hingeDiscriminator(real: real, fake: fake)
            dLoss.backward()
            discriminatorOptimizer.step()
            discriminatorLoss = dLoss.item
        }

        var inBatch = Set<Int>()
        for index in indices {
            codeCounts.data[index] += 1
            inBatch.insert(index)
        }
        step += 1
        var restarted = 0
        if config.restartEvery > 0, step % config.restartEvery == 0, step <= config.restartUntil {
            restarted = restartDeadCodes(latents: z)
        }
        return VQGANStepRecord(step: step, learningRate: learningRate, l1: l1.item, edge: edge.item,
                               quantizer: quantizerLoss.item, generator: generatorLoss,
                               discriminator: discriminatorLoss, adaptiveWeight: adaptiveWeight,
                               psnr: Self.psnr(x, reconstruction), codesInBatch: inBatch.count,
                               restartedCodes: restarted)
    }

    /// Re-seeds every code unused since the last restart with a latent vector of `latents`
    /// [N, C, h, w] picked at random (plus a little noise, so that two re-seeded codes never tie),
    /// then clears the counts. Returns how many codes were re-seeded.
    private func restartDeadCodes(latents z: Tensor) -> Int {
        let (n, c, h, w) = (z.shape[0], z.shape[1], z.shape[2], z.shape[3])
        let codebook = model.quantizer.codebook
        var restarted = 0
        for code in 0..<config.model.nEmbed where codeCounts.data[code] == 0 {
            let position = Int(random.next() % UInt64(n * h * w))
            let (b, p) = (position / (h * w), position % (h * w))
            for ch in 0..<c {
                codebook.data[code * c + ch] = z.data[(b * c + ch) * h * w + p] + 1e-3 * random.nextNormal()
            }
            restarted += 1
        }
        for i in codeCounts.data.indices { codeCounts.data[i] = 0 }
        return restarted
    }

    /// Reconstructs x [N, 3, H, W] in [−1, 1] without recording a graph.
    public func reconstruct(_ x: Tensor) -> Tensor {
        Autograd.withoutGrad { model.decode(model.quantize(model.encode(x)).quantized) }
    }

    /// PSNR in dB of `y` against `x`, both on the [−1, 1] scale, measured on [0, 1] pixels with
    /// `y` clamped to the image range.
    public static func psnr(_ x: Tensor, _ y: Tensor) -> Float {
        var sum: Double = 0
        for i in x.data.indices {
            let target = Double(x.data[i] + 1) / 2
            let value = min(max(Double(y.data[i] + 1) / 2, 0), 1)
            sum += (target - value) * (target - value)
        }
        let mse = max(sum / Double(max(x.count, 1)), 1e-12)
        return Float(10 * log10(1 / mse))
    }
}
