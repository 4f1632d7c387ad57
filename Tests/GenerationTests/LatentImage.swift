// A small differentiable image parameterisation: a low-resolution latent grid, upsampled
// bilinearly and squashed by a sigmoid into [0, 1]. It stands where the VQGAN decoder will
// stand (latent in, pixels out), so the optimisation loop around it is the real one.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Generation
import Tensors

struct LatentImage {
    /// The optimised parameter, [1, 3, latentHeight, latentWidth], in logit units.
    let latent: Tensor
    /// Output size in pixels.
    let width: Int, height: Int

    /// A latent grid `factor` times smaller than the image (rounded up), initialised from
    /// N(0, 0.5²) with `seed`: a faint coloured noise around mid-gray.
    init(width: Int, height: Int, factor: Int, seed: UInt64) {
        precondition(width > 0 && height > 0 && factor > 0, "bad latent image \(width)x\(height) / \(factor)")
        self.width = width
        self.height = height
        let lh = (height + factor - 1) / factor, lw = (width + factor - 1) / factor
        latent = Tensor.randn([1, 3, lh, lw], std: 0.5, seed: seed, requiresGrad: true)
    }

    /// A latent that starts from `initial` [1, 3, H, W] (any size, values in [0, 1]): the image is
    /// resampled to the latent grid and mapped through the inverse sigmoid, clamped to
    /// [0.01, 0.99] so that saturated pixels stay movable.
    init(width: Int, height: Int, factor: Int, initial: Tensor) {
        precondition(initial.rank == 4 && initial.shape[0] == 1 && initial.shape[1] == 3, "initial image must be [1, 3, H, W], got \(initial.shape)")
        self.init(width: width, height: height, factor: factor, seed: 0)
        let (ih, iw) = (initial.shape[2], initial.shape[3])
        let (lh, lw) = (latent.shape[2], latent.shape[3])
        let small = Autograd.withoutGrad {
            Resampling.apply(initial,
                             rows: Tensor(shape: [lh, ih], data: Resampling.weights(offset: 0, length: ih, fullLength: ih, outputLength: lh)),
                             columns: Tensor(shape: [lw, iw], data: Resampling.weights(offset: 0, length: iw, fullLength: iw, outputLength: lw)))
        }
        latent.data = small.data.map { v in
            let p = min(max(v, 0.01), 0.99)
            return logf(p / (1 - p))
        }
    }

    /// The image [1, 3, height, width] the latent currently encodes. The grid is never larger
    /// than the image, so this is plain half-pixel bilinear upsampling: Tensors' two-tap kernel
    /// gives the same values as `Resampling`'s dense maps without their [height, lh] matmuls.
    func decode() -> Tensor {
        Tensor.resizeBilinear(latent, height: height, width: width).sigmoid()
    }
}
