// CLIP's image tower (OpenAI's VisionTransformer):
//   patches (conv kernel = stride = patch, no bias) → [class token; patches] + positions → ln_pre
//   → residual attention blocks → ln_post of the class token → · proj.
// The patch convolution is computed as a patch gather (reshape/permute) and one GEMM against the
// conv weight flattened to [width, 3·P·P]: the same arithmetic as the strided conv, without im2col.

import Layers
import Tensors

/// The vision tower of a ViT CLIP (`visual.*`); differentiable with respect to the image, and to
/// the weights when they were loaded with `requiresGrad`.
public struct VisionTransformer {
    public let configuration: CLIPConfiguration
    let conv1: Conv2d                 // weight [W, 3, P, P], no bias
    let classEmbedding: Tensor        // [W]
    let positionalEmbedding: Tensor   // [T, W]
    let lnPre: LayerNorm
    let resblocks: [ResidualAttentionBlock]
    let lnPost: LayerNorm
    let proj: Tensor                  // [W, E]

    /// Reads the tower under `w` (the `visual` module).
    init(_ w: WeightScope, configuration c: CLIPConfiguration) throws {
        configuration = c
        let width = c.visionWidth
        conv1 = try Conv2d(w.scope("conv1"), in: 3, out: width, kernel: c.patchSize, stride: c.patchSize, bias: false)
        classEmbedding = try w.tensor("class_embedding", shape: [width], initializer: .normal(std: 0.02))
        positionalEmbedding = try w.tensor("positional_embedding", shape: [c.visionTokens, width],
                                           initializer: .normal(std: 0.02))
        lnPre = try LayerNorm(w.scope("ln_pre"), features: width)
        let blocks = w.scope("transformer").scope("resblocks")
        resblocks = try (0..<c.visionLayers).map {
            try ResidualAttentionBlock(blocks.scope("\($0)"), width: width, heads: c.visionHeads)
        }
        lnPost = try LayerNorm(w.scope("ln_post"), features: width)
        proj = try w.tensor("proj", shape: [width, c.embedDim], initializer: .normal(std: 0.02))
    }

    /// Image features [B, embed] of normalised images [B, 3, S, S] (S = the input resolution).
    public func callAsFunction(_ images: Tensor) -> Tensor {
        let c = configuration
        let b = images.shape[0], p = c.patchSize, g = c.gridSize, w = c.visionWidth
        precondition(images.rank == 4 && images.shape[1] == 3 && images.shape[2] == c.imageResolution
                     && images.shape[3] == c.imageResolution,
                     "CLIP vision: images must be [B, 3, \(c.imageResolution), \(c.imageResolution)], got \(images.shape)")
        // [B, 3, G·P, G·P] → [B, G, G, 3, P, P] → [B, G², 3·P²] (patch-major, channel, row, column)
        let patches = images.reshaped([b, 3, g, p, g, p]).permuted([0, 2, 4, 1, 3, 5]).reshaped([b, g * g, 3 * p * p])
        // A zero row on top becomes the class token once the class embedding is added to row 0.
        let rows = Tensor.pad(patches, left: 0, right: 0, top: 1, bottom: 0)
        let classRow = Tensor.pad(classEmbedding.reshaped([1, w]), left: 0, right: 0, top: 0, bottom: c.visionTokens - 1)
        var x = Tensor.linear(rows, weight: conv1.weight.reshaped([w, 3 * p * p]))
            + (positionalEmbedding + classRow)                                     // [B, T, W]
        x = lnPre(x)
        for block in resblocks.dropLast() { x = block(x, causal: false) }
        // ln_post reads only the class token: the last block computes just that row.
        let cls = resblocks.last.map { $0.classToken(x) } ?? gatherRows(x, at: [Int](repeating: 0, count: b))
        return Tensor.matmul(lnPost(cls.reshaped([b, w])), proj)
    }
}
