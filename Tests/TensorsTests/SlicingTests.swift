// slice, crop and concat: forward by hand, gradients, and concat as the inverse of slicing.

import Testing
@testable import Tensors

@Suite("Slicing")
struct SlicingTests {
    @Test func sliceForward() {
        let x = Tensor(shape: [2, 3, 2], data: (0..<12).map(Float.init))
        let s1 = Tensor.slice(x, axis: 1, range: 1..<3)
        #expect(s1.shape == [2, 2, 2])
        #expect(s1.data == [2, 3, 4, 5, 8, 9, 10, 11])
        #expect(Tensor.slice(x, axis: 0, range: 1..<2).data == [6, 7, 8, 9, 10, 11])
        #expect(Tensor.slice(x, axis: -1, range: 0..<1).data == [0, 2, 4, 6, 8, 10])
        #expect(Tensor.slice(x, axis: 1, range: 2..<2).shape == [2, 0, 2])
    }

    @Test func cropForward() {
        let x = Tensor(shape: [1, 2, 3, 4], data: (0..<24).map(Float.init))
        let c = Tensor.crop(x, top: 1, left: 2, height: 2, width: 2)
        #expect(c.shape == [1, 2, 2, 2])
        #expect(c.data == [6, 7, 10, 11, 18, 19, 22, 23])
        #expect(Tensor.crop(x, top: 0, left: 0, height: 3, width: 4).data == x.data)
    }

    @Test func concatForwardAndRoundTrip() {
        let a = Tensor(shape: [2, 1, 2], data: [1, 2, 3, 4]), b = Tensor(shape: [2, 2, 2], data: [5, 6, 7, 8, 9, 10, 11, 12])
        let c = Tensor.concat([a, b], axis: 1)
        #expect(c.shape == [2, 3, 2])
        #expect(c.data == [1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12])
        #expect(Tensor.concat([a, a], axis: 0).data == [1, 2, 3, 4, 1, 2, 3, 4])
        #expect(Tensor.concat([a, a], axis: -1).data == [1, 2, 1, 2, 3, 4, 3, 4])
        // Slicing a tensor into pieces and joining them back gives the tensor again.
        let x = Tensor.randn([3, 7, 5], seed: 1)
        let parts = [0..<2, 2..<3, 3..<7].map { Tensor.slice(x, axis: 1, range: $0) }
        #expect(Tensor.concat(parts, axis: 1).data == x.data)
    }

    @Test func gradientsMatchFiniteDifferences() {
        let x = param([2, 3, 5, 4], seed: 1)
        expectGradientsMatch([x]) { Tensor.slice($0[0], axis: 2, range: 1..<4) }
        expectGradientsMatch([x]) { Tensor.slice($0[0], axis: 0, range: 1..<2) }
        expectGradientsMatch([x]) { Tensor.crop($0[0], top: 1, left: 1, height: 3, width: 2) }
        let y = param([2, 1, 5, 4], seed: 2), z = param([2, 2, 5, 4], seed: 3)
        expectGradientsMatch([x, y, z]) { Tensor.concat([$0[0], $0[1], $0[2]], axis: 1) }
        // A constant input among trained ones, and the same tensor twice.
        let k = Tensor.randn([2, 3, 5, 4], seed: 4)
        expectGradientsMatch([x]) { Tensor.concat([$0[0], k, $0[0]], axis: -1) }
    }
}
