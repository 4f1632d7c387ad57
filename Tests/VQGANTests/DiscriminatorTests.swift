// NLayerDiscriminator parity with taming: BatchNorm in eval mode (running statistics) and in train
// mode (batch statistics, running-statistics update), ActNorm, and d loss / d input for
// loss = sum(D(x) · R). Tolerance 1e-4 relative (max |error| / max |reference|).

import Foundation
import Testing
import TestSupport
import Layers
import Tensors
@testable import VQGAN

@Suite struct DiscriminatorTests {
    static let tolerance: Float = 1e-4

    func load(_ tag: String, config: DiscriminatorConfig, requiresGrad: Bool = false) throws -> NLayerDiscriminator {
        let loader = WeightLoader(source: try Fixture.weights("disc_\(tag)_weights.safetensors"), requiresGrad: requiresGrad)
        let d = try NLayerDiscriminator(WeightScope(loader: loader, path: "loss.discriminator"), config: config)
        try loader.finish()
        return d
    }

    /// D(x) and d sum(D(x)·R)/dx against the fixture tensors `output` and `gradient`; returns both errors.
    func compare(_ d: NLayerDiscriminator, _ io: [String: (shape: [Int], values: [Float])], training: Bool,
                 output: String, gradient: String) -> (Float, Float) {
        let x = Fixture.tensor(io, "x", requiresGrad: true)
        let out = d(x, training: training)
        let e1 = assertParity(out, Fixture.tensor(io, output), tolerance: Self.tolerance, "D(x) \(output)")
        out.backward(seed: io["r"]!.values)
        let e2 = assertParity(x.grad!, Fixture.tensor(io, gradient), tolerance: Self.tolerance, "d D / d x \(gradient)")
        return (e1, e2)
    }

    @Test func batchNormDiscriminatorMatchesReference() throws {
        let config = DiscriminatorConfig(inChannels: 3, ndf: 8, nLayers: 3, useActNorm: false)
        let d = try load("bn", config: config)
        #expect(d.layers.count == 5)
        let io = try Fixture.read("disc_bn_io.safetensors")
        let (e1, e2) = compare(d, io, training: false, output: "out_eval", gradient: "grad_x")
        let (e3, e4) = compare(d, io, training: true, output: "out_train", gradient: "grad_x_train")
        var statErrors: [Float] = []
        for (k, layer) in d.layers.enumerated() {
            guard case .batch(_, _, let runningMean, let runningVar)? = layer.norm else { continue }
            let index = [3, 6, 9][k - 1]
            statErrors.append(assertParity(runningMean, Fixture.tensor(io, "after_train.main.\(index).running_mean"),
                                          tolerance: Self.tolerance, "running_mean \(index)"))
            statErrors.append(assertParity(runningVar, Fixture.tensor(io, "after_train.main.\(index).running_var"),
                                          tolerance: Self.tolerance, "running_var \(index)"))
        }
        #expect(statErrors.count == 6)
        print("VQGAN parity discriminator (BatchNorm): eval \(e1), grad \(e2), train \(e3), train grad \(e4), running stats \(statErrors.max()!)")
    }

    @Test func actNormDiscriminatorMatchesReference() throws {
        let config = DiscriminatorConfig(inChannels: 3, ndf: 8, nLayers: 2, useActNorm: true)
        let d = try load("actnorm", config: config)
        let io = try Fixture.read("disc_actnorm_io.safetensors")
        let (e1, e2) = compare(d, io, training: false, output: "out_eval", gradient: "grad_x")
        print("VQGAN parity discriminator (ActNorm): out \(e1), grad \(e2)")
    }

    @Test func discriminatorWeightGradientsAgreeWithFiniteDifferences() throws {
        let config = DiscriminatorConfig(inChannels: 3, ndf: 8, nLayers: 2, useActNorm: false)
        let d = try NLayerDiscriminator(WeightLoader(randomSeed: 3, requiresGrad: true).scope("d"), config: config)
        let x = Tensor.randn([1, 3, 16, 16], seed: 4)
        let r = Tensor.randn(d(x).shape, seed: 5).data
        let weight = d.layers[1].conv.weight
        guard case .batch(let bnWeight, _, _, _)? = d.layers[1].norm else { Issue.record("no BatchNorm"); return }
        d(x).backward(seed: r)
        func loss() -> Double {
            Autograd.withoutGrad { zip(d(x).data, r).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } }
        }
        for (t, i) in [(weight, 0), (weight, 77), (bnWeight, 3)] {
            let analytic = t.grad!.data[i]
            let numeric = centralDifference(t, at: i, eps: 1e-2, loss)
            #expect(abs(analytic - numeric) <= 1e-3 + 2e-2 * abs(numeric), "dL/dw[\(i)]: \(analytic) vs \(numeric)")
        }
    }

    /// Training mode normalises with the batch's own statistics, so the gradient also flows
    /// through the mean and variance; checked for the convolution and BatchNorm's scale and shift.
    /// Tolerance: |analytic − numeric| ≤ 1e-3 + 2e-2·|numeric| with central differences of 1e-2.
    @Test func trainModeWeightGradientsAgreeWithFiniteDifferences() throws {
        let config = DiscriminatorConfig(inChannels: 3, ndf: 8, nLayers: 2, useActNorm: false)
        let d = try NLayerDiscriminator(WeightLoader(randomSeed: 7, requiresGrad: true).scope("d"), config: config)
        let x = Tensor.randn([3, 3, 16, 16], seed: 8)
        let r = Tensor.randn(d(x, training: true).shape, seed: 9).data
        guard case .batch(let bnWeight, let bnBias, _, _)? = d.layers[1].norm,
              case .batch(let bnWeight2, _, _, _)? = d.layers[2].norm else { Issue.record("no BatchNorm"); return }
        let conv = d.layers[1].conv.weight, last = d.layers[3].conv.weight
        d(x, training: true).backward(seed: r)
        // The running statistics change on every call but do not enter the training-mode output.
        func loss() -> Double {
            Autograd.withoutGrad { zip(d(x, training: true).data, r).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } }
        }
        for (t, i) in [(conv, 0), (conv, 301), (bnWeight, 2), (bnBias, 5), (bnWeight2, 9), (last, 17)] {
            let analytic = t.grad!.data[i]
            let numeric = centralDifference(t, at: i, eps: 1e-2, loss)
            #expect(abs(analytic - numeric) <= 1e-3 + 2e-2 * abs(numeric), "dL/dw[\(i)]: \(analytic) vs \(numeric)")
        }
    }

    @Test func freshActNormInitialisesFromTheFirstTrainingBatch() throws {
        let config = DiscriminatorConfig(inChannels: 3, ndf: 8, nLayers: 2, useActNorm: true)
        let d = try NLayerDiscriminator(WeightLoader(randomSeed: 11).scope("d"), config: config)
        let x = Tensor.randn([2, 3, 16, 16], seed: 12)
        // The input of the first ActNorm: conv of LeakyReLU(conv0(x)).
        let preNorm = d.layers[1].conv(d.layers[0].conv(x).leakyReLU(0.2))
        _ = d(x, training: true)
        guard case .act(let loc, let scale, let initialized)? = d.layers[1].norm else { Issue.record("no ActNorm"); return }
        #expect(initialized.data == [1])
        let normalised = scale * (preNorm + loc)
        let c = preNorm.shape[1]
        let mean = normalised.mean(axes: [0, 2, 3]).data
        let variance = (normalised * normalised).mean(axes: [0, 2, 3]).data
        let n = Float(preNorm.count / c)
        for ch in 0..<c {
            #expect(abs(mean[ch]) < 1e-4)
            #expect(abs(variance[ch] * n / (n - 1) - 1) < 1e-3)
        }
        // Later batches keep the parameters.
        let before = loc.data
        _ = d(Tensor.randn([2, 3, 16, 16], seed: 13), training: true)
        #expect(loc.data == before)
    }
}
