// A small differentiable image parameterisation: a low-resolution latent grid, upsampled
// bilinearly and squashed by a sigmoid into [0, 1]. It stands where the VQGAN decoder will
// stand (latent in, pixels out), so the optimisation loop around it is the real one.

import Tensors

public struct LatentImage {
    /// The optimised parameter, [1, 3, latentHeight, latentWidth], in logit units.
    public let latent: Tensor
    /// Output size in pixels.
    public let width: Int, height: Int
    private let rows: Tensor, columns: Tensor

    /// A latent grid `factor` times smaller than the image (rounded up), initialised from
    /// N(0, 0.5²) with `seed`: a faint coloured noise around mid-gray.
    public init(width: Int, height: Int, factor: Int, seed: UInt64) {
        precondition(width > 0 && height > 0 && factor > 0, "bad latent image \(width)x\(height) / \(factor)")
        self.width = width
        self.height = height
        let lh = (height + factor - 1) / factor, lw = (width + factor - 1) / factor
        latent = Tensor.randn([1, 3, lh, lw], std: 0.5, seed: seed, requiresGrad: true)
        rows = Tensor(shape: [height, lh], data: Resampling.weights(offset: 0, length: lh, fullLength: lh, outputLength: height))
        columns = Tensor(shape: [width, lw], data: Resampling.weights(offset: 0, length: lw, fullLength: lw, outputLength: width))
    }

    /// The image [1, 3, height, width] the latent currently encodes.
    public func decode() -> Tensor {
        Resampling.apply(latent, rows: rows, columns: columns).sigmoid()
    }
}
