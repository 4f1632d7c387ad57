// Forward values and gradients of the core ops: broadcasting arithmetic, reductions, shape moves,
// matrix products; and the autodiff contract (accumulation, frozen leaves, no-grad mode).

import Dispatch
import Testing
import TestSupport
@testable import Tensors

@Suite("Arithmetic")
struct ArithmeticTests {
    @Test func broadcastForward() {
        let a = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        let b = Tensor(shape: [3], data: [10, 20, 30])
        #expect((a + b).data == [11, 22, 33, 14, 25, 36])
        let c = Tensor(shape: [2, 1], data: [2, 3])
        #expect((a * c).data == [2, 4, 6, 12, 15, 18])
        #expect((a - c).shape == [2, 3])
        #expect((a / c).data[5] == 2)
        #expect(broadcastShape([4, 1, 3], [5, 1]) == [4, 5, 3])
    }

    @Test func channelBroadcastNCHW() {
        let x = Tensor.randn([2, 3, 4, 5], seed: 1)
        let bias = Tensor(shape: [1, 3, 1, 1], data: [1, 2, 3])
        let y = x + bias
        for n in 0..<2 { for c in 0..<3 { for i in 0..<20 {
            let idx = (n * 3 + c) * 20 + i
            #expect(y.data[idx] == x.data[idx] + Float(c + 1))
        } } }
    }

    @Test(arguments: [([2, 3], [2, 3]), ([2, 3], [3]), ([2, 1, 4], [3, 1]), ([1, 3, 1, 1], [2, 3, 4, 5]), ([], [2, 2])])
    func binaryGradients(shapes: ([Int], [Int])) {
        let a = param(shapes.0, seed: 1), b = param(shapes.1, seed: 2, low: 0.5, high: 2)
        expectGradientsMatch([a, b]) { $0[0] + $0[1] }
        expectGradientsMatch([a, b]) { $0[0] - $0[1] }
        expectGradientsMatch([a, b]) { $0[0] * $0[1] }
        expectGradientsMatch([a, b]) { $0[0] / $0[1] }
    }

    @Test func scalarOpsAndExpLog() {
        let x = param([3, 4], seed: 3, low: 0.2, high: 2)
        expectGradientsMatch([x]) { ($0[0] * 3 + 1 - 0.5) / 2 }
        expectGradientsMatch([x]) { 2 - $0[0] }
        expectGradientsMatch([x]) { -$0[0] }
        expectGradientsMatch([x]) { $0[0].exp() }
        expectGradientsMatch([x]) { $0[0].log() }
        let e = Tensor(shape: [2], data: [0, 1]).exp()
        assertClose(e.data, [1, 2.7182817])
    }
}

@Suite("Reductions")
struct ReductionTests {
    @Test func sumsAndMeans() {
        let x = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        #expect(x.sum().item == 21)
        #expect(x.mean().item == 3.5)
        #expect(x.sum(axes: [0]).data == [5, 7, 9])
        #expect(x.sum(axes: [1], keepDims: true).shape == [2, 1])
        #expect(x.sum(axes: [-1]).data == [6, 15])
        #expect(x.mean(axes: [0, 1]).data == [3.5])
    }

    @Test func gradientsMatchFiniteDifferences() {
        let x = param([2, 3, 4], seed: 4)
        expectGradientsMatch([x]) { $0[0].sum() }
        expectGradientsMatch([x]) { $0[0].mean() }
        expectGradientsMatch([x]) { $0[0].sum(axes: [1]) }
        expectGradientsMatch([x]) { $0[0].sum(axes: [0, 2], keepDims: true) }
        expectGradientsMatch([x]) { $0[0].mean(axes: [-1]) }
    }
}

@Suite("Shape")
struct ShapeTests {
    @Test func permuteForward() {
        let x = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        #expect(x.transposed(0, 1).data == [1, 4, 2, 5, 3, 6])
        let y = Tensor(shape: [2, 3, 4], data: (0..<24).map(Float.init)).permuted([2, 0, 1])
        #expect(y.shape == [4, 2, 3])
        // y[k, i, j] = x[i, j, k] = i*12 + j*4 + k
        #expect(y.data[1 * 6 + 1 * 3 + 2] == Float(1 * 12 + 2 * 4 + 1))
        #expect(x.reshaped([3, -1]).shape == [3, 2])
        #expect(x.unsqueezed(0).shape == [1, 2, 3])
        #expect(x.unsqueezed(-1).shape == [2, 3, 1])
        #expect(x.unsqueezed(0).squeezed(0).shape == [2, 3])
        #expect(Tensor.zeros([2, 3, 4]).flattened(from: 1).shape == [2, 12])
    }

    @Test func gradientsMatchFiniteDifferences() {
        let x = param([2, 3, 4], seed: 5)
        expectGradientsMatch([x]) { $0[0].reshaped([6, 4]) }
        expectGradientsMatch([x]) { $0[0].permuted([2, 0, 1]) }
        expectGradientsMatch([x]) { $0[0].transposed(0, 2) }
        expectGradientsMatch([x]) { $0[0].flattened(from: 1) }
    }
}

@Suite("MatMul")
struct MatMulTests {
    @Test func forwardKnownValues() {
        let a = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        let b = Tensor(shape: [3, 2], data: [7, 8, 9, 10, 11, 12])
        #expect(Tensor.matmul(a, b).data == [58, 64, 139, 154])
        #expect(Tensor.matmul(a, a, transposeB: true).data == [14, 32, 32, 77])
        #expect(Tensor.matmul(a, a, transposeA: true).shape == [3, 3])
        let w = Tensor(shape: [2, 3], data: [1, 0, 0, 0, 1, 1])
        #expect(Tensor.linear(a, weight: w, bias: Tensor(shape: [2], data: [1, -1])).data == [2, 4, 5, 10])
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func gradients(transposes: (Bool, Bool)) {
        let (ta, tb) = transposes
        let a = param(ta ? [4, 3] : [3, 4], seed: 6), b = param(tb ? [5, 4] : [4, 5], seed: 7)
        expectGradientsMatch([a, b]) { Tensor.matmul($0[0], $0[1], transposeA: ta, transposeB: tb) }
        // Batched with per-batch right operand, and with a shared 2-D right operand.
        let ab = param(ta ? [2, 4, 3] : [2, 3, 4], seed: 8), bb = param(tb ? [2, 5, 4] : [2, 4, 5], seed: 9)
        expectGradientsMatch([ab, bb]) { Tensor.matmul($0[0], $0[1], transposeA: ta, transposeB: tb) }
        expectGradientsMatch([ab, b]) { Tensor.matmul($0[0], $0[1], transposeA: ta, transposeB: tb) }
    }

    /// Products large enough to be split into bands of rows (m ≥ n) or of columns, with every
    /// transpose, alpha, beta and leading dimensions wider than the operands, against a
    /// double-precision sum (tolerance 1e-5 of the sum of absolute terms).
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func splitProductsMatchTheDefinition(transposes: (Bool, Bool)) {
        let (ta, tb) = transposes
        for (m, n, k) in [(203, 96, 97), (37, 301, 101)] {
            let (lda, ldb, ldc) = ((ta ? m : k) + 3, (tb ? k : n) + 5, n + 2)
            let a = Tensor.randn([(ta ? k : m) * lda], seed: 21).data, b = Tensor.randn([(tb ? n : k) * ldb], seed: 22).data
            let c0 = Tensor.randn([m * ldc], seed: 23).data
            var c = c0
            gemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 2, a, lda: lda, b, ldb: ldb, beta: 0.5, &c, ldc: ldc)
            var worst = 0.0
            for i in 0..<m {
                for j in 0..<n {
                    var sum = 0.5 * Double(c0[i * ldc + j]), scale = abs(sum)
                    for p in 0..<k {
                        let term = 2 * Double(ta ? a[p * lda + i] : a[i * lda + p]) * Double(tb ? b[j * ldb + p] : b[p * ldb + j])
                        sum += term
                        scale += abs(term)
                    }
                    worst = max(worst, abs(Double(c[i * ldc + j]) - sum) / scale)
                }
                for j in n..<ldc { #expect(c[i * ldc + j] == c0[i * ldc + j], "padding column \(j) of row \(i) written") }
            }
            #expect(worst < 1e-5, "\(m)x\(n)x\(k): relative error \(worst)")
        }
    }

    /// A product gives the same bits while other threads run kernels of their own (each a worker
    /// of its own `Parallel.chunks`): nothing one caller does changes how another's product is split.
    @Test func productsAreTheSameBitsWhateverRunsBeside() {
        let a = Tensor.randn([256, 192], seed: 24).data, b = Tensor.randn([192, 160], seed: 25).data
        @Sendable func product() -> [Float] { Tensor.matmul(Tensor(shape: [256, 192], data: a), Tensor(shape: [192, 160], data: b)).data }
        let expected = product()
        let x = Tensor.randn([4, 16, 24, 24], seed: 26).data, w = Tensor.randn([16, 16, 3, 3], seed: 27).data
        var mismatches = 0
        withUnsafeMutablePointer(to: &mismatches) { pointer in
            let count = SendablePointer(pointer)
            DispatchQueue.concurrentPerform(iterations: 3) { thread in
                for _ in 0..<20 {
                    if thread == 0 {
                        if product() != expected { count[0] += 1 }
                    } else {
                        _ = Tensor.conv2d(Tensor(shape: [4, 16, 24, 24], data: x), weight: Tensor(shape: [16, 16, 3, 3], data: w),
                                          bias: nil, padding: 1)
                    }
                }
            }
        }
        #expect(mismatches == 0)
    }

    @Test func linearGradients() {
        let x = param([2, 3, 4], seed: 10), w = param([5, 4], seed: 11), bias = param([5], seed: 12)
        expectGradientsMatch([x, w, bias]) { Tensor.linear($0[0], weight: $0[1], bias: $0[2]) }
        // Two uses of the same input and weight: the second gradient accumulates into the first.
        let w2 = param([5, 4], seed: 13)
        expectGradientsMatch([x, w, w2]) {
            Tensor.linear($0[0], weight: $0[1]) * Tensor.linear($0[0], weight: $0[2]) + Tensor.linear($0[0], weight: $0[1])
        }
        // A vector input gives a vector output.
        let v = Tensor(shape: [3], data: [1, 2, 3])
        let m = Tensor(shape: [2, 3], data: [1, 0, 0, 0, 1, 1])
        #expect(Tensor.linear(v, weight: m, bias: Tensor(shape: [2], data: [1, -1])).shape == [2])
        #expect(Tensor.linear(v, weight: m, bias: Tensor(shape: [2], data: [1, -1])).data == [2, 4])
    }
}

@Suite("Autodiff contract")
struct AutodiffTests {
    @Test func accumulatesOverUses() {
        let x = Tensor(shape: [2], data: [3, 4], requiresGrad: true)
        (x * x + x).sum().backward()
        #expect(x.grad!.data == [7, 9])
        // A second forward/backward adds to the existing gradient.
        (x * 2).sum().backward()
        #expect(x.gradData == [9, 11])
        x.zeroGrad()
        #expect(x.gradData == nil)
    }

    @Test func frozenLeavesGetNoGradient() {
        let w = Tensor.randn([4, 3], seed: 1)                       // frozen weight
        let x = Tensor.randn([2, 3], seed: 2, requiresGrad: true)
        let y = Tensor.linear(x, weight: w).sum()
        #expect(y.requiresGrad)
        y.backward()
        #expect(w.gradData == nil)
        #expect(x.gradData != nil)
    }

    @Test func noGradModeRecordsNothing() {
        let x = Tensor.randn([3], seed: 3, requiresGrad: true)
        let y = Autograd.withoutGrad { (x * 2).sum() }
        #expect(!y.requiresGrad)
        #expect(y.isLeaf)
    }

    @Test func deepGraphDoesNotOverflow() {
        let x = Tensor(scalar: 1, requiresGrad: true)
        var y = x
        for _ in 0..<20000 { y = y * 1.0001 }
        y.backward()
        #expect(abs(x.grad!.item - 7.389) < 0.01)
    }

    @Test func retainGradKeepsIntermediate() {
        let x = Tensor(shape: [2], data: [1, 2], requiresGrad: true)
        let h = x * 3
        h.retainGrad()
        (h * h).sum().backward()
        #expect(h.gradData == [6, 12])
    }
}
