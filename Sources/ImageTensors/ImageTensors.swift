// Where images meet tensors: an 8-bit ``RGBImage`` to and from the [1, 3, H, W] Float tensors
// that models consume and produce.

import ImageCodecs
import Tensors

extension RGBImage {
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
