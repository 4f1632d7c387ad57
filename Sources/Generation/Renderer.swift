// VQGAN+CLIP rendering: the latent z of a VQGAN is optimised so that CLIP finds the decoded
// image close to the prompts. One step, as in the notebooks and nerdyrodent's generate.py:
//   z_q = z + sg(nearest code − z)            straight-through quantisation
//   image = clampWithGrad((decode(z_q) + 1) / 2, 0, 1)
//   views = cutouts(image)                     "original" crops or "latest" pooled + augmented views
//   f = CLIP.encodeImage(normalize(views))
//   loss = Σ_prompts |w| · mean(gate(sign(w) · 2·arcsin(‖f̂ − ê‖/2)², stop))  (+ init-weight term)
//   backward to z only, optimiser step, z clamped per channel to the codebook's range.

import CLIP
import Optimizers
import Tensors
import VQGAN

/// How the views CLIP scores are cut from the image.
public enum CutMethod: String, Sendable, Codable, CaseIterable {
    /// Random squares of side u^cutPow·(max − min) + min, resampled with the notebooks' filter.
    case original
    /// The whole image pooled to CLIP's size, augmented per view, plus noise.
    case latest
}

/// Where z starts.
public enum InitNoise: String, Sendable, Codable, CaseIterable {
    /// Random codebook entries (the default when there is no init image).
    case codes
    /// Uniform random RGB pixels, encoded.
    case pixels
    /// Random linear colour ramps, encoded.
    case gradient
    /// A flat mid-gray image, encoded: nothing for CLIP to latch onto but what the prompt asks
    /// (the cleanest start for the small embedded models).
    case flat
}

/// Which optimiser moves z.
public enum OptimizerKind: String, Sendable, Codable, CaseIterable {
    case adam, adamw, adagrad
}

/// Everything that decides a render's pixels, apart from the models and input files' contents.
public struct RenderSettings: Codable, Equatable, Sendable {
    /// The prompt string in the `|`, `:weight:stop`, `^` syntax.
    public var prompt: String
    /// Image prompts as given, `PATH[:weight[:stop]]`.
    public var imagePrompts: [String] = []
    /// Requested size; the render uses it rounded down to a multiple of the VQGAN factor.
    public var width: Int = 256
    public var height: Int = 256
    public var iterations: Int = 500
    public var learningRate: Float = 0.1
    public var optimizer: OptimizerKind = .adam
    public var cutn: Int = 32
    public var cutPow: Float = 1
    public var cutMethod: CutMethod = .latest
    public var augments: [Augmentation] = Augmentation.defaults
    /// The seed as given: an integer, or any string (hashed).
    public var seed: String
    public var initImage: String?
    public var initNoise: InitNoise = .codes
    /// Candidate starts scored by the CLIP before the first step (the caller draws them, e.g.
    /// scenes of the embedded models' world); the render starts from the best. nil (absent in
    /// settings from before it existed) or 0: none.
    public var initSearch: Int?
    /// Weight of 0.5·mean((z − z₀)²), which keeps z near where it started.
    public var initWeight: Float = 0
    /// Weight of the image's total variation (mean absolute difference of neighbouring pixels,
    /// ``Renderer/totalVariation(_:)``), which favours flat regions with sharp edges over the
    /// speckle a small CLIP's gradients leave. nil (absent in settings from before it existed) is 0.
    public var tvWeight: Float?
    /// Story mode: switch to the next `^` set every this many steps (0: never).
    public var changePromptEvery: Int = 0

    public init(prompt: String, seed: String) {
        self.prompt = prompt
        self.seed = seed
    }

    /// The 64-bit seed: the integer itself, or a stable hash of any other string.
    public var seedValue: UInt64 { RenderSettings.seedValue(seed) }

    public static func seedValue(_ seed: String) -> UInt64 {
        if let value = UInt64(seed) { return value }
        return stableHash(seed)
    }
}

/// A prompt ready to score: its CLIP embeddings (one row for a text, one per view for an image).
public struct PromptTarget {
    public var label: String
    public var embeddings: Tensor   // [k, E], L2-normalised
    public var weight: Float
    public var stop: Float

    public init(label: String, embeddings: Tensor, weight: Float, stop: Float) {
        self.label = label
        self.embeddings = Autograd.withoutGrad { embeddings.l2Normalized(axis: -1) }
        self.weight = weight
        self.stop = stop
    }

    /// |w| · mean over views and rows of the signed spherical distance, gated below `stop`.
    public func loss(_ features: Tensor) -> Tensor {
        let (n, e) = (features.shape[0], features.shape[1])
        let k = embeddings.shape[0]
        let a = features.l2Normalized(axis: -1).reshaped([n, 1, e])
        let b = embeddings.reshaped([1, k, e])
        let chord = (a - b).pow(2).sum(axes: [2]).sqrt()          // [N, k]
        let distance = (chord * 0.5).arcsin().pow(2) * 2
        let signed = weight < 0 ? distance * -1 : distance
        return signed.gradientGated(above: stop).mean() * Swift.abs(weight)
    }
}

/// How a render without an init image chooses its start (``RenderSettings/initSearch``).
public protocol InitSearch {
    /// The start image [1, 3, h, w] in [0, 1]. `score` gives the prompts' loss (lower is better) of
    /// each of k images [k, 3, h', w'] in [0, 1], any k and any size.
    func chooseStart(score: (Tensor) -> [Float]) -> Tensor
}

/// The plain search: `count` fixed candidates, drawn on demand as [k, 3, h, w] in [0, 1] for a
/// range of indices (the same images for the same range); the lowest loss wins.
public struct InitCandidates: InitSearch {
    public let count: Int
    public let images: (Range<Int>) -> Tensor

    public init(count: Int, images: @escaping (Range<Int>) -> Tensor) {
        self.count = count
        self.images = images
    }

    /// Every candidate's loss and the index of the lowest, drawn and scored 256 at a time so
    /// that memory does not grow with the count.
    public func best(score: (Tensor) -> [Float]) -> (index: Int, losses: [Float]) {
        var losses: [Float] = []
        for lo in stride(from: 0, to: count, by: 256) {
            losses += score(images(lo..<min(count, lo + 256)))
        }
        let best = losses.indices.min { losses[$0] < losses[$1] } ?? 0
        return (best, losses)
    }

    public func chooseStart(score: (Tensor) -> [Float]) -> Tensor {
        let index = best(score: score).index
        return images(index..<(index + 1))
    }
}

/// Errors of a render's inputs.
public struct RenderError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A VQGAN+CLIP render in progress: owns z, the optimiser and the random stream.
public final class Renderer {
    public let settings: RenderSettings
    public let vqgan: VQModel
    public let clip: CLIPModel
    /// The size actually rendered (rounded down to the VQGAN factor).
    public let width: Int, height: Int
    /// The optimised latent [1, embed_dim, height/f, width/f].
    public let z: Tensor
    /// Where z started (for the init-weight term and the state file).
    public let zInitial: Tensor
    public let loop: OptimizationLoop
    /// Prompt sets (story mode), each with its text and image targets.
    public let promptSets: [[PromptTarget]]
    /// The stream that draws cutouts and augmentations; saved with the state.
    public var rng: SeededGenerator

    /// The VQGAN's downsampling factor.
    public static func factor(of vqgan: VQModel) -> Int { vqgan.config.ddconfig.downsamplingFactor }

    /// Prepares a render. `initImage` ([1, 3, h, w] in [0, 1], any size) replaces the noise
    /// init; `imagePrompts` are (label, image [1, 3, h, w] in [0, 1], weight, stop).
    /// `initSearch`, when there is no init image, replaces the noise init too: the render starts
    /// from the image it chooses under the first prompt set's loss (``promptLosses``).
    public init(settings: RenderSettings, vqgan: VQModel, clip: CLIPModel, tokenizer: Tokenizer,
                initImage: Tensor? = nil, imagePrompts: [(label: String, image: Tensor, weight: Float, stop: Float)] = [],
                initSearch: (any InitSearch)? = nil, truncatePrompts: Bool = false) throws {
        self.settings = settings
        self.vqgan = vqgan
        self.clip = clip
        let f = Renderer.factor(of: vqgan)
        width = settings.width / f * f
        height = settings.height / f * f
        guard width > 0, height > 0 else {
            throw RenderError("size \(settings.width)x\(settings.height) is smaller than the VQGAN's factor \(f)")
        }
        guard settings.cutn > 0 else { throw RenderError("--cutn must be at least 1") }
        var rng = SeededGenerator(seed: settings.seedValue)

        // z: everything random is drawn from the seeded stream first, in a fixed order.
        let latentShape = [1, vqgan.config.embedDim, height / f, width / f]
        // A searched start is chosen once the prompts are encoded (below).
        var start: Tensor?
        if let initImage {
            start = Renderer.encode(initImage, vqgan: vqgan, width: width, height: height)
        } else if initSearch == nil {
            switch settings.initNoise {
            case .codes:
                let count = latentShape[2] * latentShape[3]
                let indices = (0..<count).map { _ in Int(rng.next() % UInt64(vqgan.quantizer.count)) }
                start = Autograd.withoutGrad {
                    vqgan.quantizer.lookup(indices, batch: 1, height: latentShape[2], width: latentShape[3])
                }
            case .pixels, .gradient, .flat:
                let image: Tensor
                switch settings.initNoise {
                case .pixels: image = Renderer.pixelNoise(width: width, height: height, using: &rng)
                case .gradient: image = Renderer.gradientNoise(width: width, height: height, using: &rng)
                default: image = Tensor(shape: [1, 3, height, width], data: [Float](repeating: 0.5, count: 3 * width * height))
                }
                start = Renderer.encode(image, vqgan: vqgan, width: width, height: height)
            }
        }
        // Prompts: every set's texts in one encoder batch, images through the render's own views.
        let sets = try PromptSyntax.parse(settings.prompt)
        let texts = sets.flatMap { $0.map(\.text) }
        let textFeatures = try Autograd.withoutGrad {
            try clip.encodeText(texts, tokenizer: tokenizer, truncate: truncatePrompts)
        }
        let e = textFeatures.shape[1]
        var row = 0
        var built: [[PromptTarget]] = []
        for set in sets {
            built.append(set.map { p in
                defer { row += 1 }
                return PromptTarget(label: p.text, embeddings: Tensor(shape: [1, e], data: Array(textFeatures.data[(row * e)..<((row + 1) * e)])),
                                    weight: p.weight, stop: p.stop)
            })
        }
        let resolution = clip.configuration.imageResolution
        let (w, h) = (width, height)
        let imageTargets = imagePrompts.map { prompt -> PromptTarget in
            let views = Renderer.views(of: Tensor.resizeBilinear(prompt.image, height: h, width: w),
                                       settings: settings, cutSize: resolution, using: &rng)
            let features = Autograd.withoutGrad { clip.encodeImage(CLIPPreprocess.normalize(views)) }
            return PromptTarget(label: prompt.label, embeddings: features, weight: prompt.weight, stop: prompt.stop)
        }
        promptSets = built.map { $0 + imageTargets }
        self.rng = rng

        if start == nil, let initSearch {
            let targets = promptSets[0]
            let image = initSearch.chooseStart { Renderer.promptLosses($0, targets: targets, clip: clip) }
            start = Renderer.encode(image, vqgan: vqgan, width: width, height: height)
        }
        let begin = start!
        z = Tensor(shape: begin.shape, data: begin.data, requiresGrad: true)
        zInitial = begin

        let optimizer: Optimizer
        switch settings.optimizer {
        case .adam: optimizer = Adam(parameters: [z], learningRate: settings.learningRate)
        case .adamw: optimizer = Adam.adamW(parameters: [z], learningRate: settings.learningRate)
        case .adagrad: optimizer = Adagrad(parameters: [z], learningRate: settings.learningRate)
        }
        let quantizer = vqgan.quantizer
        let (zStart, initWeight, tvWeight) = (zInitial, settings.initWeight, settings.tvWeight ?? 0)
        let sets2 = promptSets
        let changeEvery = settings.changePromptEvery
        weak var weakSelf: Renderer?
        loop = OptimizationLoop(
            parameter: z, optimizer: optimizer,
            render: { Renderer.synthesize($0, vqgan: vqgan) },
            loss: { image, step in
                guard let self = weakSelf else { throw RenderError("renderer released") }
                let views = Renderer.views(of: image, settings: settings, cutSize: resolution, using: &self.rng)
                let features = clip.encodeImage(CLIPPreprocess.normalize(views))
                let set = sets2[changeEvery > 0 ? (step / changeEvery) % sets2.count : 0]
                var (loss, terms) = Renderer.objective(features: features, targets: set, z: self.z, zInitial: zStart,
                                                       initWeight: initWeight)
                if tvWeight > 0 {
                    let term = Renderer.totalVariation(image) * tvWeight
                    terms.append(("tv", term.item))
                    loss = loss + term
                }
                return (loss, terms)
            },
            project: { Renderer.clampToCodebook($0, quantizer: quantizer) })
        weakSelf = self
    }

    /// The loss of each image [k, 3, h, w] in [0, 1] under `targets` (text and image prompts),
    /// from one unaugmented view of the whole frame at the CLIP's size, without gradients.
    public static func promptLosses(_ images: Tensor, targets: [PromptTarget], clip: CLIPModel) -> [Float] {
        let size = clip.configuration.imageResolution
        var losses: [Float] = []
        Autograd.withoutGrad {
            for lo in stride(from: 0, to: images.shape[0], by: 256) {
                var batch = Tensor.slice(images, axis: 0, range: lo..<min(images.shape[0], lo + 256))
                if batch.shape[2] != size || batch.shape[3] != size {
                    batch = Tensor.resizeBilinear(batch, height: size, width: size)
                }
                let features = clip.encodeImage(CLIPPreprocess.normalize(batch))
                for row in 0..<features.shape[0] {
                    let one = Tensor.slice(features, axis: 0, range: row..<(row + 1))
                    losses.append(targets.reduce(0) { $0 + $1.loss(one).item })
                }
            }
        }
        return losses
    }

    /// The loss of one step: the sum of every target's loss on the image features [N, E], plus
    /// 0.5 · initWeight · mean((z − zInitial)²) when initWeight is not 0; with each part's value.
    public static func objective(features: Tensor, targets: [PromptTarget], z: Tensor, zInitial: Tensor,
                                 initWeight: Float) -> (Tensor, [(name: String, value: Float)]) {
        var terms: [(String, Float)] = []
        var total: Tensor? = nil
        for target in targets {
            let term = target.loss(features)
            terms.append((target.label, term.item))
            total = total.map { $0 + term } ?? term
        }
        if initWeight != 0 || total == nil {
            let term = (z - zInitial).pow(2).mean() * (0.5 * initWeight)
            terms.append(("init_weight", term.item))
            total = total.map { $0 + term } ?? term
        }
        return (total!, terms)
    }

    /// Anisotropic total variation of images [N, C, H, W]: the mean over every horizontal and
    /// vertical neighbour pair of |difference|, summed over the two directions. Its gradient
    /// is the same size wherever an edge is, so it removes speckle without blurring edges the
    /// way a squared difference does.
    public static func totalVariation(_ image: Tensor) -> Tensor {
        let (h, w) = (image.shape[2], image.shape[3])
        let across = Tensor.slice(image, axis: 3, range: 1..<w) - Tensor.slice(image, axis: 3, range: 0..<(w - 1))
        let down = Tensor.slice(image, axis: 2, range: 1..<h) - Tensor.slice(image, axis: 2, range: 0..<(h - 1))
        return across.abs().mean() + down.abs().mean()
    }

    /// z ← min(max(z, codebook min), codebook max) per channel, in place (outside the graph).
    public static func clampToCodebook(_ z: Tensor, quantizer: VectorQuantizer) {
        let (c, plane) = (z.shape[1], z.shape[2] * z.shape[3])
        for ch in 0..<c {
            let (lo, hi) = (quantizer.channelMin[ch], quantizer.channelMax[ch])
            for i in (ch * plane)..<((ch + 1) * plane) { z.data[i] = min(max(z.data[i], lo), hi) }
        }
    }

    /// z → image [1, 3, H, W] in [0, 1]: straight-through quantisation, decoder, clamp with gradient.
    public static func synthesize(_ z: Tensor, vqgan: VQModel) -> Tensor {
        let quantized = vqgan.quantize(z).quantized
        return ((vqgan.decode(quantized) + 1) * 0.5).clampedWithGradient(min: 0, max: 1)
    }

    /// The views CLIP scores, [cutn, 3, S, S], drawn from `rng`.
    public static func views(of image: Tensor, settings: RenderSettings, cutSize: Int,
                             using rng: inout SeededGenerator) -> Tensor {
        switch settings.cutMethod {
        case .original:
            let cuts = CutoutBatch.random(count: settings.cutn, cutSize: cutSize, cutPower: settings.cutPow,
                                          height: image.shape[2], width: image.shape[3], filter: .lanczosBicubic, using: &rng)
            return cuts.apply(image).clampedWithGradient(min: 0, max: 1)
        case .latest:
            return AugmentedViews(count: settings.cutn, size: cutSize, augmentations: settings.augments).apply(image, using: &rng)
        }
    }

    /// The quantised latent of an image [1, 3, h, w] in [0, 1], resized to width × height.
    static func encode(_ image: Tensor, vqgan: VQModel, width: Int, height: Int) -> Tensor {
        Autograd.withoutGrad {
            let (ih, iw) = (image.shape[2], image.shape[3])
            let rows = Tensor(shape: [height, ih], data: Resampling.weights(offset: 0, length: ih, fullLength: ih, outputLength: height))
            let columns = Tensor(shape: [width, iw], data: Resampling.weights(offset: 0, length: iw, fullLength: iw, outputLength: width))
            let sized = Resampling.apply(image, rows: rows, columns: columns)
            return vqgan.quantize(vqgan.encode(sized * 2 - 1)).quantized.detached()
        }
    }

    /// Uniform random 8-bit RGB (0…254, as the reference draws it), in [0, 1].
    static func pixelNoise(width: Int, height: Int, using rng: inout SeededGenerator) -> Tensor {
        Tensor(shape: [1, 3, height, width], data: (0..<(3 * width * height)).map { _ in Float(rng.next() % 255) / 255 })
    }

    /// The reference's `gradient` noise: R a horizontal ramp 0→U{1..254}, G a vertical ramp
    /// 0→U{2..254}, B a vertical ramp U{0..254}→U{3..127}, in [0, 1].
    static func gradientNoise(width: Int, height: Int, using rng: inout SeededGenerator) -> Tensor {
        func draw(_ lo: Int, _ hi: Int) -> Float { Float(lo + Int(rng.next() % UInt64(hi - lo + 1))) }
        let rEnd = draw(1, 254), gEnd = draw(2, 254), bStart = draw(0, 254), bEnd = draw(3, 127)
        var data = [Float](repeating: 0, count: 3 * width * height)
        func ramp(_ i: Int, _ n: Int, _ a: Float, _ b: Float) -> Float { n > 1 ? a + (b - a) * Float(i) / Float(n - 1) : a }
        for y in 0..<height {
            for x in 0..<width {
                data[y * width + x] = ramp(x, width, 0, rEnd) / 255
                data[(height + y) * width + x] = ramp(y, height, 0, gEnd) / 255
                data[(2 * height + y) * width + x] = ramp(y, height, bStart, bEnd) / 255
            }
        }
        return Tensor(shape: [1, 3, height, width], data: data)
    }

    /// Updates taken so far.
    public var step: Int { loop.step }

    /// One update; the loss report is measured before it.
    @discardableResult
    public func takeStep() throws -> LossReport { try loop.takeStep() }

    /// The current image [1, 3, H, W] in [0, 1].
    public func currentImage() -> Tensor { loop.currentImage() }
}

/// A stable 64-bit hash of a string (FNV-1a over its UTF-8 bytes, then a SplitMix finaliser):
/// string seeds give the same number on every machine and in every version.
func stableHash(_ s: String) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in s.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
    h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
    h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
    return h ^ (h >> 31)
}
