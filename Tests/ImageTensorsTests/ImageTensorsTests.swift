// The conversions between 8-bit images and [1, 3, H, W] tensors: exact round trip, and clamping,
// rounding and NaN handling when a tensor becomes an image.

import ImageCodecs
import ImageTensors
import Tensors
import Testing

@Suite("RGBImage and tensors")
struct RGBImageTensorTests {
    @Test func tensorRoundTripIsExact() {
        let image = RGBImage(width: 7, height: 5, pixels: (0..<105).map { UInt8(($0 * 37 + 11) % 256) })
        let t = image.tensor()
        #expect(t.shape == [1, 3, 5, 7])
        // Channel planes: element (c, y, x) is byte (y*W + x)*3 + c over 255.
        let element: Float = t.data[2 * 35 + 1 * 7 + 4]
        let byte: UInt8 = image.pixels[(1 * 7 + 4) * 3 + 2]
        #expect(element == Float(byte) / 255)
        #expect(RGBImage(tensor: t) == image)
    }

    @Test func writingClampsAndRounds() {
        let t = Tensor(shape: [3, 1, 2], data: [-0.5, 1.5, .nan, 0.5, 0.2, 1.0 / 255 * 0.49])
        let image = RGBImage(tensor: t)
        #expect(image.width == 2 && image.height == 1)
        #expect(image[0, 0] == (0, 0, 51))
        #expect(image[1, 0] == (255, 128, 0))
    }
}
