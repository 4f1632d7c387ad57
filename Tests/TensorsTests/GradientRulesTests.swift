// The guidance ops: clamp-with-gradient and the stop gate (their backward rules by hand), and the
// projective warp (identity and translation against direct indexing, finite differences).

import Testing
@testable import Tensors

@Suite("GradientRules")
struct GradientRulesTests {
    @Test func clampWithGradientPassesGradientsThatPointBackIntoRange() {
        let x = Tensor(shape: [6], data: [-0.5, -0.5, 0.3, 0.3, 1.5, 1.5], requiresGrad: true)
        let y = x.clampedWithGradient(min: 0, max: 1)
        #expect(y.data == [0, 0, 0.3, 0.3, 1, 1])
        // Below the range: descent (−g) must push x up, so g < 0 passes and g > 0 is dropped;
        // inside, everything passes; above, only g > 0 (which pushes x down) passes.
        y.backward(seed: [-2, 3, 4, -5, 6, -7])
        #expect(x.gradData! == [-2, 0, 4, -5, 6, 0])
    }

    @Test func gradientGateStopsBelowThresholdAndHalvesTies() {
        let x = Tensor(shape: [4], data: [-1, 0.5, 0.5, 2], requiresGrad: true)
        let y = x.gradientGated(above: 0.5)
        #expect(y.data == x.data)
        y.backward(seed: [1, 2, 4, 8])
        #expect(x.gradData! == [0, 1, 2, 8])
        let z = Tensor(shape: [2], data: [-100, 3], requiresGrad: true)
        z.gradientGated(above: -.infinity).backward(seed: [5, 6])
        #expect(z.gradData! == [5, 6])
    }

    @Test func warpWithIdentityAndIntegerShiftMatchesIndexing() {
        let x = Tensor.uniform([2, 3, 5, 6], seed: 3)
        let identity: [Float] = [1, 0, 0, 0, 1, 0, 0, 0, 1]
        let same = Tensor.warpPerspective(x, maps: [identity, identity], outHeight: 5, outWidth: 6)
        #expect(same.data == x.data)
        // Output (u, v) reads source (u + 2, v − 1): shifted content, zeros where it falls outside.
        let shift: [Float] = [1, 0, 2, 0, 1, -1, 0, 0, 1]
        let moved = Tensor.warpPerspective(x, maps: [shift, identity], outHeight: 5, outWidth: 6)
        for c in 0..<3 {
            for v in 0..<5 {
                for u in 0..<6 {
                    let (sx, sy) = (u + 2, v - 1)
                    let expected = sx < 6 && sy >= 0 ? x.data[(c * 5 + sy) * 6 + sx] : 0
                    #expect(moved.data[(c * 5 + v) * 6 + u] == expected)
                }
            }
        }
        #expect(Array(moved.data[90...]) == Array(x.data[90...]))
    }

    @Test func warpGradientMatchesFiniteDifferences() {
        let x = param([2, 2, 6, 7], seed: 41)
        // A rotation with a perspective term and a zoom: fractional taps, some outside the image.
        let maps: [[Float]] = [[0.9, -0.2, 1.1, 0.25, 1.05, -0.4, 0.01, -0.02, 1],
                               [1.3, 0, -0.7, 0, 0.8, 0.9, 0, 0, 1]]
        expectGradientsMatch([x]) { Tensor.warpPerspective($0[0], maps: maps, outHeight: 5, outWidth: 4) }
    }

    @Test func seededGeneratorStateRoundTrips() {
        var a = SeededGenerator(seed: 12)
        for _ in 0..<5 { _ = a.next() }
        var b = SeededGenerator(state: a.state)
        #expect((0..<10).map { _ in a.next() } == (0..<10).map { _ in b.next() })
    }
}
