// The optimisation loop: render from the latent, take random cutouts, score them, back-propagate,
// step Adam. Here the score is the mean squared difference to the same cutouts of a target image;
// the CLIP-scored generation keeps this loop and swaps the loss and the decoder.

import Optimizers
import Generation
import Tensors

/// Settings of a target-fitting run.
struct FittingConfiguration {
    var width: Int
    var height: Int
    /// Number of Adam updates.
    var steps: Int
    var learningRate: Float = 0.1
    /// Cutouts per step, and their side after resizing.
    var cutouts: Int = 16
    var cutSize: Int = 32
    /// Exponent on the uniform draw of cutout sizes (> 1 favours small cutouts).
    var cutPower: Float = 1
    /// Image pixels per latent cell along each axis.
    var latentFactor: Int = 4
    /// Emit a snapshot at step 0 and after every `snapshotEvery` updates, the last one included
    /// when it is a multiple (0: never).
    var snapshotEvery: Int = 0
    /// Seeds the latent initialisation and the cutout positions.
    var seed: UInt64
    /// An image [1, 3, H, W] in [0, 1] (any size) to start from instead of seeded noise.
    var initialImage: Tensor?

    init(width: Int, height: Int, steps: Int, seed: UInt64) {
        self.width = width
        self.height = height
        self.steps = steps
        self.seed = seed
    }
}

/// What the loop reports as it runs.
enum FittingEvent {
    /// Update `step` of `total` is done; `loss` was measured just before it.
    case progress(step: Int, total: Int, loss: Float)
    /// The image after `step` updates, [1, 3, H, W] in [0, 1].
    case snapshot(step: Int, image: Tensor)
}

/// The outcome of a run.
struct FittingResult {
    /// The final image, [1, 3, H, W] in [0, 1].
    let image: Tensor
    /// Loss at the last step.
    let finalLoss: Float
    /// Mean squared difference between the final image and the target over the whole frame.
    let fullImageError: Float
}

enum TargetFitting {
    /// Fits a ``LatentImage`` to `target` [1, 3, H, W] with the shared ``OptimizationLoop``.
    /// `onEvent` is called synchronously on the caller's thread; throwing from it stops the run
    /// and rethrows.
    static func run(target: Tensor, configuration c: FittingConfiguration,
                           onEvent: (FittingEvent) throws -> Void) throws -> FittingResult {
        precondition(target.shape == [1, 3, c.height, c.width], "target shape \(target.shape) does not match \(c.width)x\(c.height)")
        precondition(c.steps >= 0 && c.cutouts > 0 && c.cutSize > 0, "bad fitting configuration")
        let image = c.initialImage.map { LatentImage(width: c.width, height: c.height, factor: c.latentFactor, initial: $0) }
            ?? LatentImage(width: c.width, height: c.height, factor: c.latentFactor, seed: c.seed)
        // A separate stream for cutouts, so that changing their number leaves the initial latent alone.
        var rng = SeededGenerator(seed: c.seed &+ 0x632B_E59B_D9B4_E019)
        let loop = OptimizationLoop(
            parameter: image.latent, optimizer: Adam(parameters: [image.latent], learningRate: c.learningRate),
            render: { _ in image.decode() },
            loss: { rendered, _ in
                let cuts = CutoutBatch.random(count: c.cutouts, cutSize: c.cutSize, cutPower: c.cutPower,
                                              height: c.height, width: c.width, using: &rng)
                let wanted = Autograd.withoutGrad { cuts.apply(target) }
                return ((cuts.apply(rendered) - wanted).pow(2).mean(), [])
            })

        if c.snapshotEvery > 0 { try onEvent(.snapshot(step: 0, image: loop.currentImage())) }
        var loss: Float = .nan
        while loop.step < c.steps {
            loss = try loop.takeStep().total
            try onEvent(.progress(step: loop.step, total: c.steps, loss: loss))
            if c.snapshotEvery > 0, loop.step % c.snapshotEvery == 0 {
                try onEvent(.snapshot(step: loop.step, image: loop.currentImage()))
            }
        }
        let final = loop.currentImage()
        let error = Autograd.withoutGrad { (final - target).pow(2).mean().item }
        return FittingResult(image: final, finalLoss: loss, fullImageError: error)
    }
}
