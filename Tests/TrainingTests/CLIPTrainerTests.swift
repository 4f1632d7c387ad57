// The CLIP trainer: weight gradients of the whole objective (every layer kind the model uses)
// against finite differences, deterministic batches with correct false-negative masks, exact
// continuation after a checkpoint, and an exported model that loads as a CLIP.

import CLIP
import Foundation
import ImageCodecs
import ShapeWorld
import Tensors
import Testing
@testable import Training

@Suite("CLIP trainer", .serialized)
struct CLIPTrainerTests {
    static let tokenizer = try! Tokenizer.bundled()

    /// One layer per tower on 16x16 images: small enough for finite differences.
    static let microModel = CLIPConfiguration(embedDim: 16, imageResolution: 16, visionLayers: 1, visionWidth: 64, patchSize: 8,
                                              contextLength: 32, vocabSize: 49408, textWidth: 64, textLayers: 1)

    func configuration(_ model: CLIPConfiguration, batch: Int) -> CLIPTrainingConfiguration {
        CLIPTrainingConfiguration(model: model, seed: 3, batchSize: batch, hardNegatives: batch / 2, steps: 10, warmupSteps: 2,
                                  checkpointEvery: 2, evaluationSamples: 20)
    }

    /// d loss / d weight for the patch convolution, class and positional embeddings, every
    /// LayerNorm, the fused attention projections, MLPs, token embedding, both projections, the
    /// temperature and the attribute heads, against central differences. Each parameter is probed
    /// at its 3 largest-gradient elements (where the signal is far above Float32 rounding).
    /// Tolerance: |analytic − numeric| ≤ 2e-3 + 5e-2·max(|analytic|, |numeric|), step 2e-3.
    @Test func objectiveWeightGradientsMatchFiniteDifferences() throws {
        let trainer = try CLIPTrainer(configuration: configuration(Self.microModel, batch: 6), tokenizer: Self.tokenizer)
        let batch = try trainer.sampler.batch(step: 0)
        func loss() throws -> Tensor {
            CLIPLoss.compute(imageFeatures: trainer.model.encodeImage(batch.images), textFeatures: try trainer.model.encodeText(batch.tokens),
                             logitScale: trainer.model.logitScaleTensor, heads: trainer.heads, attributeWeight: 1,
                             specs: batch.specs, captions: batch.captions).loss
        }
        try loss().backward()
        var kinds = Set<String>()
        for (name, p) in trainer.trainedParameters {
            let grad = try #require(p.gradData, "\(name) received no gradient")
            let probes = grad.indices.sorted { abs(grad[$0]) > abs(grad[$1]) }.prefix(3)
            for i in probes {
                let saved = p.data[i], eps: Float = 2e-3
                p.data[i] = saved + eps
                let plus = try Autograd.withoutGrad { try loss().item }
                p.data[i] = saved - eps
                let minus = try Autograd.withoutGrad { try loss().item }
                p.data[i] = saved
                let numeric = (plus - minus) / (2 * eps)
                #expect(abs(grad[i] - numeric) <= 2e-3 + 5e-2 * max(abs(grad[i]), abs(numeric)),
                        "\(name)[\(i)]: analytic \(grad[i]) numeric \(numeric)")
            }
            kinds.insert(String(name.split(separator: ".").last!))
        }
        #expect(kinds.isSuperset(of: ["conv1", "class_embedding", "positional_embedding", "in_proj_weight", "in_proj_bias",
                                      "weight", "bias", "proj", "text_projection", "logit_scale"].map { $0 == "conv1" ? "weight" : $0 }))
        #expect(trainer.trainedParameters.contains { $0.name == "token_embedding.weight" })
    }

    @Test func batchesAreDeterministicGroupedAndMasked() throws {
        let c = configuration(CLIPTrainingConfiguration.tinyModel, batch: 16)
        let sampler = CLIPBatchSampler(configuration: c, tokenizer: Self.tokenizer)
        let a = try sampler.batch(step: 5), b = try sampler.batch(step: 5), other = try sampler.batch(step: 6)
        #expect(a.images.data == b.images.data && a.captions == b.captions && a.tokens == b.tokens)
        #expect(a.specs != other.specs)
        #expect(a.images.shape == [16, 3, 32, 32] && a.captions.count == 16 + 8 && a.tokens.count == 24)
        // The second half comes in groups of four alike in colour, background and size.
        for g in stride(from: 8, to: 16, by: 4) {
            let group = a.specs[g..<(g + 4)]
            #expect(Set(group.map(\.primary.color)).count == 1 && Set(group.map(\.background)).count == 1
                    && Set(group.map(\.primary.size)).count == 1)
            #expect(Set(group.map { "\($0.primary.shape) \($0.position!)" }).count == 4)
        }
        // Captions describe their images; hard negatives do not; the mask holds exactly the other fits.
        let mask = CLIPLoss.falseNegatives(specs: a.specs, captions: a.captions)
        for i in 0..<16 {
            #expect(a.captions[i].mention.isSatisfied(by: a.specs[i]))
            for k in a.captions.indices where k != i {
                #expect(mask[i][k] == a.captions[k].mention.isSatisfied(by: a.specs[i]))
            }
        }
        #expect(mask.joined().contains(true))   // omitted attributes make some captions fit several images
    }

    /// Distractors from a folder of images: read at the model's input size (another size is an
    /// error naming the file), drawn from the folder's images only, and the rest of the batch is
    /// the batch without them.
    @Test func distractorImagesComeFromTheFolder() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("distractors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let colors: [(UInt8, UInt8, UInt8)] = [(255, 0, 0), (0, 0, 255)]
        for (k, color) in colors.enumerated() {
            try ImageIO.writePNG(RGBImage(width: 32, height: 32, fill: color), to: folder.appendingPathComponent("render-\(k).png"))
        }
        let pool = try CLIPBatchSampler.distractorImages(in: folder, side: 32)
        #expect(pool.count == 2 && pool[0].count == 3 * 32 * 32 && pool[0][0] == 1 && pool[1][0] == 0)

        var c = configuration(CLIPTrainingConfiguration.tinyModel, batch: 8)
        let plain = try CLIPBatchSampler(configuration: c, tokenizer: Self.tokenizer).batch(step: 2)
        c.distractors = 6
        c.distractorImages = folder.path
        let batch = try CLIPBatchSampler(configuration: c, tokenizer: Self.tokenizer, distractorPool: pool).batch(step: 2)
        #expect(batch.images.data == plain.images.data && batch.captions == plain.captions)
        let distractors = try #require(batch.distractors)
        #expect(distractors.shape == [6, 3, 32, 32])
        let expected = pool.map { CLIPPreprocess.normalize(Tensor(shape: [1, 3, 32, 32], data: $0)).data }
        for k in 0..<6 {
            let image = Array(distractors.data[(k * 3072)..<((k + 1) * 3072)])
            #expect(expected.contains(image), "distractor \(k) is not one of the folder's images")
        }
        // A trainer reads the folder its configuration names (as on resuming) into the same batches.
        #expect(try CLIPTrainer(configuration: c, tokenizer: Self.tokenizer).sampler.batch(step: 2).distractors?.data == distractors.data)

        let missing = folder.appendingPathComponent("missing")
        #expect {
            _ = try CLIPBatchSampler.distractorImages(in: missing, side: 32)
        } throws: { error in
            error is CLIPError && "\(error)".contains(missing.path)
        }
        try ImageIO.writePNG(RGBImage(width: 16, height: 32), to: folder.appendingPathComponent("render-2.png"))
        #expect {
            _ = try CLIPBatchSampler.distractorImages(in: folder, side: 32)
        } throws: { error in
            "\(error)".contains("render-2.png") && "\(error)".contains("16x32")
        }
    }

    /// Distractors leave the rest of the batch as it was, are drawn from its one-object images
    /// (same background, pieces of the object's colour), and enter only the captions' softmax
    /// over images: the loss grows by exactly half the change of that cross-entropy, computed
    /// here by hand in Double.
    @Test func distractorsAreExtraImageCandidatesOfTheCaptions() throws {
        var c = configuration(CLIPTrainingConfiguration.tinyModel, batch: 8)
        let plain = try CLIPBatchSampler(configuration: c, tokenizer: Self.tokenizer).batch(step: 2)
        c.distractors = 3
        let batch = try CLIPBatchSampler(configuration: c, tokenizer: Self.tokenizer).batch(step: 2)
        #expect(batch.images.data == plain.images.data && batch.captions == plain.captions && plain.distractors == nil)
        let distractors = try #require(batch.distractors)
        #expect(distractors.shape == [3, 3, 32, 32])

        // Without augmentation, a fragment image holds only the background, the object's colour and
        // blends of the two, and it is not the scene itself.
        var still = c
        (still.augmentation.zoom, still.augmentation.shift, still.augmentation.brightness) = (1...1, 0, 1...1)
        (still.augmentation.channelOffset, still.augmentation.noise) = (0, 0)
        let sampler = CLIPBatchSampler(configuration: still, tokenizer: Self.tokenizer)
        var generator = SeededGenerator(seed: 4)
        for scene in ShapeWorldGenerator(seed: 5, pairProbability: 0, absolutePositions: true).scenes(12) {
            let fragment = sampler.distractorPixels(scene, side: 32, rng: &generator)
            let source = ShapeRasterizer.render(scene, width: 32, height: 32).data
            #expect(fragment != source)
            let unit = { (rgb: (r: UInt8, g: UInt8, b: UInt8)) in [Float(rgb.r), Float(rgb.g), Float(rgb.b)].map { $0 / 255 } }
            let (bg, fg) = (unit(scene.spec.background.rgb), unit(scene.spec.primary.color.rgb))
            let lead = (0..<3).max { abs(fg[$0] - bg[$0]) < abs(fg[$1] - bg[$1]) }!
            var covered: Float = 0
            for i in 0..<(32 * 32) {
                let t = (fragment[lead * 1024 + i] - bg[lead]) / (fg[lead] - bg[lead])
                covered += t
                #expect((0..<3).allSatisfy { ch in abs(fragment[ch * 1024 + i] - (bg[ch] + t * (fg[ch] - bg[ch]))) < 1e-4 })
            }
            #expect(covered > 1)
        }

        var rng = SeededGenerator(seed: 9)
        func features(_ n: Int) -> Tensor { Tensor(shape: [n, 5], data: (0..<(n * 5)).map { _ in rng.nextNormal() }) }
        let (images, texts, extra) = (features(8), features(batch.captions.count), features(3))
        let scale = Tensor(shape: [], data: [Float(log(7.0))])
        func loss(_ d: Tensor?) -> Double {
            Double(CLIPLoss.compute(imageFeatures: images, textFeatures: texts, distractorFeatures: d, logitScale: scale,
                                    heads: nil, attributeWeight: 0, specs: batch.specs, captions: batch.captions).loss.item)
        }
        func unit(_ t: Tensor, _ row: Int) -> [Double] {
            let v = (0..<5).map { Double(t.data[row * 5 + $0]) }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return v.map { $0 / norm }
        }
        let mask = CLIPLoss.falseNegatives(specs: batch.specs, captions: batch.captions)
        func textToImage(withDistractors: Bool) -> Double {
            var total = 0.0
            for i in 0..<8 {
                let t = unit(texts, i)
                var logits: [Double] = (0..<8).filter { j in j == i || !mask[j][i] }.map { j in
                    7 * zip(t, unit(images, j)).reduce(0) { $0 + $1.0 * $1.1 }
                }
                if withDistractors { logits += (0..<3).map { k in 7 * zip(t, unit(extra, k)).reduce(0) { $0 + $1.0 * $1.1 } } }
                let own = 7 * zip(t, unit(images, i)).reduce(0) { $0 + $1.0 * $1.1 }
                total += log(logits.reduce(0) { $0 + exp($1) }) - own
            }
            return total / 8
        }
        let expected = 0.5 * (textToImage(withDistractors: true) - textToImage(withDistractors: false))
        #expect(expected > 0)
        #expect(abs((loss(extra) - loss(nil)) - expected) < 1e-4)
    }

    @Test(arguments: [nil, CLIPAdversarialTraining(steps: 2, epsilon: 0.5, norm: .l2, fraction: 0.5)])
    func resumedTrainingContinuesExactly(adversarial: CLIPAdversarialTraining?) throws {
        var c = configuration(CLIPTrainingConfiguration.tinyModel, batch: 8)
        c.adversarial = adversarial
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("clip-train-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        let first = try CLIPTrainer(configuration: c, tokenizer: Self.tokenizer)
        for _ in 0..<2 { _ = try first.trainStep() }
        try first.saveCheckpoint(to: url)
        var losses: [Float] = []
        for _ in 0..<2 { losses.append(try first.trainStep().loss.total) }

        let resumed = try CLIPTrainer(resumingFrom: url, tokenizer: Self.tokenizer)
        #expect(resumed.step == 2 && resumed.configuration == c)
        var resumedLosses: [Float] = []
        for _ in 0..<2 { resumedLosses.append(try resumed.trainStep().loss.total) }
        #expect(losses == resumedLosses)
        for (a, b) in zip(first.trainedParameters, resumed.trainedParameters) {
            #expect(a.name == b.name && a.tensor.data == b.tensor.data, "\(a.name)")
        }
    }

    @Test func lossFallsAndTheExportLoadsAsACLIP() throws {
        let c = configuration(CLIPTrainingConfiguration.tinyModel, batch: 16)
        let trainer = try CLIPTrainer(configuration: c, tokenizer: Self.tokenizer)
        let reports = try (0..<8).map { _ in try trainer.trainStep() }
        #expect(reports.last!.loss.total < reports.first!.loss.total)
        #expect(reports.allSatisfy { $0.imagesPerSecond > 0 && $0.loss.temperature <= 100.001 })

        let url = FileManager.default.temporaryDirectory.appendingPathComponent("clip-export-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try trainer.exportModel(to: url)
        let loaded = try CLIPModel(contentsOf: url)
        #expect(loaded.configuration == c.model)
        // float16 storage: features agree to about 1e-3 of their size.
        let batch = try trainer.sampler.batch(step: 100)
        let original = Autograd.withoutGrad { trainer.model.encodeImage(batch.images) }
        let reloaded = loaded.encodeImage(batch.images)
        let scale = original.data.map(abs).max()!
        #expect(zip(original.data, reloaded.data).allSatisfy { abs($0 - $1) <= 5e-3 * scale })

        let report = try CLIPEvaluation.evaluate(loaded, tokenizer: Self.tokenizer, seed: 1, samples: 30, retrievalCount: 20)
        for attribute in WorldAttribute.allCases {
            #expect((0...1).contains(report.accuracy[attribute]!))
            #expect(report.confusion[attribute]!.joined().reduce(0, +) == 30)
        }
        let sheet = CLIPEvaluation.confusionSheet(report)
        #expect(sheet.width > 200 && sheet.height > 100)
    }

    /// The checkpoint keys the shipped model uses are OpenAI's, and the sizes are the embedded ones.
    @Test func embeddedConfigurationStaysSmall() {
        let m = CLIPTrainingConfiguration.embeddedModel
        let model = CLIPModel.random(m)
        let count = model.parameters.reduce(0) { $0 + $1.tensor.count }
        #expect(count * 2 < 10_000_000)   // float16 bytes
        #expect(model.parameters.contains { $0.name == "visual.transformer.resblocks.3.attn.in_proj_weight" })
    }

    /// d loss / d image pixel, the gradient the adversarial search climbs (and the renderer
    /// follows), against central differences at the 6 largest-gradient pixels.
    /// Tolerance: |analytic − numeric| ≤ 2e-3 + 5e-2·max(|analytic|, |numeric|), step 2e-3.
    @Test func objectiveImageGradientMatchesFiniteDifferences() throws {
        let trainer = try CLIPTrainer(configuration: configuration(Self.microModel, batch: 6), tokenizer: Self.tokenizer)
        let batch = try trainer.sampler.batch(step: 1)
        let images = Tensor(shape: batch.images.shape, data: batch.images.data, requiresGrad: true)
        func loss(_ x: Tensor) throws -> Tensor {
            CLIPLoss.compute(imageFeatures: trainer.model.encodeImage(x), textFeatures: try trainer.model.encodeText(batch.tokens),
                             logitScale: trainer.model.logitScaleTensor, heads: trainer.heads, attributeWeight: 1,
                             specs: batch.specs, captions: batch.captions).loss
        }
        try loss(images).backward()
        let grad = try #require(images.gradData)
        #expect(grad.contains { $0 != 0 })
        for i in grad.indices.sorted(by: { abs(grad[$0]) > abs(grad[$1]) }).prefix(6) {
            let eps: Float = 2e-3
            var data = batch.images.data
            data[i] += eps
            let plus = try Autograd.withoutGrad { try loss(Tensor(shape: images.shape, data: data)).item }
            data[i] -= 2 * eps
            let minus = try Autograd.withoutGrad { try loss(Tensor(shape: images.shape, data: data)).item }
            let numeric = (plus - minus) / (2 * eps)
            #expect(abs(grad[i] - numeric) <= 2e-3 + 5e-2 * max(abs(grad[i]), abs(numeric)), "pixel \(i): analytic \(grad[i]) numeric \(numeric)")
        }
    }

    /// The adversarial images: only the chosen share moves, each within its ball (in pixel units,
    /// measured after undoing CLIP's normalisation; tolerance 1e-4 for rounding), and the loss on
    /// them is higher than on the clean batch.
    @Test(arguments: [CLIPAdversarialTraining.Norm.l2, .linf])
    func adversarialImagesStayInTheirBallAndRaiseTheLoss(norm: CLIPAdversarialTraining.Norm) throws {
        let settings = CLIPAdversarialTraining(steps: 3, epsilon: norm == .l2 ? 1 : 4 / 255, norm: norm, fraction: 0.5)
        let trainer = try CLIPTrainer(configuration: configuration(Self.microModel, batch: 8), tokenizer: Self.tokenizer)
        let batch = try trainer.sampler.batch(step: 2)
        let perturbed = try trainer.adversarialImages(batch, settings)
        let (c, plane) = (batch.images.shape[1], batch.images.shape[2] * batch.images.shape[3])
        #expect((0..<8).filter { settings.perturbs($0, of: 8) } == [1, 3, 5, 7])
        for i in 0..<8 {
            var change = [Float]()
            for ch in 0..<c {
                for k in 0..<plane {
                    let index = (i * c + ch) * plane + k
                    change.append((perturbed.data[index] - batch.images.data[index]) * CLIPPreprocess.std[ch])
                }
            }
            let size = norm == .l2 ? change.reduce(0) { $0 + $1 * $1 }.squareRoot() : change.map(abs).max()!
            if settings.perturbs(i, of: 8) {
                #expect(size > 0.5 * settings.epsilon && size <= settings.epsilon + 1e-4, "image \(i): \(size)")
            } else {
                #expect(size == 0, "image \(i) moved")
            }
        }
        func loss(_ images: Tensor) throws -> Float {
            try Autograd.withoutGrad {
                CLIPLoss.compute(imageFeatures: trainer.model.encodeImage(images), textFeatures: try trainer.model.encodeText(batch.tokens),
                                 logitScale: trainer.model.logitScaleTensor, heads: trainer.heads, attributeWeight: 2,
                                 specs: batch.specs, captions: batch.captions).loss.item
            }
        }
        #expect(try loss(perturbed) > loss(batch.images))
    }

    /// A fine-tuning start takes every weight of the given model; the heads keep their own start.
    @Test func initialWeightsComeFromTheGivenModel() throws {
        let c = configuration(Self.microModel, batch: 4)
        let source = CLIPModel.random(Self.microModel, seed: 77)
        let trainer = try CLIPTrainer(configuration: c, tokenizer: Self.tokenizer)
        let heads = trainer.heads.parameters.map(\.tensor.data)
        try trainer.loadInitialWeights(from: source)
        for (a, b) in zip(trainer.model.parameters, source.parameters) where a.name != "logit_scale" {
            #expect(a.name == b.name && a.tensor.data == b.tensor.data, "\(a.name)")
        }
        #expect(trainer.heads.parameters.map(\.tensor.data) == heads)
        #expect(throws: CLIPError.self) { try trainer.loadInitialWeights(from: CLIPModel.random(CLIPTrainingConfiguration.tinyModel)) }
    }
}
