// Training and evaluation images from ShapeWorld: a batch is a run of consecutive scene indices of
// a seeded stream, so any batch of any step can be regenerated without stored data or state.

import ShapeWorld
import Tensors

/// Batches of rasterized ShapeWorld scenes as model input.
public struct ShapeWorldImages: Sendable {
    /// The scene stream.
    public let generator: ShapeWorldGenerator
    /// Side of the square images.
    public let size: Int

    /// Images of the scenes of `seed`'s stream at `size`×`size`.
    public init(seed: UInt64, size: Int) {
        generator = ShapeWorldGenerator(seed: seed)
        self.size = size
    }

    /// Scenes `start ..< start + count` as [count, 3, size, size] in [−1, 1] (VQGAN's range).
    public func batch(start: Int, count: Int) -> Tensor {
        let plane = 3 * size * size
        var data = [Float](repeating: 0, count: count * plane)
        for k in 0..<count {
            let image = ShapeRasterizer.render(generator.scene(at: start + k), width: size, height: size)
            for i in 0..<plane { data[k * plane + i] = image.data[i] * 2 - 1 }
        }
        return Tensor(shape: [count, 3, size, size], data: data)
    }
}
