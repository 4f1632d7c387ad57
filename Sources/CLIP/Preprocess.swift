// CLIP's input pipeline (clip.clip._transform): resize the shorter side to the input size with
// PIL's bicubic filter, centre-crop, scale to [0, 1], normalise with CLIP's mean and std.
// The resize reproduces Pillow's 8-bit resampler (separable, antialiased when shrinking, a = −0.5
// cubic, 22-bit fixed-point taps, rounding to 8 bits after each pass) so that scores of real
// photos match the reference. Rendering does its own cutouts and only needs ``CLIPPreprocess/normalize(_:)``.

import Foundation
import Tensors

/// CLIP's image preprocessing.
public enum CLIPPreprocess {
    /// Per-channel mean of CLIP's training images (RGB).
    public static let mean: [Float] = [0.48145466, 0.4578275, 0.40821073]
    /// Per-channel standard deviation (RGB).
    public static let std: [Float] = [0.26862954, 0.26130258, 0.27577711]

    /// (x − mean) / std per channel of images [B, 3, H, W] with values in [0, 1]. Differentiable.
    public static func normalize(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[1] == 3, "CLIP normalize: images must be [B, 3, H, W], got \(x.shape)")
        let m = Tensor(shape: [1, 3, 1, 1], data: mean)
        let inverseStd = Tensor(shape: [1, 3, 1, 1], data: std.map { 1 / $0 })
        return (x - m) * inverseStd
    }

    /// A normalised [1, 3, size, size] tensor from 8-bit interleaved RGB pixels (row-major),
    /// as `_transform(size)` makes it from a PIL image.
    public static func imageTensor(width: Int, height: Int, rgb: [UInt8], size: Int) -> Tensor {
        precondition(rgb.count == width * height * 3, "CLIP preprocess: \(rgb.count) bytes for \(width)x\(height) RGB")
        precondition(width > 0 && height > 0 && size > 0, "CLIP preprocess: empty image or size")
        // torchvision: the short side becomes `size`, the long one int(size · long / short).
        let (newW, newH): (Int, Int) = width <= height
            ? (size, Int(Double(size) * Double(height) / Double(width)))
            : (Int(Double(size) * Double(width) / Double(height)), size)
        var pixels = rgb, w = width, h = height
        if newW != w || newH != h {
            (pixels, w, h) = resizeBicubicPIL(pixels, width: w, height: h, newWidth: newW, newHeight: newH)
        }
        // torchvision CenterCrop: offsets int(round((side − size) / 2)), Python's round half to even.
        let top = Int((Double(h - size) / 2).rounded(.toNearestOrEven))
        let left = Int((Double(w - size) / 2).rounded(.toNearestOrEven))
        var out = [Float](repeating: 0, count: 3 * size * size)
        for c in 0..<3 {
            let m = mean[c], s = std[c]
            for y in 0..<size {
                for x in 0..<size {
                    let v = Float(pixels[((top + y) * w + left + x) * 3 + c]) / 255
                    out[(c * size + y) * size + x] = (v - m) / s
                }
            }
        }
        return Tensor(shape: [1, 3, size, size], data: out)
    }

    // MARK: Pillow's bicubic resampler

    private static let precisionBits = 22

    /// Pillow's bicubic kernel (a = −0.5), support 2.
    private static func bicubic(_ t: Double) -> Double {
        let x = abs(t), a = -0.5
        if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
        if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
        return 0
    }

    /// Per output position: first input index, and fixed-point taps (the kernel widened by the
    /// shrink factor, normalised to sum 1, then scaled by 2^22 and rounded away from zero).
    private static func taps(inSize: Int, outSize: Int) -> [(start: Int, weights: [Int32])] {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = 2 * filterScale
        return (0..<outSize).map { xx in
            let center = (Double(xx) + 0.5) * scale
            // C's (int) cast truncates toward zero.
            let lo = max(Int((center - support + 0.5).rounded(.towardZero)), 0)
            let hi = min(Int((center + support + 0.5).rounded(.towardZero)), inSize)
            var k = (lo..<max(hi, lo)).map { bicubic((Double($0) - center + 0.5) / filterScale) }
            let total = k.reduce(0, +)
            if total != 0 { k = k.map { $0 / total } }
            let one = Double(1 << precisionBits)
            return (lo, k.map { $0 < 0 ? Int32(-0.5 + $0 * one) : Int32(0.5 + $0 * one) })
        }
    }

    private static func clip8(_ v: Int32) -> UInt8 {
        if v <= 0 { return 0 }
        if v >= Int32(255) << precisionBits { return 255 }
        return UInt8(v >> Int32(precisionBits))
    }

    /// Pillow `Image.resize(..., BICUBIC)` of an 8-bit RGB image: horizontal pass, then vertical,
    /// each rounded to 8 bits.
    static func resizeBicubicPIL(_ src: [UInt8], width: Int, height: Int, newWidth: Int, newHeight: Int)
        -> ([UInt8], Int, Int) {
        var pixels = src, w = width
        if newWidth != width {
            let t = taps(inSize: width, outSize: newWidth)
            var out = [UInt8](repeating: 0, count: newWidth * height * 3)
            for y in 0..<height {
                for (x, tap) in t.enumerated() {
                    for c in 0..<3 {
                        var acc = Int32(1 << (precisionBits - 1))
                        for (i, k) in tap.weights.enumerated() {
                            acc &+= Int32(pixels[(y * w + tap.start + i) * 3 + c]) &* k
                        }
                        out[(y * newWidth + x) * 3 + c] = clip8(acc)
                    }
                }
            }
            pixels = out
            w = newWidth
        }
        if newHeight != height {
            let t = taps(inSize: height, outSize: newHeight)
            var out = [UInt8](repeating: 0, count: w * newHeight * 3)
            for (y, tap) in t.enumerated() {
                for x in 0..<w {
                    for c in 0..<3 {
                        var acc = Int32(1 << (precisionBits - 1))
                        for (i, k) in tap.weights.enumerated() {
                            acc &+= Int32(pixels[((tap.start + i) * w + x) * 3 + c]) &* k
                        }
                        out[(y * w + x) * 3 + c] = clip8(acc)
                    }
                }
            }
            pixels = out
        }
        return (pixels, w, newHeight)
    }
}
