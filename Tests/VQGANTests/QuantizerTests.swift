// VectorQuantizer against a brute-force nearest neighbour, its straight-through gradient, the
// codebook loss, and the per-channel clamp to the codebook's range.

import Testing
import TestSupport
import Layers
import Tensors
@testable import VQGAN

@Suite struct QuantizerTests {
    @Test func nearestIndicesMatchBruteForce() {
        let codebook = Tensor.randn([300, 24], seed: 1)
        let q = VectorQuantizer(codebook: codebook)
        let z = Tensor.randn([2, 24, 5, 7], seed: 2)
        let indices = q.nearestIndices(z)
        #expect(indices.count == 2 * 5 * 7)
        var mismatches = 0
        for b in 0..<2 {
            for y in 0..<5 {
                for x in 0..<7 {
                    var best = 0
                    var bestDistance = Double.infinity
                    for j in 0..<300 {
                        var d = 0.0
                        for c in 0..<24 {
                            let diff = Double(z.data[((b * 24 + c) * 5 + y) * 7 + x]) - Double(codebook.data[j * 24 + c])
                            d += diff * diff
                        }
                        if d < bestDistance { bestDistance = d; best = j }
                    }
                    if indices[(b * 5 + y) * 7 + x] != best { mismatches += 1 }
                }
            }
        }
        #expect(mismatches == 0)
    }

    @Test func tiesTakeTheFirstIndexAndLookupReturnsTheEntries() {
        // Entries 1 and 3 are identical; the nearest is 1.
        let codebook = Tensor(shape: [4, 2], data: [5, 5, 1, 0, -3, 2, 1, 0])
        let q = VectorQuantizer(codebook: codebook)
        let z = Tensor(shape: [1, 2, 1, 2], data: [1.1, 4.9, 0.1, 5.2])
        #expect(q.nearestIndices(z) == [1, 0])
        let (quantized, indices) = q(z)
        #expect(indices == [1, 0])
        #expect(quantized.shape == [1, 2, 1, 2])
        #expect(quantized.data == [1, 5, 0, 5])
        #expect(q.channelMin == [-3, 0])
        #expect(q.channelMax == [5, 5])
    }

    @Test func straightThroughGradientIsTheIdentity() {
        let q = VectorQuantizer(codebook: Tensor.randn([16, 3], seed: 3))
        let z = Tensor.randn([1, 3, 2, 2], seed: 4, requiresGrad: true)
        let seed = (0..<12).map { Float($0) - 5 }
        q(z).quantized.backward(seed: seed)
        #expect(z.grad!.data == seed)
    }

    @Test func codebookLossMatchesTamingLegacyFormula() {
        let codebook = Tensor.randn([8, 2], seed: 5, requiresGrad: true)
        let q = VectorQuantizer(codebook: codebook)
        let z = Tensor.randn([1, 2, 3, 1], seed: 6, requiresGrad: true)
        let indices = q.nearestIndices(z)
        let loss = q.loss(z, indices: indices)
        var sq: Float = 0
        for p in 0..<3 {
            for c in 0..<2 {
                let d = z.data[c * 3 + p] - codebook.data[indices[p] * 2 + c]
                sq += d * d
            }
        }
        let mse = sq / 6
        #expect(abs(loss.item - 1.25 * mse) < 1e-5)
        loss.backward()
        // d/dz of mean((sg(e) − z)²) is 2(z − e)/n; the β term reaches only the codebook.
        let p = 0, c = 1
        let expected = 2 * (z.data[c * 3 + p] - codebook.data[indices[p] * 2 + c]) / 6
        #expect(abs(z.grad!.data[c * 3 + p] - expected) < 1e-5)
        let codebookGrad = codebook.grad!.data[indices[p] * 2 + c]
        #expect(codebookGrad != 0)
    }

    /// The codebook loss' gradients against central differences (eps 1e-3, tolerance 1e-4 + 1e-2
    /// relative). Its stop-gradients make it differ from its value's derivative, so each gradient
    /// is checked against the derivative of the term it comes from, f(z, e) = mean((e − z)²) at
    /// the chosen entries: d/dz gets ∂f/∂z (the commitment term), the codebook β·∂f/∂e.
    @Test func codebookLossGradientsAgreeWithFiniteDifferences() {
        let codebook = Tensor.randn([6, 3], seed: 31, requiresGrad: true)
        let q = VectorQuantizer(codebook: codebook, beta: 0.25)
        let z = Tensor.randn([2, 3, 2, 2], seed: 32, requiresGrad: true)
        let indices = q.nearestIndices(z)
        q.loss(z, indices: indices).backward()
        func f() -> Double {
            Autograd.withoutGrad {
                Double((q.lookup(indices, batch: 2, height: 2, width: 2) - z).pow(2).mean().item)
            }
        }
        for (t, scale) in [(codebook, Float(0.25)), (z, Float(1))] {
            let analytic = t.grad!.data
            for i in t.data.indices {
                let numeric = scale * centralDifference(t, at: i, eps: 1e-3, f)
                #expect(abs(analytic[i] - numeric) <= 1e-4 + 1e-2 * abs(numeric), "element \(i): \(analytic[i]) vs \(numeric)")
            }
        }
        // Rows no latent chose get no gradient.
        for row in Set(0..<6).subtracting(indices) {
            #expect(codebook.grad!.data[(row * 3)..<(row * 3 + 3)].allSatisfy { $0 == 0 })
        }
    }

    @Test func clampKeepsLatentsInsideTheCodebookBox() {
        let q = VectorQuantizer(codebook: Tensor(shape: [2, 2], data: [-1, 0, 1, 2]))
        let z = Tensor(shape: [1, 2, 1, 3], data: [-2, 0.5, 3, -1, 1, 5], requiresGrad: true)
        let y = q.clampToCodebookRange(z)
        #expect(y.data == [-1, 0.5, 1, 0, 1, 2])
        y.backward(seed: [Float](repeating: 1, count: 6))
        #expect(z.grad!.data == [0, 1, 0, 0, 1, 0])
    }
}
