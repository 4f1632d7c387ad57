// Crop-and-resize as linear maps. Resampling an image separably is R · X · Sᵀ per channel, with
// R [outHeight, H] and S [outWidth, W] holding the filter weights; a crop is just a map whose
// weights are zero outside the window. Expressed this way, cutouts and upsampling need only
// matmul and permute from Tensors, and their gradients come for free.

import Foundation
import Tensors

public enum Resampling {
    /// Weights [outputLength, fullLength] that resample the window `offset ..< offset + length`
    /// of a signal of `fullLength` samples to `outputLength` samples.
    ///
    /// The filter is a triangle (bilinear) whose support widens with the downscale factor, i.e.
    /// antialiased bilinear as PIL and PyTorch's `antialias=True` do it; when upscaling it is
    /// plain bilinear with half-pixel centres (`align_corners=False`). Rows are normalised, so
    /// samples near the window's edge renormalise instead of reading outside it.
    public static func weights(offset: Int, length: Int, fullLength: Int, outputLength: Int) -> [Float] {
        precondition(offset >= 0 && length > 0 && offset + length <= fullLength && outputLength > 0,
                     "bad resampling window \(offset)..<\(offset + length) of \(fullLength) to \(outputLength)")
        var w = [Float](repeating: 0, count: outputLength * fullLength)
        let scale = Double(length) / Double(outputLength)
        let support = max(scale, 1)
        for i in 0..<outputLength {
            // Centre of output sample i in source coordinates (source pixel j spans [j, j+1)).
            let centre = Double(offset) + (Double(i) + 0.5) * scale
            let lo = max(offset, Int((centre - support).rounded(.down)))
            let hi = min(offset + length, Int((centre + support).rounded(.up)))
            var total = 0.0
            var row = [(Int, Double)]()
            for j in lo..<hi {
                let weight = max(0, 1 - abs(Double(j) + 0.5 - centre) / support)
                if weight > 0 { row.append((j, weight)); total += weight }
            }
            for (j, weight) in row { w[i * fullLength + j] = Float(weight / total) }
        }
        return w
    }

    /// Weights [outputLength, fullLength] of the VQGAN+CLIP notebooks' `resample` applied to the
    /// window `offset ..< offset + length`: when shrinking, a Lanczos-2 low-pass whose taps sit at
    /// multiples of outputLength/length (reflect-padded, normalised to sum 1), then bicubic
    /// interpolation (A = −0.75) with `align_corners=True` and clamped borders. Both steps are
    /// linear, so their product is the exact map the reference applies along one axis.
    public static func lanczosBicubicWeights(offset: Int, length: Int, fullLength: Int, outputLength: Int) -> [Float] {
        precondition(offset >= 0 && length > 0 && offset + length <= fullLength && outputLength > 0,
                     "bad resampling window \(offset)..<\(offset + length) of \(fullLength) to \(outputLength)")
        // low [length, length]: the low-pass over the window (identity when not shrinking).
        var low = [Double](repeating: 0, count: length * length)
        if outputLength < length {
            let kernel = lanczosKernel(ratio: Double(outputLength) / Double(length))
            let pad = (kernel.count - 1) / 2
            precondition(pad < length, "resampling window of \(length) too short for its low-pass")
            for i in 0..<length {
                for (t, k) in kernel.enumerated() {
                    // Reflect padding without repeating the edge sample, as torch's 'reflect'.
                    var j = i - pad + t
                    if j < 0 { j = -j }
                    if j >= length { j = 2 * (length - 1) - j }
                    low[i * length + j] += k
                }
            }
        } else {
            for i in 0..<length { low[i * length + i] = 1 }
        }
        // cubic [outputLength, length], then w = cubic · low placed at the window's columns.
        var w = [Float](repeating: 0, count: outputLength * fullLength)
        for o in 0..<outputLength {
            let source = outputLength > 1 ? Double(o) * Double(length - 1) / Double(outputLength - 1) : 0
            let base = Int(source.rounded(.down))
            let t = source - Double(base)
            // Four taps (fewer after clamping at the borders): only their rows of `low` count.
            var taps: [(row: Int, weight: Double)] = []
            for (k, c) in cubicTaps(t).enumerated() {
                let i = min(max(base - 1 + k, 0), length - 1)
                if let same = taps.firstIndex(where: { $0.row == i }) { taps[same].weight += c } else { taps.append((i, c)) }
            }
            var sums = [Double](repeating: 0, count: length)
            for (i, c) in taps where c != 0 {
                for j in 0..<length { sums[j] += c * low[i * length + j] }
            }
            for j in 0..<length { w[o * fullLength + offset + j] = Float(sums[j]) }
        }
        return w
    }

    /// The notebooks' lanczos(ramp(ratio, 2), 2): taps at multiples of `ratio` inside (−2, 2),
    /// weights sinc(x)·sinc(x/2), normalised to sum 1.
    static func lanczosKernel(ratio: Double) -> [Double] {
        let n = Int((2 / ratio + 1).rounded(.up))
        let half = (0..<n).map { Double($0) * ratio }
        let positions = Array((half.dropFirst().reversed().map { -$0 } + half).dropFirst().dropLast())
        func sinc(_ x: Double) -> Double { x == 0 ? 1 : sin(Double.pi * x) / (Double.pi * x) }
        let raw = positions.map { x in (-2 < x && x < 2) ? sinc(x) * sinc(x / 2) : 0 }
        let total = raw.reduce(0, +)
        return raw.map { $0 / total }
    }

    /// PyTorch's bicubic convolution weights (A = −0.75) for the four samples around a point at
    /// fraction t past the second one.
    static func cubicTaps(_ t: Double) -> [Double] {
        let a = -0.75
        func near(_ x: Double) -> Double { ((a + 2) * x - (a + 3)) * x * x + 1 }
        func far(_ x: Double) -> Double { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
        return [far(t + 1), near(t), near(1 - t), far(2 - t)]
    }

    /// Resamples x [1, C, H, W] to [1, C, n, m] with row weights `rows` [n, H] and column
    /// weights `columns` [m, W].
    public static func apply(_ x: Tensor, rows: Tensor, columns: Tensor) -> Tensor {
        let (c, h, w) = (x.shape[1], x.shape[2], x.shape[3])
        let (n, m) = (rows.shape[0], columns.shape[0])
        precondition(x.shape[0] == 1 && rows.shape == [n, h] && columns.shape == [m, w], "resampling shapes do not match \(x.shape)")
        // [C·H, W] · Sᵀ → [C·H, m]
        let across = Tensor.matmul(x.reshaped([c * h, w]), columns, transposeB: true)
        // → [C, m, H] → [C·m, H] · Rᵀ → [C·m, n] → [C, n, m]
        let turned = across.reshaped([c, h, m]).transposed(1, 2).reshaped([c * m, h])
        let down = Tensor.matmul(turned, rows, transposeB: true)
        return down.reshaped([c, m, n]).transposed(1, 2).reshaped([1, c, n, m])
    }
}
