// What a render will cost before it starts: peak memory from the sizes of what one step keeps
// for its backward pass (decoder activations at the output size, CLIP activations for every
// view) plus the weights; work from the multiply-adds of the same layers. The figures are
// estimates, checked against measured peaks in the benchmarks; they decide whether to refuse a
// run and what to say about its length.

import CLIP
import Foundation
import VQGAN

public struct RenderCost: Sendable {
    /// Estimated peak resident memory of a render, bytes.
    public var peakBytes: Int
    /// Multiply-adds of one step (forward and backward), for a time estimate.
    public var stepMultiplyAdds: Double

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
