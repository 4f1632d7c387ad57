// CLIP's text tower: token + positional embedding → causal residual attention blocks → ln_final
// at the end-of-text position (the largest id of each row, as OpenAI's argmax) → · text_projection.

import Tensors

/// The text tower of a CLIP model (frozen weights).
public struct TextTransformer {
    public let configuration: CLIPConfiguration
    let tokenEmbedding: Tensor        // [V, W]
    let positions: Tensor             // [context, W]
    let blocks: [ResidualAttentionBlock]
    let lnFinalWeight: Tensor, lnFinalBias: Tensor
    let projection: Tensor            // [W, E]

    init(weights: CLIPWeights) throws {
        let c = weights.configuration
        configuration = c
        tokenEmbedding = try weights.tensor("token_embedding.weight")
        positions = try weights.tensor("positional_embedding")
        blocks = try (0..<c.textLayers).map {
            try ResidualAttentionBlock(weights: weights, prefix: "transformer.resblocks.\($0).", width: c.textWidth, heads: c.textHeads)
        }
        lnFinalWeight = try weights.tensor("ln_final.weight")
        lnFinalBias = try weights.tensor("ln_final.bias")
        projection = try weights.tensor("text_projection")
    }

    /// Text features [N, embed] of token rows (each of the same length ≤ the context, padded
    /// after the end token). Throws on an id outside the vocabulary or a row too long.
    public func callAsFunction(_ tokens: [[Int]]) throws -> Tensor {
        let c = configuration
        guard let length = tokens.first?.count, length > 0 else { throw CLIPError("CLIP text: no tokens") }
        guard tokens.allSatisfy({ $0.count == length }) else { throw CLIPError("CLIP text: token rows differ in length") }
        guard length <= c.contextLength else {
            throw CLIPError("CLIP text: \(length) tokens per row, more than the context of \(c.contextLength)")
        }
        for row in tokens {
            if let bad = row.first(where: { $0 < 0 || $0 >= c.vocabSize }) {
                throw CLIPError("CLIP text: token id \(bad) outside the vocabulary of \(c.vocabSize)")
            }
        }
        let n = tokens.count, w = c.textWidth
        let pos = length == c.contextLength ? positions
            : Tensor(shape: [length, w], data: Array(positions.data[0..<(length * w)]))
        var x = Tensor.embedding(tokens.flatMap { $0 }, shape: [n, length], weight: tokenEmbedding) + pos
        for block in blocks { x = block(x, causal: true) }
        // First position of the row maximum (numpy/torch argmax).
        let ends = tokens.map { row in row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) }! }
        let eot = gatherRows(x, at: ends)
        let y = Tensor.layerNorm(eot, weight: lnFinalWeight, bias: lnFinalBias, eps: 1e-5)
        return Tensor.matmul(y, projection)
    }
}
