// CLIP's text tower: token + positional embedding → causal residual attention blocks → ln_final
// at the end-of-text position (the largest id of each row, as OpenAI's argmax) → · text_projection.

import Layers
import Tensors

/// The text tower of a CLIP model (its tensors sit at the checkpoint's root, beside `visual`).
public struct TextTransformer {
    public let configuration: CLIPConfiguration
    let tokenEmbedding: Tensor        // [V, W]
    let positionalEmbedding: Tensor   // [context, W]
    let resblocks: [ResidualAttentionBlock]
    let lnFinal: LayerNorm
    let textProjection: Tensor        // [W, E]

    /// Reads `token_embedding`, `positional_embedding`, `transformer`, `ln_final` and
    /// `text_projection` under `w` (the model's root).
    init(_ w: WeightScope, configuration c: CLIPConfiguration) throws {
        configuration = c
        let width = c.textWidth
        tokenEmbedding = try w.scope("token_embedding").tensor("weight", shape: [c.vocabSize, width],
                                                                 initializer: .normal(std: 0.02))
        positionalEmbedding = try w.tensor("positional_embedding", shape: [c.contextLength, width],
                                           initializer: .normal(std: 0.01))
        let blocks = w.scope("transformer").scope("resblocks")
        resblocks = try (0..<c.textLayers).map {
            try ResidualAttentionBlock(blocks.scope("\($0)"), width: width, heads: c.textHeads)
        }
        lnFinal = try LayerNorm(w.scope("ln_final"), features: width)
        textProjection = try w.tensor("text_projection", shape: [width, c.embedDim], initializer: .normal(std: 0.02))
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
        let n = tokens.count
        let positions = length == c.contextLength
            ? positionalEmbedding : Tensor.slice(positionalEmbedding, axis: 0, range: 0..<length)
        var x = Tensor.embedding(tokens.flatMap { $0 }, shape: [n, length], weight: tokenEmbedding) + positions
        for block in resblocks { x = block(x, causal: true) }
        // First position of the row maximum (numpy/torch argmax).
        let ends = tokens.map { row in row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) }! }
        return Tensor.matmul(lnFinal(gatherRows(x, at: ends)), textProjection)
    }
}
