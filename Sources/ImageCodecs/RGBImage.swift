// The in-memory image that crosses the codec boundary: 8-bit interleaved RGB, plus the
// conversions to and from the [1, 3, H, W] Float tensors that models consume.

import Tensors

/// An 8-bit RGB image, rows top to bottom, pixels interleaved as R, G, B.
public struct RGBImage: Sendable, Equatable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// `width * height * 3` bytes: row-major, interleaved RGB.
    public var pixels: [UInt8]

    /// Wraps existing pixels. `pixels.count` must be `width * height * 3`.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0, "negative image size \(width)x\(height)")
        precondition(pixels.count == width * height * 3,
                     "\(pixels.count) bytes for a \(width)x\(height) RGB image (needs \(width * height * 3))")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// An image filled with one colour.
    public init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in stride(from: 0, to: pixels.count, by: 3) {
            pixels[i] = fill.0; pixels[i + 1] = fill.1; pixels[i + 2] = fill.2
        }
        self.init(width: width, height: height, pixels: pixels)
    }

    /// The colour at column `x`, row `y`.
    public subscript(x: Int, y: Int) -> (r: UInt8, g: UInt8, b: UInt8) {
        let i = (y * width + x) * 3
        return (pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// Converts a [1, 3, H, W] (or [3, H, W]) tensor with values in [0, 1] to 8 bits, rounding to
    /// the nearest level. Values outside [0, 1] are clamped and NaN becomes 0, so an optimiser
    /// that overshoots still saves an image.
    public init(tensor: Tensor) {
        let s = tensor.shape
        precondition((s.count == 4 && s[0] == 1 && s[1] == 3) || (s.count == 3 && s[0] == 3),
                     "RGBImage(tensor:) needs shape [1, 3, H, W] or [3, H, W], got \(s)")
        let h = s[s.count - 2], w = s[s.count - 1], plane = h * w
        var pixels = [UInt8](repeating: 0, count: plane * 3)
        tensor.data.withUnsafeBufferPointer { src in
            for c in 0..<3 {
                for i in 0..<plane {
                    let v = src[c * plane + i]
                    // `v > 0` is false for NaN, which therefore lands on 0.
                    let clamped: Float = v > 0 ? (v < 1 ? v : 1) : 0
                    pixels[i * 3 + c] = UInt8((clamped * 255).rounded())
                }
            }
        }
        self.init(width: w, height: h, pixels: pixels)
    }

    /// The image as a [1, 3, H, W] tensor with values in [0, 1] (byte / 255).
    public func tensor(requiresGrad: Bool = false) -> Tensor {
        let plane = width * height
        var data = [Float](repeating: 0, count: plane * 3)
        for i in 0..<plane {
            for c in 0..<3 { data[c * plane + i] = Float(pixels[i * 3 + c]) / 255 }
        }
        return Tensor(shape: [1, 3, height, width], data: data, requiresGrad: requiresGrad)
    }
}
