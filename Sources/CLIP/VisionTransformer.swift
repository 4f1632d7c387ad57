// CLIP's image tower (OpenAI's VisionTransformer):
//   patches (conv kernel = stride = patch, no bias) → [class token; patches] + positions → ln_pre
//   → residual attention blocks → ln_post of the class token → · proj.
// The patch convolution is computed as a patch gather (reshape/permute) and one GEMM against the
// conv weight flattened to [width, 3·P·P]: the same arithmetic as the strided conv, without im2col.

import Tensors

/// The vision tower of a ViT CLIP (frozen weights; differentiable with respect to the image).
public struct VisionTransformer {
    public let configuration: CLIPConfiguration
    let patchWeight: Tensor          // [W, 3·P·P]
    let tokenBias: Tensor            // [T, W]: positions, plus the class embedding on row 0
    let lnPreWeight: Tensor, lnPreBias: Tensor
    let blocks: [ResidualAttentionBlock]
    let lnPostWeight: Tensor, lnPostBias: Tensor
    let projection: Tensor           // [W, E]

    init(weights: CLIPWeights) throws {
        let c = weights.configuration
        configuration = c
        let w = c.visionWidth
        patchWeight = try weights.tensor("visual.conv1.weight").reshaped([w, 3 * c.patchSize * c.patchSize])
        var bias = try weights.tensor("visual.positional_embedding").data
        let cls = try weights.tensor("visual.class_embedding").data
        for j in 0..<w { bias[j] += cls[j] }
        tokenBias = Tensor(shape: [c.visionTokens, w], data: bias)
        lnPreWeight = try weights.tensor("visual.ln_pre.weight")
        lnPreBias = try weights.tensor("visual.ln_pre.bias")
        blocks = try (0..<c.visionLayers).map {
            try ResidualAttentionBlock(weights: weights, prefix: "visual.transformer.resblocks.\($0).", width: w,
                                       heads: c.visionHeads, classToken: $0 == c.visionLayers - 1)
        }
        lnPostWeight = try weights.tensor("visual.ln_post.weight")
        lnPostBias = try weights.tensor("visual.ln_post.bias")
        projection = try weights.tensor("visual.proj")
    }

    /// Image features [B, embed] of normalised images [B, 3, S, S] (S = the input resolution).
    public func callAsFunction(_ images: Tensor) -> Tensor {
        let c = configuration
        let b = images.shape[0], p = c.patchSize, g = c.gridSize
        precondition(images.rank == 4 && images.shape[1] == 3 && images.shape[2] == c.imageResolution
                     && images.shape[3] == c.imageResolution,
                     "CLIP vision: images must be [B, 3, \(c.imageResolution), \(c.imageResolution)], got \(images.shape)")
        // [B, 3, G·P, G·P] → [B, G, G, 3, P, P] → [B, G², 3·P²] (patch-major, channel, row, column)
        let patches = images.reshaped([b, 3, g, p, g, p]).permuted([0, 2, 4, 1, 3, 5]).reshaped([b, g * g, 3 * p * p])
        // A zero row on top becomes the class token once tokenBias is added.
        let rows = Tensor.pad(patches, left: 0, right: 0, top: 1, bottom: 0)
        var x = Tensor.linear(rows, weight: patchWeight) + tokenBias          // [B, T, W]
        x = Tensor.layerNorm(x, weight: lnPreWeight, bias: lnPreBias, eps: 1e-5)
        for block in blocks.dropLast() { x = block(x, causal: false) }
        // ln_post reads only the class token: the last block computes just that row.
        let cls = blocks.last.map { $0.classToken(x) } ?? gatherRows(x, at: [Int](repeating: 0, count: b))
        let y = Tensor.layerNorm(cls.reshaped([b, c.visionWidth]), weight: lnPostWeight, bias: lnPostBias, eps: 1e-5)
        return Tensor.matmul(y, projection)
    }
}
