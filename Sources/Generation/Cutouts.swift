// Random square cutouts of an image, each resized to one size: the views a scoring model looks
// at. Sizes and positions follow the "original" MakeCutouts of the VQGAN+CLIP notebooks:
// side = rand^cutPower · (maxSide − minSide) + minSide, position uniform.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Tensors

/// How a cutout window is resampled to the cutout size.
public enum CutoutFilter: String, Sendable, CaseIterable {
    /// Antialiased bilinear (a triangle widened by the shrink factor).
    case bilinear
    /// The VQGAN+CLIP notebooks' `resample`: Lanczos-2 low-pass, then bicubic with aligned corners.
    case lanczosBicubic
}

/// Where each cutout is taken. Applying the same batch to two images (the render and a
/// target) compares them view by view.
public struct CutoutBatch {
    /// Windows as (top, left, side) in pixels.
    public let windows: [(top: Int, left: Int, side: Int)]
    /// Output side of every cutout.
    public let cutSize: Int
    // Stacked weights: rows [N, cutSize, H], columns [N·cutSize, W].
    private let rowWeights: Tensor
    private let columnWeights: Tensor

    /// Builds the resampling maps for `windows` over an image of `height` x `width`.
    public init(windows: [(top: Int, left: Int, side: Int)], height: Int, width: Int, cutSize: Int,
                filter: CutoutFilter = .bilinear) {
        precondition(!windows.isEmpty, "no cutouts")
        self.windows = windows
        self.cutSize = cutSize
        var rows = [Float](), columns = [Float]()
        let weights = filter == .bilinear ? Resampling.weights : Resampling.lanczosBicubicWeights
        for window in windows {
            rows += weights(window.top, window.side, height, cutSize)
            columns += weights(window.left, window.side, width, cutSize)
        }
        rowWeights = Tensor(shape: [windows.count, cutSize, height], data: rows)
        columnWeights = Tensor(shape: [windows.count * cutSize, width], data: columns)
    }

    /// Draws `count` windows with `rng`.
    public static func random(count: Int, cutSize: Int, cutPower: Float = 1, height: Int, width: Int,
                              filter: CutoutFilter = .bilinear, using rng: inout SeededGenerator) -> CutoutBatch {
        let maxSide = min(height, width)
        let minSide = min(cutSize, maxSide)
        let windows = (0..<count).map { _ -> (top: Int, left: Int, side: Int) in
            let u = rng.nextUniform()
            let side = min(maxSide, minSide + Int(powf(u, cutPower) * Float(maxSide - minSide)))
            let top = Int(rng.next() % UInt64(height - side + 1))
            let left = Int(rng.next() % UInt64(width - side + 1))
            return (top, left, side)
        }
        return CutoutBatch(windows: windows, height: height, width: width, cutSize: cutSize, filter: filter)
    }

    /// The cutouts of x [1, C, H, W] as [N, C, cutSize, cutSize].
    public func apply(_ x: Tensor) -> Tensor {
        let (c, h, w) = (x.shape[1], x.shape[2], x.shape[3])
        let n = windows.count, s = cutSize
        precondition(x.shape[0] == 1 && rowWeights.shape[2] == h && columnWeights.shape[1] == w,
                     "cutouts were drawn for another image size than \(x.shape)")
        // Columns for every cutout in one product: [C·H, W] · Sᵀ → [C·H, N·s] → [N, C·s(x), H].
        let across = Tensor.matmul(x.reshaped([c * h, w]), columnWeights, transposeB: true)
        let perCut = across.reshaped([c, h, n, s]).permuted([2, 0, 3, 1]).reshaped([n, c * s, h])
        // Rows, one window per batch entry: [N, C·s(x), H] · [N, s(y), H]ᵀ → [N, C·s(x), s(y)].
        let down = Tensor.matmul(perCut, rowWeights, transposeB: true)
        return down.reshaped([n, c, s, s]).transposed(2, 3)
    }
}
