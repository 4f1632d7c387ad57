// Embedding lookup: gather forward, scatter-add backward (repeated indices), frozen tables.

import Testing
@testable import Tensors

@Suite("Embedding")
struct EmbeddingTests {
    @Test func gathersRows() {
        // weight[v, j] = 10·v + j
        let w = Tensor(shape: [4, 3], data: (0..<12).map { Float(($0 / 3) * 10 + $0 % 3) })
        let y = Tensor.embedding([2, 0, 3, 2], shape: [2, 2], weight: w)
        #expect(y.shape == [2, 2, 3])
        #expect(y.data == [20, 21, 22, 0, 1, 2, 30, 31, 32, 20, 21, 22])
        #expect(Tensor.embedding([1], weight: w).shape == [1, 3])
    }

    @Test func backwardScatterAdds() {
        let w = Tensor(shape: [4, 2], data: [Float](repeating: 0.5, count: 8), requiresGrad: true)
        // Index 2 appears twice, so its row receives the sum of both output-row gradients.
        Tensor.embedding([2, 0, 2], weight: w).backward(seed: [1, 2, 3, 4, 5, 6])
        #expect(w.gradData! == [3, 4, 0, 0, 6, 8, 0, 0])
    }

    @Test func gradientsMatchFiniteDifferences() {
        let w = param([5, 3], seed: 81)
        expectGradientsMatch([w]) { Tensor.embedding([4, 1, 1, 0, 3, 4], shape: [3, 2], weight: $0[0]) }
    }

    @Test func frozenTableGetsNoGradient() {
        let w = Tensor.randn([3, 2], seed: 82)
        let y = Tensor.embedding([0, 2], weight: w)
        #expect(!y.requiresGrad && w.gradData == nil)
    }

    @Test func outOfRangeIndexIsAPreconditionFailure() async {
        await #expect(processExitsWith: .failure) {
            let w = Tensor.zeros([3, 2])
            _ = Tensor.embedding([0, 3], weight: w)
        }
    }
}
