// taming's VectorQuantizer2: every latent vector is replaced by its nearest codebook entry, with a
// straight-through gradient. The nearest entry comes from one GEMM: |z − e|² = |z|² + |e|² − 2 z·e,
// first index on ties, exactly as the reference computes it.

import Layers
import Tensors

/// The codebook and nearest-neighbour quantization of [N, C, H, W] latents.
public struct VectorQuantizer {
    /// Codebook [n_embed, embed_dim] (`quantize.embedding.weight`, or `quantize.embed.weight` for Gumbel models).
    public let codebook: Tensor
    /// Commitment weight β of the codebook loss (taming: 0.25).
    public let beta: Float
    /// Per-channel minimum and maximum over the codebook ([embed_dim] each), for clamping latents
    /// into the region the decoder was trained on.
    public let channelMin: [Float]
    public let channelMax: [Float]

    /// Number of codebook entries (n_embed).
    public var count: Int { codebook.shape[0] }
    /// Size of one entry (embed_dim).
    public var dimension: Int { codebook.shape[1] }

    /// Wraps a codebook [n_embed, embed_dim] and precomputes its per-channel range.
    public init(codebook: Tensor, beta: Float = 0.25) {
        precondition(codebook.rank == 2, "codebook must be [n_embed, embed_dim], got \(codebook.shape)")
        self.codebook = codebook
        self.beta = beta
        let (n, d) = (codebook.shape[0], codebook.shape[1])
        var lo = [Float](repeating: .infinity, count: d), hi = [Float](repeating: -.infinity, count: d)
        for r in 0..<n {
            for c in 0..<d {
                let v = codebook.data[r * d + c]
                lo[c] = min(lo[c], v)
                hi[c] = max(hi[c], v)
            }
        }
        channelMin = lo
        channelMax = hi
    }

    /// Reads the codebook `name` ([nEmbed, embedDim]) from scope `w` (normally `quantize`).
    public init(_ w: WeightScope, name: String = "embedding", nEmbed: Int, embedDim: Int) throws {
        self.init(codebook: try w.scope(name).tensor("weight", shape: [nEmbed, embedDim]))
    }

    /// Index of the nearest codebook entry for every position of z [N, C, H, W], in N·H·W order.
    public func nearestIndices(_ z: Tensor) -> [Int] {
        precondition(z.rank == 4 && z.shape[1] == dimension,
                     "quantize: z must be [N, \(dimension), H, W], got \(z.shape)")
        let (n, c, h, w) = (z.shape[0], z.shape[1], z.shape[2], z.shape[3])
        let rows = n * h * w
        return Autograd.withoutGrad {
            // flat: [N·H·W, C]; scores: [N·H·W, n_embed] = flat · codebookᵀ
            let flat = z.detached().permuted([0, 2, 3, 1]).reshaped([rows, c])
            let scores = Tensor.matmul(flat, codebook.detached(), transposeB: true)
            let k = count
            var codeNorms = [Float](repeating: 0, count: k)
            codebook.data.withUnsafeBufferPointer { e in
                for j in 0..<k {
                    var s: Float = 0
                    for t in 0..<c { s += e[j * c + t] * e[j * c + t] }
                    codeNorms[j] = s
                }
            }
            var indices = [Int](repeating: 0, count: rows)
            flat.data.withUnsafeBufferPointer { zp in
                scores.data.withUnsafeBufferPointer { sp in
                    for i in 0..<rows {
                        var zz: Float = 0
                        for t in 0..<c { zz += zp[i * c + t] * zp[i * c + t] }
                        var best = 0
                        var bestDistance = Float.infinity
                        for j in 0..<k {
                            let d = (zz + codeNorms[j]) - 2 * sp[i * k + j]
                            if d < bestDistance { bestDistance = d; best = j }
                        }
                        indices[i] = best
                    }
                }
            }
            return indices
        }
    }

    /// Codebook entries at `indices` (N·H·W order) as [N, C, H, W]; differentiable with
    /// respect to the codebook.
    public func lookup(_ indices: [Int], batch n: Int, height h: Int, width w: Int) -> Tensor {
        Tensor.embedding(indices, shape: [n, h, w], weight: codebook).permuted([0, 3, 1, 2])
    }

    /// Quantizes z [N, C, H, W]: returns z_q = z + stopgrad(e − z) (so d z_q / d z is the identity,
    /// taming's straight-through estimator) and the chosen indices.
    public func callAsFunction(_ z: Tensor) -> (quantized: Tensor, indices: [Int]) {
        let indices = nearestIndices(z)
        let e = Autograd.withoutGrad { lookup(indices, batch: z.shape[0], height: z.shape[2], width: z.shape[3]) }
        var difference = e.data
        for i in difference.indices { difference[i] -= z.data[i] }
        return (z + Tensor(shape: z.shape, data: difference), indices)
    }

    /// taming's (legacy) codebook loss for z and its chosen `indices`:
    /// mean((stopgrad(e) − z)²) + β · mean((e − stopgrad(z))²).
    public func loss(_ z: Tensor, indices: [Int]) -> Tensor {
        let e = lookup(indices, batch: z.shape[0], height: z.shape[2], width: z.shape[3])
        let commitment = (e.detached() - z).pow(2).mean()
        let codebookTerm = (e - z.detached()).pow(2).mean()
        return commitment + beta * codebookTerm
    }

    /// z clamped per channel into the codebook's [min, max] box. The gradient passes where z was
    /// inside the box and is zero where the clamp acted.
    public func clampToCodebookRange(_ z: Tensor) -> Tensor {
        let c = dimension
        precondition(z.rank == 4 && z.shape[1] == c, "clamp: z must be [N, \(c), H, W], got \(z.shape)")
        let lo = Tensor(shape: [1, c, 1, 1], data: channelMin), hi = Tensor(shape: [1, c, 1, 1], data: channelMax)
        // max(min(z, hi), lo) through the differentiable elementwise ops: z − relu(z − hi) + relu(lo − z').
        let upper = z - (z - hi).relu()
        return upper + (lo - upper).relu()
    }
}
