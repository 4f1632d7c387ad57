// A ViT CLIP model: both towers, the logit scale, loading from OpenAI / Hugging Face checkpoints,
// and the similarity helpers that `vqclip score` and the rendering losses build on.

import Checkpoints
import FilePaths
import Foundation
import Layers
import Tensors

/// OpenAI's CLIP (ViT variants).
///
/// `encodeImage` is differentiable with respect to its input: rendering takes d loss / d pixels
/// through it, batched over cutouts. Weights loaded frozen (the default) never receive gradients,
/// so backward only computes what the input gradient needs; loaded with `requiresGrad: true`,
/// every parameter (``parameters``) is a leaf that training can update.
public final class CLIPModel {
    /// The size inferred from the weights.
    public let configuration: CLIPConfiguration
    public let visual: VisionTransformer
    public let text: TextTransformer
    /// The learned temperature `logit_scale` [] (a scalar tensor), stored as its logarithm.
    public let logitScaleTensor: Tensor
    /// Every parameter under its OpenAI checkpoint key, in build order.
    public let parameters: [(name: String, tensor: Tensor)]

    /// The temperature's logarithm as a number (exp(logitScale) ≈ 100 when trained).
    public var logitScale: Float { logitScaleTensor.data[0] }

    /// Builds the model from OpenAI-named weights, strictly: every tensor must be present with
    /// its exact shape and every stored tensor must be used.
    public init(configuration: CLIPConfiguration, weights: WeightLoader) throws {
        self.configuration = configuration
        let root = weights.root
        visual = try VisionTransformer(root.scope("visual"), configuration: configuration)
        text = try TextTransformer(root, configuration: configuration)
        logitScaleTensor = try root.tensor("logit_scale", shape: [], initializer: .constant(Float(Foundation.log(100.0))))
        try weights.finish()
        parameters = weights.parameters
    }

    /// Builds the model from a checkpoint's state dict, recognising the naming: OpenAI's
    /// (`visual.transformer.resblocks.0.attn.in_proj_weight`, also in TorchScript archives) or
    /// Hugging Face's (`vision_model.encoder.layers.0.self_attn.q_proj.weight`, renamed and fused).
    /// The size is inferred from the shapes. Parameters require gradients when `requiresGrad`.
    public convenience init(stateDict: StateDict, requiresGrad: Bool = false) throws {
        let file = (stateDict.source as NSString).lastPathComponent
        var source = WeightSource(stateDict: stateDict, file: file)
        for name in Self.ignoredNames { source.entries[name] = nil }
        if source.entries.keys.contains(where: { $0.hasPrefix("vision_model.") || $0.hasPrefix("text_model.") }) {
            source.entries = try HuggingFaceNames.toOpenAI(source.entries, source: file)
        }
        let configuration = try CLIPConfiguration(shapes: source.entries.mapValues(\.shape), source: file)
        let loader = WeightLoader(source: source, requiresGrad: requiresGrad)
        do { try self.init(configuration: configuration, weights: loader) } catch let error as WeightError {
            throw CLIPError(error.description)
        }
    }

    /// Buffers that carry no weights: TorchScript's scalar attributes, Hugging Face's position ids.
    static let ignoredNames: Set<String> = [
        "input_resolution", "context_length", "vocab_size",
        "text_model.embeddings.position_ids", "vision_model.embeddings.position_ids",
    ]

    /// Random weights of a given size, for benchmarks and for training from scratch.
    public static func random(_ configuration: CLIPConfiguration, seed: UInt64 = 0, requiresGrad: Bool = false) -> CLIPModel {
        // Random weights take every shape the model asks for, so building cannot fail.
        try! CLIPModel(configuration: configuration, weights: WeightLoader(randomSeed: seed, requiresGrad: requiresGrad))
    }

    /// Loads a checkpoint: a file in any format the Checkpoints module reads (OpenAI's TorchScript
    /// `.pt`, a state-dict `.pt`, safetensors with OpenAI or Hugging Face names) or a Hugging Face
    /// folder holding `model.safetensors`.
    public convenience init(contentsOf url: URL, requiresGrad: Bool = false) throws {
        guard Files.exists(url.path) else {
            throw CLIPError("\(url.path): no such file or folder")
        }
        let isDirectory = Files.isDirectory(url.path)
        let file = isDirectory ? url.appendingPathComponent("model.safetensors") : url
        if isDirectory && !Files.exists(file.path) {
            throw CLIPError("\(url.path): folder has no model.safetensors")
        }
        let stateDict: StateDict
        do { stateDict = try loadStateDict(contentsOf: file) } catch let error as CheckpointError {
            throw CLIPError(error.description)
        }
        try self.init(stateDict: stateDict, requiresGrad: requiresGrad)
    }

    /// The tokenizer that goes with a checkpoint: a Hugging Face folder's own vocabulary when it
    /// has one, otherwise the vocabulary shipped with the library.
    public static func tokenizer(for url: URL) throws -> Tokenizer {
        let vocab = url.appendingPathComponent("vocab.json")
        if Files.exists(vocab.path) { return try Tokenizer(huggingFaceFolder: url) }
        return try Tokenizer.bundled()
    }

    /// Image features [B, embed] of normalised images [B, 3, S, S] (see ``CLIPPreprocess``).
    public func encodeImage(_ images: Tensor) -> Tensor { visual(images) }

    /// Text features [N, embed] of token rows (as ``Tokenizer/tokenize(_:contextLength:truncate:)`` makes them).
    public func encodeText(_ tokens: [[Int]]) throws -> Tensor { try text(tokens) }

    /// Text features [N, embed] of prompts; prompts over the context throw unless `truncate`.
    public func encodeText(_ prompts: [String], tokenizer: Tokenizer, truncate: Bool = false) throws -> Tensor {
        let rows = try prompts.map { try tokenizer.tokenize($0, contextLength: configuration.contextLength, truncate: truncate).ids }
        return try text(rows)
    }
}

// MARK: Similarities

/// Cosine similarities [B, N] between image features [B, E] and text features [N, E]
/// (both L2-normalised first). Differentiable in both arguments.
public func similarityMatrix(imageFeatures: Tensor, textFeatures: Tensor) -> Tensor {
    Tensor.matmul(imageFeatures.l2Normalized(axis: -1), textFeatures.l2Normalized(axis: -1), transposeB: true)
}

/// Zero-shot classification: per image, the softmax over texts of exp(logitScale)·cosine
/// (CLIP's logits_per_image). `cosine` is [B, N]; the result has B rows of N probabilities.
public func zeroShotProbabilities(cosine: Tensor, logitScale: Float) -> [[Float]] {
    let scale = Float(Foundation.exp(Double(logitScale)))
    let probs = Autograd.withoutGrad { (cosine * scale).softmax(axis: -1) }
    let n = cosine.shape[1]
    return (0..<cosine.shape[0]).map { Array(probs.data[($0 * n)..<(($0 + 1) * n)]) }
}


/// CLIP scores of a set of images against a set of texts.
public struct CLIPScores: Sendable {
    /// Cosine similarity of image i and text j: `cosine[i][j]`.
    public let cosine: [[Float]]
    /// Per image, the softmax over texts of exp(logit scale)·cosine (zero-shot classification).
    public let probabilities: [[Float]]

    /// Image indices by decreasing similarity to text `textIndex` (retrieval).
    public func ranking(text textIndex: Int) -> [Int] {
        cosine.indices.sorted { i, j in
            cosine[i][textIndex] > cosine[j][textIndex] || (cosine[i][textIndex] == cosine[j][textIndex] && i < j)
        }
    }
}

extension CLIPModel {
    /// Scores preprocessed images [B, 3, S, S] (see ``CLIPPreprocess/imageTensor(width:height:rgb:size:)``)
    /// against prompts. Runs without recording gradients. Prompts over the context throw unless
    /// `truncate`.
    public func score(images: Tensor, prompts: [String], tokenizer: Tokenizer, truncate: Bool = false) throws -> CLIPScores {
        try Autograd.withoutGrad {
            let cos = similarityMatrix(imageFeatures: encodeImage(images),
                                       textFeatures: try encodeText(prompts, tokenizer: tokenizer, truncate: truncate))
            let n = cos.shape[1]
            let rows = (0..<cos.shape[0]).map { Array(cos.data[($0 * n)..<(($0 + 1) * n)]) }
            return CLIPScores(cosine: rows, probabilities: zeroShotProbabilities(cosine: cos, logitScale: logitScale))
        }
    }
}
