// pow, sqrt, clamp, arcsin, abs and l2Normalized: forward against PyTorch or exact values, and
// gradients at points away from kinks and domain edges.

import Foundation
import Testing
import TestSupport
@testable import Tensors

@Suite("MathOps")
struct MathOpsTests {
    @Test func elementwiseForward() {
        // x = torch.tensor([0.5, 1.5, 2.0, 3.0]); x**3, x**0.5, x**-1.5
        let x = Tensor(shape: [4], data: [0.5, 1.5, 2.0, 3.0])
        assertClose(x.pow(3).data, [0.125, 3.375, 8, 27])
        assertClose(x.pow(2).data, [0.25, 2.25, 4, 9])
        assertClose(x.pow(0.5).data, [0.70710677, 1.2247449, 1.4142135, 1.7320508])
        assertClose(x.pow(-1.5).data, [2.8284271, 0.54433107, 0.35355338, 0.19245009], rtol: 2e-6)
        assertClose(x.sqrt().data, [0.70710677, 1.2247449, 1.4142135, 1.7320508])
        #expect(Tensor(shape: [2], data: [-2, 2]).pow(3).data == [-8, 8])
        let c = Tensor(shape: [5], data: [-3, -1, 0.2, 1, 4]).clamped(min: -1, max: 1)
        #expect(c.data == [-1, -1, 0.2, 1, 1])
        #expect(Tensor(shape: [3], data: [-2.5, 0, 1.5]).abs().data == [2.5, 0, 1.5])
        // torch.asin(torch.tensor([-0.9, -0.2, 0.0, 0.5, 0.99]))
        assertClose(Tensor(shape: [5], data: [-0.9, -0.2, 0, 0.5, 0.99]).arcsin().data,
                    [-1.1197695, -0.20135793, 0, 0.52359879, 1.4292569], rtol: 2e-6)
    }

    @Test func clampGradientIsMaskedOutside() {
        let x = Tensor(shape: [5], data: [-3, -0.5, 0.2, 0.9, 4], requiresGrad: true)
        x.clamped(min: -1, max: 1).backward(seed: [1, 2, 3, 4, 5])
        #expect(x.gradData! == [0, 2, 3, 4, 0])
        let y = Tensor(shape: [3], data: [-1, 0, 1], requiresGrad: true)
        y.clamped(min: -1, max: 1).backward(seed: [1, 1, 1])
        #expect(y.gradData! == [0, 1, 0])   // at the bounds, as PyTorch's clamp backward
    }

    @Test func gradientsMatchFiniteDifferences() {
        let pos = param([3, 4], seed: 71, low: 0.3, high: 2)
        let tol = GradTolerance(eps: 1e-3, rtol: 1e-2, atol: 1e-3)
        expectGradientsMatch([pos], tolerance: tol) { $0[0].pow(3) }
        expectGradientsMatch([pos], tolerance: tol) { $0[0].pow(2) }
        expectGradientsMatch([pos], tolerance: tol) { $0[0].pow(-1.5) }
        expectGradientsMatch([pos], tolerance: tol) { $0[0].pow(0.7) }
        expectGradientsMatch([pos], tolerance: tol) { $0[0].sqrt() }
        // Points at least 0.05 away from the kinks at 0 and ±1 and inside (-1, 1) for arcsin.
        let x = Tensor(shape: [12], data: (0..<12).map { -0.88 + 0.16 * Float($0) }, requiresGrad: true)
        expectGradientsMatch([x], tolerance: tol) { $0[0].arcsin() }
        expectGradientsMatch([x], tolerance: tol) { $0[0].abs() }
        expectGradientsMatch([x], tolerance: tol) { $0[0].clamped(min: -0.5, max: 0.45) }
    }

    @Test func l2NormalizedForward() {
        // n = torch.tensor([[3.0, 4.0, 0.0], [1.0, -2.0, 2.0]]); F.normalize(n, dim=1), F.normalize(n, dim=0)
        let n = Tensor(shape: [2, 3], data: [3, 4, 0, 1, -2, 2])
        assertClose(n.l2Normalized(axis: 1).data, [0.6, 0.8, 0, 0.33333334, -0.66666669, 0.66666669])
        assertClose(n.l2Normalized().data, n.l2Normalized(axis: 1).data)
        assertClose(n.l2Normalized(axis: 0).data, [0.94868326, 0.89442718, 0, 0.31622776, -0.44721359, 1])
        // Below eps the denominator is eps: a zero vector stays zero, a tiny one is scaled by 1/eps.
        let tiny = Tensor(shape: [2, 2], data: [0, 0, 1e-4, 0]).l2Normalized(axis: 1, eps: 1e-2)
        assertClose(tiny.data, [0, 0, 1e-2, 0])
    }

    @Test func l2NormalizedGradients() {
        let x = param([3, 4, 5], seed: 72)
        expectGradientsMatch([x]) { $0[0].l2Normalized(axis: -1) }
        expectGradientsMatch([x]) { $0[0].l2Normalized(axis: 1) }
        expectGradientsMatch([x]) { $0[0].l2Normalized(axis: 0) }
        // Clamped branch: norm (≈0.05) below eps 1, gradient g / eps.
        let small = param([2, 3], seed: 73, low: -0.03, high: 0.03)
        expectGradientsMatch([small], tolerance: GradTolerance(eps: 1e-3, rtol: 1e-2, atol: 1e-4)) {
            $0[0].l2Normalized(axis: 1, eps: 1)
        }
    }
}
