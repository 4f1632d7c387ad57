// A ViT CLIP model: both towers, the logit scale, loading from OpenAI / Hugging Face checkpoints,
// and the similarity helpers that `vqclip score` and the rendering losses build on.

import Checkpoints
import Foundation
import Tensors

/// OpenAI's CLIP (ViT variants) with frozen weights.
///
/// `encodeImage` is differentiable with respect to its input: rendering takes d loss / d pixels
/// through it, batched over cutouts. The weights never receive gradients, so backward only
/// computes what the input gradient needs.
public final class CLIPModel {
    /// The size inferred from the weights.
    public let configuration: CLIPConfiguration
    public let visual: VisionTransformer
    public let text: TextTransformer
    /// The learned temperature, stored as its logarithm (exp(logitScale) ≈ 100 when trained).
    public let logitScale: Float

    /// Builds the model from validated weights.
    public init(weights: CLIPWeights) throws {
        configuration = weights.configuration
        visual = try VisionTransformer(weights: weights)
        text = try TextTransformer(weights: weights)
        logitScale = try weights.tensor("logit_scale").data[0]
    }

    /// Loads a checkpoint: a file in any format the Checkpoints module reads (OpenAI's TorchScript
    /// `.pt`, a state-dict `.pt`, safetensors with OpenAI or Hugging Face names) or a Hugging Face
    /// folder holding `model.safetensors`.
    public convenience init(contentsOf url: URL) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw CLIPError("\(url.path): no such file or folder")
        }
        let file = isDirectory.boolValue ? url.appendingPathComponent("model.safetensors") : url
        if isDirectory.boolValue && !FileManager.default.fileExists(atPath: file.path) {
            throw CLIPError("\(url.path): folder has no model.safetensors")
        }
        let stateDict: StateDict
        do { stateDict = try loadStateDict(contentsOf: file) } catch let error as CheckpointError {
            throw CLIPError(error.description)
        }
        try self.init(weights: CLIPWeights(stateDict: stateDict))
    }

    /// The tokenizer that goes with a checkpoint: a Hugging Face folder's own vocabulary when it
    /// has one, otherwise the vocabulary shipped with the library.
    public static func tokenizer(for url: URL) throws -> Tokenizer {
        let vocab = url.appendingPathComponent("vocab.json")
        if FileManager.default.fileExists(atPath: vocab.path) { return try Tokenizer(huggingFaceFolder: url) }
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
