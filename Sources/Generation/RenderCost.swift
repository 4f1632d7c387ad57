// What a render will cost before it starts: peak memory from the sizes of what one step keeps
// for its backward pass (decoder activations at the output size, CLIP activations for every
// view) plus the weights; work from the multiply-adds of the same layers. The figures are
// estimates, checked against measured peaks in the benchmarks; they decide whether to refuse a
// run and what to say about its length.

import CLIP
import Foundation
import Tensors
import VQGAN

public struct RenderCost: Sendable {
    /// Estimated peak resident memory of a render, bytes.
    public var peakBytes: Int
    /// Multiply-adds of one step (forward and backward), for a time estimate.
    public var stepMultiplyAdds: Double
    /// Values one step keeps for its backward pass: each is written and read a few times by the
    /// memory-bound ops (norms, activations, softmax), the other part of a step's time.
    public var stepActivations: Double

    /// The estimate for a render of `width` × `height` with `cutn` views.
    public init(vqgan: VQGANConfig, clip: CLIPConfiguration, weightCount: Int, width: Int, height: Int, cutn: Int) {
        let dd = vqgan.ddconfig
        let levels = dd.chMult.count
        var activations = 0.0, macs = 0.0
        var transient = 0.0
        // Decoder: per level (0 = full size), num_res_blocks + 1 residual blocks, each keeping
        // about 8 maps of C×h×w for the backward (norms, activations, convolutions, sums).
        for level in 0..<levels {
            let channels = Double(dd.ch * dd.chMult[level])
            let pixels = Double(width >> level) * Double(height >> level)
            let blocks = Double(dd.numResBlocks + 1)
            activations += blocks * 8 * channels * pixels
            macs += blocks * 2 * 9 * channels * channels * pixels
            transient = max(transient, 9 * channels * pixels)        // one im2col buffer
            if dd.attnResolutions.contains(dd.resolution >> level) {
                let tokens = pixels
                activations += blocks * (6 * channels * pixels + 2 * tokens * tokens)
                macs += blocks * (4 * channels * channels * pixels + 2 * tokens * tokens * channels)
            }
        }
        // The middle block at the lowest level: two residual blocks and attention.
        let lowChannels = Double(dd.ch * dd.chMult[levels - 1])
        let lowPixels = Double(width >> (levels - 1)) * Double(height >> (levels - 1))
        activations += 22 * lowChannels * lowPixels + 2 * lowPixels * lowPixels
        macs += 4 * 9 * lowChannels * lowChannels * lowPixels + 2 * lowPixels * lowPixels * lowChannels
        // CLIP vision tower, per view and layer: ~18 maps of tokens × width, attention weights.
        let tokens = Double(clip.visionTokens), widthV = Double(clip.visionWidth)
        let perLayer = 18 * tokens * widthV + 2 * Double(clip.visionHeads) * tokens * tokens
        activations += Double(cutn) * Double(clip.visionLayers) * perLayer
        macs += Double(cutn) * Double(clip.visionLayers) * (12 * tokens * widthV * widthV + 2 * tokens * tokens * widthV)
        // The backward pass holds gradients beside the activations (about half as much again),
        // plus the process itself (runtime, BLAS buffers): 150 MB.
        let bytes = 4 * (Double(weightCount) + 1.5 * activations + transient) + 150e6
        peakBytes = Int(bytes)
        stepMultiplyAdds = 3 * macs      // forward + backward (the input gradient costs ~2x)
        stepActivations = activations
    }

    /// Estimated seconds for `steps` steps on a machine that does `multiplyAddsPerSecond` in
    /// large matrix products: the multiply-adds at ``gemmEfficiency`` of that rate, plus
    /// ``secondsPerActivation`` for each value kept for the backward pass.
    public func seconds(steps: Int, multiplyAddsPerSecond: Double) -> Double {
        guard multiplyAddsPerSecond > 0 else { return .infinity }
        return Double(steps) * (stepMultiplyAdds / (multiplyAddsPerSecond * Self.gemmEfficiency)
                                + stepActivations * Self.secondsPerActivation)
    }

    /// The share of the probe's matrix-product rate that the convolutions (im2col + GEMM) and
    /// the transformer's products reach inside a step.
    public static let gemmEfficiency = 0.8
    /// The time of the memory-bound work (norms, activations, softmax, their gradients, the
    /// optimiser) per value a step keeps, on 2 cores.
    ///
    /// Both constants were fitted on 2 shared cores to the measured step times of the full-size
    /// models (f16_16384 + ViT-B/32, 32 views, 9.6 s at 256×256: estimated 1.5x long) and of the
    /// embedded ones at 128 to 512 pixels (estimated 0.8x to 1.3x): the figure is a guide to
    /// within a factor of two, which is what a warning about a long run needs.
    public static let secondsPerActivation = 8e-9

    /// Multiply-adds per second of single-precision matrix products with the current thread
    /// settings: 384×384 products timed in `rounds` rounds of about 15 ms (after one untimed
    /// product that starts the worker threads), the best round counting, so that a moment of
    /// contention on a shared machine does not set the rate.
    public static func measureMultiplyAddRate(rounds: Int = 6, secondsPerRound: Double = 0.015) -> Double {
        let n = 384
        var generator = SeededGenerator(seed: 1)
        let a = Tensor(shape: [n, n], data: (0..<(n * n)).map { _ in Float.random(in: -1...1, using: &generator) })
        let b = Tensor(shape: [n, n], data: (0..<(n * n)).map { _ in Float.random(in: -1...1, using: &generator) })
        _ = Tensor.matmul(a, b)
        var best = 0.0
        for _ in 0..<rounds {
            let start = DispatchTime.now().uptimeNanoseconds
            var products = 0, elapsed = 0.0
            repeat {
                _ = Tensor.matmul(a, b)
                products += 1
                elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            } while elapsed < secondsPerRound
            best = max(best, Double(products) * Double(n * n * n) / elapsed)
        }
        return best
    }

    /// Memory the system can give a new process now (MemAvailable of /proc/meminfo), if known.
    public static func availableMemory() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let parts = line.split(separator: " ")
            if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
        }
        return nil
    }

    /// The largest size of the same aspect ratio (multiples of `factor`) whose estimate fits
    /// `budget` bytes, or nil when none does.
    public static func largestFitting(budget: Int, width: Int, height: Int, factor: Int,
                                      estimate: (Int, Int) -> RenderCost) -> (width: Int, height: Int)? {
        var scale = 1.0
        while scale > 0.01 {
            let w = Int(Double(width) * scale) / factor * factor
            let h = Int(Double(height) * scale) / factor * factor
            if w >= factor, h >= factor, estimate(w, h).peakBytes <= budget { return (w, h) }
            scale -= 0.02
        }
        return nil
    }
}

extension Int {
    /// Bytes as "1.2 GB" / "850 MB".
    public var humanBytes: String {
        let value = Double(self)
        return value >= 1e9 ? String(format: "%.1f GB", value / 1e9) : String(format: "%.0f MB", value / 1e6)
    }
}
