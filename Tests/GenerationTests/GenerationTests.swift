// Resampling weights against known bilinear values, cutouts against direct crops, gradients of
// the cutout and latent maps by central differences, and the fitting loop's convergence and events.

import Testing
@testable import Generation
import Tensors

private func expectClose(_ a: [Float], _ b: [Float], tolerance: Float = 1e-5, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.count == b.count, sourceLocation: sourceLocation)
    for (x, y) in zip(a, b) where abs(x - y) > tolerance {
        Issue.record("\(a) vs \(b)", sourceLocation: sourceLocation)
        return
    }
}

/// Applies 1-D weights [n, L] to a signal of length L.
private func resample1D(_ signal: [Float], _ weights: [Float], outputs n: Int) -> [Float] {
    (0..<n).map { i in (0..<signal.count).reduce(Float(0)) { $0 + weights[i * signal.count + $1] * signal[$1] } }
}

@Suite("Resampling")
struct ResamplingTests {
    @Test func upsamplingIsBilinearWithHalfPixelCentres() {
        // torch.nn.functional.interpolate(torch.tensor([[[0., 1.]]]), size=4, mode="linear") → [0, 0.25, 0.75, 1]
        let w = Resampling.weights(offset: 0, length: 2, fullLength: 2, outputLength: 4)
        expectClose(resample1D([0, 1], w, outputs: 4), [0, 0.25, 0.75, 1])
        // and to 3: [0, 0.5, 1] (source positions 1/6·… clamp at the edges)
        let w3 = Resampling.weights(offset: 0, length: 2, fullLength: 2, outputLength: 3)
        expectClose(resample1D([0, 1], w3, outputs: 3), [0, 0.5, 1])
    }

    @Test func sameSizeWindowIsAnExactCrop() {
        let signal: [Float] = [9, 8, 7, 6, 5, 4, 3, 2]
        let w = Resampling.weights(offset: 2, length: 3, fullLength: 8, outputLength: 3)
        #expect(resample1D(signal, w, outputs: 3) == [7, 6, 5])
    }

    @Test func downsamplingAveragesAndPreservesConstantsAndRamps() {
        let w = Resampling.weights(offset: 0, length: 12, fullLength: 12, outputLength: 3)
        for i in 0..<3 { expectClose([w[(i * 12)..<((i + 1) * 12)].reduce(0, +)], [1]) }
        expectClose(resample1D([Float](repeating: 0.3, count: 12), w, outputs: 3), [0.3, 0.3, 0.3])
        // The middle output of a ramp sits on the ramp at its centre (source position 6 → value 5.5).
        let ramp = (0..<12).map(Float.init)
        expectClose([resample1D(ramp, w, outputs: 3)[1]], [5.5], tolerance: 1e-4)
        // Antialiased: every output reads more than its own 4 source pixels' centre pair.
        #expect((0..<12).filter { w[12 + $0] > 0 }.count > 4)
    }
}

@Suite("Cutouts")
struct CutoutTests {
    func image(_ h: Int, _ w: Int) -> Tensor {
        Tensor(shape: [1, 3, h, w], data: (0..<(3 * h * w)).map { Float(($0 * 37) % 101) / 100 })
    }

    @Test func unscaledCutoutsAreCrops() {
        let x = image(10, 12)
        let batch = CutoutBatch(windows: [(top: 1, left: 2, side: 4), (top: 6, left: 8, side: 4)], height: 10, width: 12, cutSize: 4)
        let cuts = batch.apply(x)
        #expect(cuts.shape == [2, 3, 4, 4])
        for (n, (top, left, _)) in batch.windows.enumerated() {
            for c in 0..<3 { for y in 0..<4 { for xx in 0..<4 {
                let got = cuts.data[((n * 3 + c) * 4 + y) * 4 + xx]
                let want = x.data[(c * 10 + top + y) * 12 + left + xx]
                #expect(got == want)
            } } }
        }
    }

    @Test func batchedCutoutsMatchOneAtATimeResampling() {
        let x = image(16, 20)
        var rng = SeededGenerator(seed: 4)
        let batch = CutoutBatch.random(count: 5, cutSize: 6, height: 16, width: 20, using: &rng)
        let cuts = batch.apply(x)
        for (n, window) in batch.windows.enumerated() {
            #expect(window.side >= 6 && window.side <= 16 && window.top + window.side <= 16 && window.left + window.side <= 20)
            let rows = Tensor(shape: [6, 16], data: Resampling.weights(offset: window.top, length: window.side, fullLength: 16, outputLength: 6))
            let cols = Tensor(shape: [6, 20], data: Resampling.weights(offset: window.left, length: window.side, fullLength: 20, outputLength: 6))
            let single = Resampling.apply(x, rows: rows, columns: cols)
            expectClose(Array(cuts.data[(n * 108)..<((n + 1) * 108)]), single.data)
        }
    }

    @Test func gradientsMatchCentralDifferences() {
        let x = Tensor(shape: [1, 3, 9, 11], data: (0..<297).map { Float(($0 * 13) % 29) / 29 }, requiresGrad: true)
        var rng = SeededGenerator(seed: 8)
        let batch = CutoutBatch.random(count: 3, cutSize: 5, height: 9, width: 11, using: &rng)
        let weights = Tensor.randn([3, 3, 5, 5], seed: 2)
        // A nonlinear read-out so that the gradient depends on x.
        func loss(_ t: Tensor) -> Tensor { (batch.apply(t).sigmoid() * weights).sum() }
        loss(x).backward()
        let analytic = x.grad!.data
        for i in stride(from: 0, to: 297, by: 7) {
            let h: Float = 1e-2
            let plus = Tensor(shape: x.shape, data: x.data), minus = Tensor(shape: x.shape, data: x.data)
            plus.data[i] += h; minus.data[i] -= h
            let numeric = (loss(plus).item - loss(minus).item) / (2 * h)
            #expect(abs(numeric - analytic[i]) <= 1e-3 + 1e-2 * abs(numeric), "element \(i)")
        }
    }

    @Test func latentImageFromAnInitialImage() {
        // A flat colour survives the trip through the latent grid (sigmoid of logit, up to clamping).
        let plane = [Float](repeating: 0.25, count: 40 * 30)
        let initial = Tensor(shape: [1, 3, 30, 40], data: plane + plane.map { _ in 0.5 } + plane.map { _ in 0.995 })
        let image = LatentImage(width: 16, height: 12, factor: 4, initial: initial)
        #expect(image.latent.shape == [1, 3, 3, 4] && image.latent.requiresGrad)
        let decoded = image.decode()
        expectClose(Array(decoded.data[0..<192]), [Float](repeating: 0.25, count: 192), tolerance: 1e-4)
        expectClose(Array(decoded.data[192..<384]), [Float](repeating: 0.5, count: 192), tolerance: 1e-4)
        expectClose(Array(decoded.data[384..<576]), [Float](repeating: 0.99, count: 192), tolerance: 1e-4)
    }

    @Test func decodeIsTheUpsamplingMapOfResampling() {
        // decode() upsamples with Tensors' bilinear kernel; for an upscale it must equal the
        // dense Resampling map (half-pixel centres, edge renormalisation = edge clamping).
        let image = LatentImage(width: 13, height: 10, factor: 3, seed: 6)
        let (lh, lw) = (image.latent.shape[2], image.latent.shape[3])
        let rows = Tensor(shape: [10, lh], data: Resampling.weights(offset: 0, length: lh, fullLength: lh, outputLength: 10))
        let cols = Tensor(shape: [13, lw], data: Resampling.weights(offset: 0, length: lw, fullLength: lw, outputLength: 13))
        let dense = Autograd.withoutGrad { Resampling.apply(image.latent, rows: rows, columns: cols).sigmoid() }
        let decoded = Autograd.withoutGrad { image.decode() }
        #expect(decoded.shape == [1, 3, 10, 13])
        expectClose(decoded.data, dense.data, tolerance: 1e-6)
    }

    @Test func latentImageGradient() {
        let image = LatentImage(width: 12, height: 8, factor: 4, seed: 1)
        #expect(image.latent.shape == [1, 3, 2, 3])
        let r = Tensor.randn([1, 3, 8, 12], seed: 5)
        (image.decode() * r).sum().backward()
        let analytic = image.latent.grad!.data
        let base = image.latent.data
        for i in 0..<base.count {
            let h: Float = 1e-2
            image.latent.data = base; image.latent.data[i] += h
            let plus = Autograd.withoutGrad { (image.decode() * r).sum().item }
            image.latent.data = base; image.latent.data[i] -= h
            let minus = Autograd.withoutGrad { (image.decode() * r).sum().item }
            let numeric = (plus - minus) / (2 * h)
            #expect(abs(numeric - analytic[i]) <= 1e-3 + 1e-2 * abs(numeric), "latent \(i)")
        }
        image.latent.data = base
    }
}

@Suite("Target fitting")
struct TargetFittingTests {
    /// Left half red, right half blue.
    func target(_ h: Int, _ w: Int) -> Tensor {
        var data = [Float](repeating: 0, count: 3 * h * w)
        for y in 0..<h { for x in 0..<w {
            data[(0 * h + y) * w + x] = x < w / 2 ? 0.9 : 0.1
            data[(2 * h + y) * w + x] = x < w / 2 ? 0.1 : 0.9
        } }
        return Tensor(shape: [1, 3, h, w], data: data)
    }

    @Test func convergesAndReportsEveryStep() throws {
        var config = FittingConfiguration(width: 32, height: 24, steps: 120, seed: 3)
        config.cutSize = 16
        config.cutouts = 8
        config.snapshotEvery = 50
        let t = target(24, 32)
        let initial = LatentImage(width: 32, height: 24, factor: 4, seed: 3).decode()
        let startError = (initial - t).pow(2).mean().item
        var steps: [Int] = [], snapshots: [Int] = [], losses: [Float] = []
        let result = try TargetFitting.run(target: t, configuration: config) { event in
            switch event {
            case .progress(let step, let total, let loss):
                #expect(total == 120)
                steps.append(step); losses.append(loss)
            case .snapshot(let step, let image):
                #expect(image.shape == [1, 3, 24, 32])
                snapshots.append(step)
            }
        }
        #expect(steps == Array(1...120))
        #expect(snapshots == [0, 50, 100])
        #expect(result.fullImageError < startError / 10)
        #expect(losses.last! < losses.first! / 10)
        #expect(result.finalLoss == losses.last!)
        #expect(result.image.data.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    @Test func sameSeedSameResult() throws {
        var config = FittingConfiguration(width: 16, height: 16, steps: 10, seed: 9)
        config.cutSize = 8
        let a = try TargetFitting.run(target: target(16, 16), configuration: config) { _ in }
        let b = try TargetFitting.run(target: target(16, 16), configuration: config) { _ in }
        #expect(a.image.data == b.image.data)
        config.seed = 10
        let c = try TargetFitting.run(target: target(16, 16), configuration: config) { _ in }
        #expect(a.image.data != c.image.data)
    }

    @Test func throwingFromTheCallbackStops() {
        struct Stop: Error {}
        var seen = 0
        let config = FittingConfiguration(width: 8, height: 8, steps: 50, seed: 1)
        #expect(throws: Stop.self) {
            _ = try TargetFitting.run(target: target(8, 8), configuration: config) { event in
                if case .progress = event { seen += 1; if seen == 3 { throw Stop() } }
            }
        }
        #expect(seen == 3)
    }
}
