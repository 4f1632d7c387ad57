// Activations: forward against PyTorch, SiLU's fast kernel against libm, gradients away from kinks.

import Foundation
import Testing
import TestSupport
@testable import Tensors

@Suite("Activations")
struct ActivationTests {
    // a = torch.tensor([-6.0, -2.5, -1.0, -0.3, 0.0, 0.4, 1.3, 3.0, 8.0])
    static let points: [Float] = [-6.0, -2.5, -1.0, -0.3, 0.0, 0.4, 1.3, 3.0, 8.0]
    static var input: Tensor { Tensor(shape: [9], data: points) }

    @Test func forwardMatchesTorch() {
        let x = Self.input
        // torch.sigmoid(a)
        assertClose(x.sigmoid().data, [0.002472623, 0.075858176, 0.26894143, 0.42555749, 0.5, 0.59868765,
                                       0.78583503, 0.95257413, 0.99966466], atol: 1e-7, rtol: 2e-6)
        // torch.tanh(a)
        assertClose(x.tanh().data, [-0.99998772, -0.98661429, -0.76159418, -0.29131263, 0, 0.37994897,
                                    0.86172312, 0.99505478, 0.99999976], atol: 1e-7, rtol: 2e-6)
        // F.silu(a)
        assertClose(x.silu().data, [-0.014835739, -0.18964545, -0.26894143, -0.12766725, 0, 0.23947507,
                                    1.0215855, 2.8577225, 7.9973173], atol: 1e-7, rtol: 2e-6)
        // F.gelu(a)
        assertClose(x.gelu().data, [0, -0.015524179, -0.15865529, -0.11462659, 0, 0.26216868,
                                    1.1741593, 2.9959502, 8], atol: 1e-7, rtol: 2e-6)
        // F.gelu(a, approximate='tanh')
        assertClose(x.gelu(approximateTanh: true).data, [0, -0.015084296, -0.15880799, -0.11462908, 0,
                                                         0.26216117, 1.173929, 2.9963627, 8], atol: 1e-7, rtol: 2e-6)
        // a * torch.sigmoid(1.702 * a)
        assertClose(x.quickGELU().data, [-0.00022035357, -0.034986161, -0.15420423, -0.11251587, 0,
                                         0.26556692, 1.1717879, 2.9819288, 7.9999905], atol: 1e-7, rtol: 2e-6)
        // F.relu(a), F.leaky_relu(a, 0.2)
        #expect(x.relu().data == [0, 0, 0, 0, 0, 0.4, 1.3, 3.0, 8.0])
        assertClose(x.leakyReLU(0.2).data, [-1.2, -0.5, -0.2, -0.06, 0, 0.4, 1.3, 3.0, 8.0])
    }

    @Test func fastExpIsAccurate() {
        // Relative error against Double exp over the whole non-subnormal range.
        var worst = 0.0
        var v: Float = -87
        while v < 88.3 {
            let exact = Foundation.exp(Double(v))
            worst = max(worst, Swift.abs(Double(fastExp(v)) - exact) / exact)
            v += 0.0137
        }
        #expect(worst < 4e-7)
        #expect(fastExp(-100) == 0 && fastExp(-.infinity) == 0)
        #expect(fastExp(200).isFinite)
    }

    @Test func siluLargeMagnitudesStayFinite() {
        let x = Tensor(shape: [6], data: [-1e30, -1e4, -100, 100, 1e4, 1e30], requiresGrad: true)
        let y = x.silu()
        #expect(y.data.allSatisfy { $0.isFinite })
        assertClose(y.data, [0, 0, 0, 100, 1e4, 1e30], atol: 1e-6, rtol: 1e-6)
        y.backward(seed: [Float](repeating: 1, count: 6))
        #expect(x.gradData!.allSatisfy { $0.isFinite })
        assertClose(x.gradData!, [0, 0, 0, 1, 1, 1], atol: 1e-6, rtol: 1e-6)
    }

    @Test func siluParallelKernelMatchesLibm() {
        // Large enough to run on both cores.
        let x = Tensor.randn([1 << 16], std: 6, seed: 31)
        let y = x.silu()
        for i in 0..<x.count {
            let v = Double(x.data[i])
            let ref = v / (1 + Foundation.exp(-v))
            #expect(Swift.abs(Double(y.data[i]) - ref) <= 1e-6 * Swift.abs(ref) + 1e-7)
        }
    }

    @Test func gradientsMatchFiniteDifferences() {
        // Evenly spaced points avoiding 0 (the kink of relu/leakyReLU) by more than eps.
        let x = Tensor(shape: [4, 5], data: (0..<20).map { -3.05 + 0.31 * Float($0) }, requiresGrad: true)
        let tol = GradTolerance(eps: 1e-2, rtol: 1e-2, atol: 1e-3)
        expectGradientsMatch([x], tolerance: tol) { $0[0].sigmoid() }
        expectGradientsMatch([x], tolerance: tol) { $0[0].tanh() }
        expectGradientsMatch([x], tolerance: tol) { $0[0].silu() }
        expectGradientsMatch([x], tolerance: tol) { $0[0].swish() }
        expectGradientsMatch([x], tolerance: tol) { $0[0].gelu() }
        expectGradientsMatch([x], tolerance: tol) { $0[0].gelu(approximateTanh: true) }
        expectGradientsMatch([x], tolerance: tol) { $0[0].quickGELU() }
        expectGradientsMatch([x], tolerance: tol) { $0[0].relu() }
        expectGradientsMatch([x], tolerance: tol) { $0[0].leakyReLU(0.2) }
    }
}
