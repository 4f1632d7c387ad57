// GroupNorm and LayerNorm: forward against PyTorch, numerical stability, gradients for x, weight, bias.

import Foundation
import Testing
import TestSupport
@testable import Tensors

/// sin(i · step + phase) for i in 0..<count, the same inputs the PyTorch references were made from.
func sinSequence(_ count: Int, step: Float = 1, phase: Float = 0) -> [Float] {
    (0..<count).map { Float(Foundation.sin(Double(Float($0) * step + phase))) }
}

func cosSequence(_ count: Int, step: Float = 1) -> [Float] {
    (0..<count).map { Float(Foundation.cos(Double(Float($0) * step))) }
}

@Suite("Normalization")
struct NormalizationTests {
    @Test func groupNormMatchesTorch() {
        // x = sin(arange(24)).reshape(2,4,3); w = 0.5+0.25*arange(4); b = 0.1*arange(4)-0.1
        // F.group_norm(x, 2, w, b, eps=1e-6)
        let x = Tensor(shape: [2, 4, 3], data: sinSequence(24))
        let w = Tensor(shape: [4], data: (0..<4).map { 0.5 + 0.25 * Float($0) })
        let b = Tensor(shape: [4], data: (0..<4).map { 0.1 * Float($0) - 0.1 })
        let y = Tensor.groupNorm(x, groups: 2, weight: w, bias: b, eps: 1e-6)
        let expected: [Float] = [-0.12061726, 0.47027752, 0.51790637, 0.11771929, -0.82808465, -1.0409845,
                                 -0.3547307, 0.98182452, 1.4562287, 0.86539602, -0.84051299, -1.6540363,
                                 -0.52157056, 0.17092136, 0.58380818, 0.6562255, -0.36237386, -1.0935903,
                                 -1.0664022, 0.24724053, 1.3599483, 1.6358781, 0.094727792, -1.4315892]
        #expect(y.shape == [2, 4, 3])
        assertClose(y.data, expected, atol: 1e-5, rtol: 1e-5)
    }

    @Test func groupNorm32GroupsOf64Channels() {
        // VQGAN configuration: 32 groups, eps 1e-6. Without affine every group must come out with
        // mean 0 and variance v/(v+eps) ≈ 1.
        let x = Tensor.randn([2, 64, 3, 3], mean: 0.7, std: 2, seed: 11)
        let y = Tensor.groupNorm(x, groups: 32, eps: 1e-6)
        for row in 0..<(2 * 32) {
            let slice = y.data[(row * 18)..<((row + 1) * 18)].map(Double.init)
            let mean = slice.reduce(0, +) / 18
            let variance = slice.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 18
            #expect(Swift.abs(mean) < 1e-5)
            #expect(Swift.abs(variance - 1) < 1e-4)
        }
        let xs = param([1, 64, 2, 2], seed: 12, low: -2, high: 2)
        let w = param([64], seed: 13, low: 0.5, high: 1.5), b = param([64], seed: 14)
        // Float forward differences of a normalised output: eps 1e-2, rtol 2e-2, atol 2e-3.
        expectGradientsMatch([xs, w, b], tolerance: GradTolerance(eps: 1e-2, rtol: 2e-2, atol: 2e-3), maxChecks: 64) {
            Tensor.groupNorm($0[0], groups: 32, weight: $0[1], bias: $0[2], eps: 1e-6)
        }
    }

    @Test func groupNormSiLUMatchesSeparateOps() {
        let x = param([2, 8, 3, 5], seed: 21, low: -3, high: 3)
        let w = param([8], seed: 22, low: 0.5, high: 1.5), b = param([8], seed: 23)
        let seed = Tensor.randn([2, 8, 3, 5], seed: 24).data
        let fused = Tensor.groupNormSiLU(x, groups: 4, weight: w, bias: b, eps: 1e-6)
        fused.backward(seed: seed)
        let (gx, gw, gb) = (x.gradData!, w.gradData!, b.gradData!)
        for t in [x, w, b] { t.zeroGrad() }
        let separate = Tensor.groupNorm(x, groups: 4, weight: w, bias: b, eps: 1e-6).silu()
        separate.backward(seed: seed)
        assertClose(fused.data, separate.data, atol: 1e-6, rtol: 1e-5)
        assertClose(gx, x.gradData!, atol: 1e-5, rtol: 1e-4)
        assertClose(gw, w.gradData!, atol: 1e-5, rtol: 1e-4)
        assertClose(gb, b.gradData!, atol: 1e-5, rtol: 1e-4)
        let xs = param([1, 8, 2, 2], seed: 25, low: -2, high: 2)
        expectGradientsMatch([xs, w, b], tolerance: GradTolerance(eps: 1e-2, rtol: 2e-2, atol: 2e-3), maxChecks: 48) {
            Tensor.groupNormSiLU($0[0], groups: 2, weight: $0[1], bias: $0[2], eps: 1e-6)
        }
    }

    @Test func groupNormTinyVarianceOnLargeOffset() {
        // Values 300 + j/256 are exact in Float; normalisation is shift invariant, so the result must
        // equal that of the offsets j/256 alone, computed here in Double. A one-pass Float sum of
        // squares would cancel almost all digits (variance ~1e-4 against 9e4).
        let offsets: [Double] = (0..<32).map { Double(($0 * 7) % 11) / 256 }
        let x = Tensor(shape: [1, 4, 8], data: offsets.map { Float(300 + $0) })
        let eps = 1e-6
        let y = Tensor.groupNorm(x, groups: 2, eps: Float(eps))
        var expected = [Float]()
        for g in 0..<2 {
            let part = Array(offsets[(g * 16)..<((g + 1) * 16)])
            let mean = part.reduce(0, +) / 16
            let variance = part.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 16
            expected += part.map { Float(($0 - mean) / (variance + Double(Float(eps))).squareRoot()) }
        }
        assertClose(y.data, expected, atol: 1e-5, rtol: 1e-5)
    }

    @Test func groupNormBackwardIsShiftInvariant() {
        // Gradients at 300 + j/64 (exact in Float) must equal those at j/64: both x, weight and
        // bias gradients depend only on the centred values.
        let offsets: [Float] = (0..<48).map { Float(($0 * 5) % 13) / 64 }
        let r = Tensor.randn([2, 6, 4], seed: 24).data
        func grads(_ shift: Float) -> [[Float]] {
            let x = Tensor(shape: [2, 6, 4], data: offsets.map { $0 + shift }, requiresGrad: true)
            let w = Tensor(shape: [6], data: [1, 0.5, 2, 1.5, 0.8, 1.2], requiresGrad: true)
            let b = Tensor(shape: [6], data: [0, 0.1, 0.2, 0.3, 0.4, 0.5], requiresGrad: true)
            Tensor.groupNorm(x, groups: 3, weight: w, bias: b, eps: 1e-6).backward(seed: r)
            return [x.gradData!, w.gradData!, b.gradData!]
        }
        let (shifted, centred) = (grads(300), grads(0))
        for i in 0..<3 { assertClose(shifted[i], centred[i], atol: 1e-3, rtol: 1e-4) }
    }

    @Test func groupNormLargeSpatialStaysAccurate() {
        // 2 groups of 2 channels at 128x128 (32768 values each), offset by 50: mean 0, variance 1.
        let x = Tensor.uniform([1, 4, 128, 128], low: 49, high: 51, seed: 15)
        let y = Tensor.groupNorm(x, groups: 2, eps: 1e-6)
        let half = y.count / 2
        for g in 0..<2 {
            let part = y.data[(g * half)..<((g + 1) * half)]
            let mean = part.reduce(0.0) { $0 + Double($1) } / Double(half)
            let variance = part.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(half)
            #expect(Swift.abs(mean) < 1e-5)
            #expect(Swift.abs(variance - 1) < 1e-4)
        }
    }

    @Test func groupNormGradients() {
        let x = param([2, 6, 3, 2], seed: 16, low: -2, high: 2)
        let w = param([6], seed: 17, low: 0.5, high: 1.5), b = param([6], seed: 18)
        let tol = GradTolerance(eps: 1e-2, rtol: 2e-2, atol: 2e-3)
        expectGradientsMatch([x, w, b], tolerance: tol) { Tensor.groupNorm($0[0], groups: 3, weight: $0[1], bias: $0[2]) }
        expectGradientsMatch([x], tolerance: tol) { Tensor.groupNorm($0[0], groups: 2) }
        // Rank 2 input ([N, C], no spatial dims), one group per channel pair.
        let x2 = param([3, 4], seed: 19, low: -2, high: 2)
        expectGradientsMatch([x2], tolerance: tol) {
            Tensor.groupNorm($0[0], groups: 2, weight: Tensor(shape: [4], data: [1, 2, 0.5, 1.5]), bias: nil)
        }
    }

    @Test func frozenAffineGetsNoGradient() {
        let x = param([1, 4, 2, 2], seed: 20)
        let w = Tensor.ones([4]), b = Tensor.zeros([4])
        Tensor.groupNorm(x, groups: 2, weight: w, bias: b).sum().backward()
        #expect(w.gradData == nil && b.gradData == nil)
        #expect(x.gradData != nil)
    }

    @Test func layerNormMatchesTorch() {
        // x = cos(arange(10)).reshape(2,5); w = 1+0.1*arange(5); b = 0.05*arange(5)
        // F.layer_norm(x, (5,), w, b, eps=1e-5)
        let x = Tensor(shape: [2, 5], data: cosSequence(10))
        let w = Tensor(shape: [5], data: (0..<5).map { 1 + 0.1 * Float($0) })
        let b = Tensor(shape: [5], data: (0..<5).map { 0.05 * Float($0) })
        let expected: [Float] = [1.4702892, 0.99381518, -0.39906746, -1.3842596, -0.82509905,
                                 0.14243382, 1.3172377, 1.1130472, -0.49744555, -2.0968943]
        assertClose(Tensor.layerNorm(x, weight: w, bias: b, eps: 1e-5).data, expected, atol: 1e-5, rtol: 1e-5)
    }

    @Test func layerNormLargeOffsetMatchesCentredInput() {
        // Rows 1000 + j/64 (exact in Float) must normalise like the offsets j/64 alone.
        let offsets: [Float] = (0..<24).map { Float(($0 * 5) % 7) / 64 }
        let shifted = Tensor.layerNorm(Tensor(shape: [3, 8], data: offsets.map { 1000 + $0 }))
        let centred = Tensor.layerNorm(Tensor(shape: [3, 8], data: offsets))
        assertClose(shifted.data, centred.data, atol: 1e-5, rtol: 1e-5)
    }

    @Test func layerNormGradients() {
        let x = param([3, 4, 6], seed: 21, low: -2, high: 2)
        let w = param([6], seed: 22, low: 0.5, high: 1.5), b = param([6], seed: 23)
        let tol = GradTolerance(eps: 1e-2, rtol: 2e-2, atol: 2e-3)
        expectGradientsMatch([x, w, b], tolerance: tol) { Tensor.layerNorm($0[0], weight: $0[1], bias: $0[2]) }
        expectGradientsMatch([x], tolerance: tol) { Tensor.layerNorm($0[0]) }
        // Weight without bias.
        expectGradientsMatch([x, w], tolerance: tol) { Tensor.layerNorm($0[0], weight: $0[1]) }
        expectGradientsMatch([x, w], tolerance: tol) { Tensor.groupNorm($0[0].reshaped([3, 4, 6]).transposed(1, 2), groups: 3, weight: $0[1]) }
    }
}
