// The small CLIP's training loop: batches from the world, the loss, AdamW with warm-up and cosine
// decay (weight decay on matrices only, not on gains, biases or the temperature), resumable
// checkpoints, and the export of the shipped model.

import CLIP
import Checkpoints
import Foundation
import Layers
import Optimizers
import ShapeWorld
import Tensors

/// What one training step did.
public struct CLIPStepReport: Sendable {
    /// 1-based number of the step just taken.
    public var step: Int
    public var loss: CLIPLossParts
    public var learningRate: Float
    /// Wall time of the step (batch drawing included).
    public var seconds: Double
    /// Training images per second in this step.
    public var imagesPerSecond: Double { seconds > 0 ? Double(batchSize) / seconds : 0 }
    public var batchSize: Int
}

/// Trains a CLIP model on ShapeWorld.
public final class CLIPTrainer {
    public let configuration: CLIPTrainingConfiguration
    public let model: CLIPModel
    public let heads: AttributeHeads
    public let tokenizer: Tokenizer
    public let sampler: CLIPBatchSampler
    let decayed: Adam
    let undecayed: Adam
    let schedule: WarmupCosineSchedule
    /// A copy of the model without gradients, refreshed before each adversarial search, so that
    /// the ascent's backward passes compute only the image gradient (not the weights').
    private lazy var frozen = CLIPModel.random(configuration.model)
    /// Steps completed.
    public private(set) var step = 0

    /// A fresh run: weights drawn from `configuration.seed`. Throws when
    /// `configuration.distractorImages` names a folder that cannot be read as distractors.
    public init(configuration: CLIPTrainingConfiguration, tokenizer: Tokenizer) throws {
        self.configuration = configuration
        self.tokenizer = tokenizer
        model = CLIPModel.random(configuration.model, seed: mixSeed(configuration.seed, 1, 0x3E16), requiresGrad: true)
        // CLIP's initial temperature, 1/0.07 (a random model at 100 saturates its softmaxes).
        model.logitScaleTensor.data[0] = Float(Foundation.log(1 / 0.07))
        Self.applyOpenAIInitialization(model, seed: mixSeed(configuration.seed, 3, 0x3E16))
        heads = AttributeHeads(embedDim: configuration.model.embedDim, seed: mixSeed(configuration.seed, 2, 0x3E16))
        let pool = try configuration.distractorImages.map {
            try CLIPBatchSampler.distractorImages(in: URL(fileURLWithPath: $0), side: configuration.model.imageResolution)
        } ?? []
        sampler = CLIPBatchSampler(configuration: configuration, tokenizer: tokenizer, distractorPool: pool)
        let all = model.parameters + heads.parameters
        // Matrices decay; vectors (LayerNorm gains, biases, embeddings of one row) and the temperature do not.
        decayed = Adam.adamW(parameters: all.filter { $0.tensor.rank >= 2 }.map(\.tensor),
                             learningRate: configuration.learningRate, weightDecay: configuration.weightDecay)
        undecayed = Adam.adamW(parameters: all.filter { $0.tensor.rank < 2 }.map(\.tensor),
                               learningRate: configuration.learningRate, weightDecay: 0)
        schedule = WarmupCosineSchedule(peak: configuration.learningRate, warmupSteps: configuration.warmupSteps,
                                        totalSteps: configuration.steps, floorFraction: 0.05)
    }

    /// OpenAI's initial scale, width^-1/2, for the class and positional embeddings of the image
    /// tower and both output projections (the generic loader draws them at 0.02). At 0.02 the
    /// positions are a few percent of a patch's content after ln_pre, and position, a fact of this
    /// world, was slow to appear.
    static func applyOpenAIInitialization(_ model: CLIPModel, seed: UInt64) {
        let c = model.configuration
        let scales = ["visual.class_embedding": c.visionWidth, "visual.positional_embedding": c.visionWidth,
                      "visual.proj": c.visionWidth, "text_projection": c.textWidth]
        for (k, (name, tensor)) in model.parameters.enumerated() {
            guard let width = scales[name] else { continue }
            tensor.data = Tensor.randn(tensor.shape, std: 1 / Float(width).squareRoot(), seed: mixSeed(seed, UInt64(k), 7)).data
        }
    }

    /// Replaces the model's weights (and temperature) with those of `source`, a CLIP of the same
    /// size: the start of a fine-tuning run. The attribute heads keep their random start (the
    /// shipped models have none).
    public func loadInitialWeights(from source: CLIPModel) throws {
        guard source.configuration == configuration.model else {
            throw CLIPError("the initial model is \(source.configuration.description), the run's is \(configuration.model.description)")
        }
        do { try copyNamedValues(from: source.parameters, into: model.parameters) } catch {
            throw CLIPError("\(error)")
        }
        model.logitScaleTensor.data[0] = min(model.logitScaleTensor.data[0], CLIPLoss.maxLogitScale)
    }

    /// Every trained tensor: the model's under OpenAI keys, then the heads'.
    public var trainedParameters: [(name: String, tensor: Tensor)] { model.parameters + heads.parameters }

    /// One step of training.
    public func trainStep() throws -> CLIPStepReport {
        let start = Date()
        var batch = try sampler.batch(step: step)
        if let adversarial = configuration.adversarial, adversarial.steps > 0, adversarial.epsilon > 0 {
            batch.images = try adversarialImages(batch, adversarial)
        }
        let lr = schedule.learningRate(at: step)
        decayed.learningRate = lr
        undecayed.learningRate = lr
        // After the adversarial search, whose backward passes also reach the heads.
        decayed.zeroGrad()
        undecayed.zeroGrad()
        let (loss, parts) = CLIPLoss.compute(imageFeatures: model.encodeImage(batch.images),
                                             textFeatures: try model.encodeText(batch.tokens),
                                             distractorFeatures: batch.distractors.map { model.encodeImage($0) },
                                             logitScale: model.logitScaleTensor, heads: heads,
                                             attributeWeight: configuration.attributeLossWeight,
                                             specs: batch.specs, captions: batch.captions)
        loss.backward()
        decayed.step()
        undecayed.step()
        // The temperature stays at or below 100 (OpenAI clamps the stored value the same way).
        model.logitScaleTensor.data[0] = min(model.logitScaleTensor.data[0], CLIPLoss.maxLogitScale)
        step += 1
        return CLIPStepReport(step: step, loss: parts, learningRate: lr, seconds: Date().timeIntervalSince(start),
                              batchSize: configuration.batchSize)
    }

    // MARK: Adversarial images

    /// The batch's images with the perturbed ones moved by projected gradient ascent on the
    /// training loss (from zero perturbation, so the result depends only on the weights and the
    /// batch). The ascent works in pixel units: a step δ in [0, 1] pixels is δ/std in CLIP's
    /// normalised input, and the pixel gradient is the normalised one divided by std.
    func adversarialImages(_ batch: CLIPBatch, _ settings: CLIPAdversarialTraining) throws -> Tensor {
        for (f, m) in zip(frozen.parameters, model.parameters) { f.tensor.data = m.tensor.data }
        let texts = try Autograd.withoutGrad { try frozen.encodeText(batch.tokens) }
        let shape = batch.images.shape
        let (count, channels, plane) = (shape[0], shape[1], shape[2] * shape[3])
        let perImage = channels * plane
        let inverseStd = CLIPPreprocess.std.map { 1 / $0 }
        let chosen = (0..<count).filter { settings.perturbs($0, of: count) }
        var delta = [Float](repeating: 0, count: batch.images.count)   // pixel units
        func shifted() -> [Float] {
            var values = batch.images.data
            for i in chosen {
                for c in 0..<channels {
                    let base = i * perImage + c * plane
                    for k in base..<(base + plane) { values[k] += delta[k] * inverseStd[c] }
                }
            }
            return values
        }
        let alpha = settings.stepSize, eps = settings.epsilon
        for _ in 0..<settings.steps {
            let input = Tensor(shape: shape, data: shifted(), requiresGrad: true)
            let (loss, _) = CLIPLoss.compute(imageFeatures: frozen.encodeImage(input), textFeatures: texts,
                                             logitScale: frozen.logitScaleTensor, heads: heads,
                                             attributeWeight: configuration.attributeLossWeight,
                                             specs: batch.specs, captions: batch.captions)
            loss.backward()
            guard let gradient = input.gradData else { throw CLIPError("the adversarial search got no image gradient") }
            for i in chosen {
                let range = (i * perImage)..<((i + 1) * perImage)
                var g = [Float](repeating: 0, count: perImage)
                for c in 0..<channels {
                    for k in 0..<plane { g[c * plane + k] = gradient[range.lowerBound + c * plane + k] * inverseStd[c] }
                }
                switch settings.norm {
                case .l2:
                    let length = g.reduce(0) { $0 + $1 * $1 }.squareRoot()
                    guard length > 0 else { continue }
                    for k in 0..<perImage { delta[range.lowerBound + k] += alpha * g[k] / length }
                    let size = delta[range].reduce(0) { $0 + $1 * $1 }.squareRoot()
                    if size > eps { for k in range { delta[k] *= eps / size } }
                case .linf:
                    for k in 0..<perImage {
                        let moved = delta[range.lowerBound + k] + (g[k] > 0 ? alpha : g[k] < 0 ? -alpha : 0)
                        delta[range.lowerBound + k] = min(max(moved, -eps), eps)
                    }
                }
            }
        }
        return Tensor(shape: shape, data: shifted())
    }

    // MARK: Checkpoints

    /// Writes the whole training state (weights, heads, both optimisers, step, settings) atomically.
    public func saveCheckpoint(to url: URL) throws {
        try TrainingCheckpoint.save(to: url, parameters: trainedParameters,
                                    optimizers: ["decayed": decayed.state, "undecayed": undecayed.state],
                                    metadata: ["step": String(step), "configuration": configuration.json(),
                                               "trainer": "clip"])
    }

    /// Continues a run from a checkpoint written by ``saveCheckpoint(to:)``. `steps` replaces the
    /// stored total when given (to lengthen a run; the schedule follows the new total).
    public convenience init(resumingFrom url: URL, tokenizer: Tokenizer, steps: Int? = nil) throws {
        let checkpoint = try TrainingCheckpoint(contentsOf: url)
        guard checkpoint.metadata["trainer"] == "clip", let json = checkpoint.metadata["configuration"],
              let step = checkpoint.metadata["step"].flatMap(Int.init) else {
            throw CheckpointError(file: url.path, message: "not a CLIP training checkpoint")
        }
        var configuration = try CLIPTrainingConfiguration(json: json)
        if let steps { configuration.steps = steps }
        try self.init(configuration: configuration, tokenizer: tokenizer)
        try checkpoint.restore(parameters: trainedParameters)
        do {
            try decayed.restore(try checkpoint.optimizerState("decayed"))
            try undecayed.restore(try checkpoint.optimizerState("undecayed"))
        } catch let error as OptimizerStateError {
            throw CheckpointError(file: url.path, message: error.description)
        }
        self.step = step
    }

    // MARK: Export

    /// Writes the model alone, as a CLIP checkpoint with OpenAI names that
    /// `CLIPModel(contentsOf:)` loads: float16 values (half the size; these weights lose nothing
    /// that matters at this precision), and the size settings as metadata.
    public func exportModel(to url: URL) throws {
        try Self.exportModel(model, to: url, metadata: ["step": String(step), "seed": String(configuration.seed),
                                                        "configuration": configuration.model.jsonDescription])
    }

    /// Writes `model`'s weights as float16 safetensors under OpenAI names.
    public static func exportModel(_ model: CLIPModel, to url: URL, metadata: [String: String]) throws {
        try SafeTensors.write(model.parameters.map { ($0.name, $0.tensor.shape, $0.tensor.data) }, metadata: metadata, to: url,
                              dtype: .float16)
    }
}

extension CLIPConfiguration {
    /// The size as one line of JSON.
    public var jsonDescription: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }
}
