// Crop-and-resize as linear maps. Resampling an image separably is R · X · Sᵀ per channel, with
// R [outHeight, H] and S [outWidth, W] holding the filter weights; a crop is just a map whose
// weights are zero outside the window. Expressed this way, cutouts and upsampling need only
// matmul and permute from Tensors, and their gradients come for free.

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
