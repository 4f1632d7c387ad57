// The "latest" views of the VQGAN+CLIP tools: the whole image pooled down to the scoring size
// (mean of adaptive average and max pooling), copied once per view, then randomly augmented per
// view (affine, perspective, colour jitter, erasing) and given Gaussian noise. Every view keeps
// (nearly) the whole frame, so absolute positions survive, unlike random crops.
//
// Parameters follow the kornia augmentations nerdyrodent's generate.py uses: RandomAffine
// (±15°, translate 0.1, shear ±5°), RandomPerspective (0.7), ColorJitter (0.1 each),
// RandomErasing (area 0.1-0.4, aspect 0.3-3.3, one box for the batch), each with p = 0.7, then
// noise with a per-view standard deviation drawn from U[0, 0.1]. Consecutive geometric
// augmentations are composed into one projective warp, so a view is resampled once.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Tensors

/// One augmentation of the pooled views, named by the tools' two-letter codes.
public enum Augmentation: String, Sendable, CaseIterable, Codable {
    case affine = "Af"
    case perspective = "Pe"
    case jitter = "Ji"
    case erasing = "Er"
    /// A small zoom (0.9-1.1 about the centre) and shift (up to 3% of the side): the
    /// augmentation the embedded CLIP was trained with, which moves nothing far enough to change
    /// the position the image shows (the tools' affine turns by up to 15° and shifts by 10%).
    case shift = "Sh"
    /// Half the views (rounded down) see a low-pass copy of the image: pooled to an eighth of
    /// the scoring size and resized back bilinearly. Scattered fragments of the prompt's colour
    /// blur into the background there, so only large coherent regions still read as the prompt,
    /// and the render's gradient favours those over the fragments a small CLIP's sharp views
    /// accept. Applied at pooling, before the other augmentations, wherever it is listed.
    case blur = "Bl"

    /// nerdyrodent's default list.
    public static let defaults: [Augmentation] = [.affine, .perspective, .jitter, .erasing]

    var isGeometric: Bool { self == .affine || self == .perspective || self == .shift }
}

/// Settings of the pooled-and-augmented views.
public struct AugmentedViews: Sendable {
    public var count: Int
    public var size: Int
    public var augmentations: [Augmentation]
    /// Largest per-view noise standard deviation.
    public var noise: Float
    /// Probability that each augmentation is applied (per view; per batch for erasing).
    public var probability: Float

    public init(count: Int, size: Int, augmentations: [Augmentation] = Augmentation.defaults, noise: Float = 0.1,
                probability: Float = 0.7) {
        self.count = count
        self.size = size
        self.augmentations = augmentations
        self.noise = noise
        self.probability = probability
    }

    /// The views [count, 3, size, size] of image [1, 3, H, W]; differentiable with respect to the image.
    public func apply(_ image: Tensor, using rng: inout SeededGenerator) -> Tensor {
        precondition(image.rank == 4 && image.shape[0] == 1, "views: image must be [1, C, H, W], got \(image.shape)")
        let pooled = (Tensor.adaptiveAvgPool2d(image, outputHeight: size, outputWidth: size)
            + Tensor.adaptiveMaxPool2d(image, outputHeight: size, outputWidth: size)) * 0.5
        var copies = [Tensor](repeating: pooled, count: count)
        if augmentations.contains(.blur) && count >= 2 {
            // [1, C, S, S] → [1, C, S/8, S/8] → [1, C, S, S]
            let small = max(1, size / 8)
            let lowPass = Tensor.resizeBilinear(Tensor.adaptiveAvgPool2d(pooled, outputHeight: small, outputWidth: small),
                                                height: size, width: size)
            for v in 0..<(count / 2) { copies[v] = lowPass }
        }
        var views = Tensor.concat(copies, axis: 0)
        var pending: [[Float]]? = nil   // composed output→source maps of the geometric run so far
        func flush() {
            if let maps = pending { views = Tensor.warpPerspective(views, maps: maps, outHeight: size, outWidth: size) }
            pending = nil
        }
        for augmentation in augmentations where augmentation != .blur {
            if augmentation.isGeometric {
                let maps = (0..<count).map { _ -> [Float] in
                    guard rng.nextUniform() < probability else { return Projective.identity }
                    switch augmentation {
                    case .affine: return randomAffineMap(&rng)
                    case .shift: return randomShiftMap(&rng)
                    default: return randomPerspectiveMap(&rng)
                    }
                }
                // The new warp acts on the output of the previous ones: source = previous(new(out)).
                pending = pending.map { old in zip(old, maps).map { Projective.multiply($0, $1) } } ?? maps
            } else {
                flush()
                views = augmentation == .jitter ? jitter(views, &rng) : erase(views, &rng)
            }
        }
        flush()
        if noise > 0 {
            var values = [Float](repeating: 0, count: views.count)
            let perView = views.count / count
            for v in 0..<count {
                let std = rng.nextUniform() * noise
                for i in 0..<perView { values[v * perView + i] = std * rng.nextNormal() }
            }
            views = views + Tensor(shape: views.shape, data: values)
        }
        return views
    }

    /// Rotation, translation and shear about the centre; returns the output→source map.
    private func randomAffineMap(_ rng: inout SeededGenerator) -> [Float] {
        let s = Float(size), c = (s - 1) / 2
        let angle = (rng.nextUniform() * 30 - 15) * .pi / 180
        let (tx, ty) = ((rng.nextUniform() * 0.2 - 0.1) * s, (rng.nextUniform() * 0.2 - 0.1) * s)
        let (shx, shy) = (tanf((rng.nextUniform() * 10 - 5) * .pi / 180), tanf((rng.nextUniform() * 10 - 5) * .pi / 180))
        let rotation: [Float] = [cosf(angle), -sinf(angle), 0, sinf(angle), cosf(angle), 0, 0, 0, 1]
        let shear: [Float] = [1, shx, 0, shy, 1, 0, 0, 0, 1]
        let toOrigin: [Float] = [1, 0, -c, 0, 1, -c, 0, 0, 1]
        let back: [Float] = [1, 0, c + tx, 0, 1, c + ty, 0, 0, 1]
        let forward = Projective.multiply(back, Projective.multiply(rotation, Projective.multiply(shear, toOrigin)))
        return Projective.inverse(forward)
    }

    /// Zoom by 0.9-1.1 about the centre and shift by up to 3% of the side; returns the
    /// output→source map.
    private func randomShiftMap(_ rng: inout SeededGenerator) -> [Float] {
        let s = Float(size), c = (s - 1) / 2
        let zoom = 0.9 + rng.nextUniform() * 0.2
        let (tx, ty) = ((rng.nextUniform() * 0.06 - 0.03) * s, (rng.nextUniform() * 0.06 - 0.03) * s)
        let forward: [Float] = [zoom, 0, c + tx - zoom * c, 0, zoom, c + ty - zoom * c, 0, 0, 1]
        return Projective.inverse(forward)
    }

    /// Each corner pulled inward by up to distortion/2 of the side (distortion 0.7); returns the
    /// output→source homography.
    private func randomPerspectiveMap(_ rng: inout SeededGenerator) -> [Float] {
        let s = Float(size - 1), reach = 0.35 * Float(size)
        let corners: [(Float, Float)] = [(0, 0), (s, 0), (s, s), (0, s)]
        let inward: [(Float, Float)] = [(1, 1), (-1, 1), (-1, -1), (1, -1)]
        let moved = zip(corners, inward).map { corner, d in
            (corner.0 + d.0 * reach * rng.nextUniform(), corner.1 + d.1 * reach * rng.nextUniform())
        }
        // The image's corners land on `moved`; the map we need takes output points back.
        return Projective.homography(from: moved, to: corners)
    }

    /// Per view: brightness, contrast, saturation and hue (each ±0.1) as one colour matrix and offset.
    private func jitter(_ views: Tensor, _ rng: inout SeededGenerator) -> Tensor {
        var matrices = [Float](), offsets = [Float]()
        for _ in 0..<count {
            guard rng.nextUniform() < probability else {
                matrices += Projective.identity
                offsets += [0, 0, 0]
                continue
            }
            let brightness = rng.nextUniform() * 0.2 - 0.1
            let contrast = 0.9 + rng.nextUniform() * 0.2
            let saturation = 0.9 + rng.nextUniform() * 0.2
            let hue = (rng.nextUniform() * 0.2 - 0.1) * 2 * .pi
            // Saturation blends with the luma (Rec. 601); hue rotates the chroma plane of YIQ.
            let luma: [Float] = [0.299, 0.587, 0.114]
            var sat = [Float](repeating: 0, count: 9)
            for r in 0..<3 { for c in 0..<3 { sat[r * 3 + c] = (1 - saturation) * luma[c] + (r == c ? saturation : 0) } }
            let yiq: [Float] = [0.299, 0.587, 0.114, 0.596, -0.274, -0.322, 0.211, -0.523, 0.312]
            let turn: [Float] = [1, 0, 0, 0, cosf(hue), -sinf(hue), 0, sinf(hue), cosf(hue)]
            let hueMatrix = Projective.multiply(Projective.inverse(yiq), Projective.multiply(turn, yiq))
            matrices += Projective.multiply(hueMatrix, sat).map { $0 * contrast }
            offsets += [brightness, brightness, brightness]
        }
        let (n, c, h, w) = (views.shape[0], views.shape[1], views.shape[2], views.shape[3])
        // [N, 3, 3] · [N, 3, H·W] → [N, 3, H·W], plus a per-view offset.
        let mixed = Tensor.matmul(Tensor(shape: [n, 3, 3], data: matrices), views.reshaped([n, c, h * w]))
        return mixed.reshaped([n, c, h, w]) + Tensor(shape: [n, 3, 1, 1], data: offsets)
    }

    /// One zeroed box for the whole batch (kornia's same_on_batch), with probability p.
    private func erase(_ views: Tensor, _ rng: inout SeededGenerator) -> Tensor {
        guard rng.nextUniform() < probability else { return views }
        let s = Float(size)
        let area = (0.1 + rng.nextUniform() * 0.3) * s * s
        let ratio = expf(logf(0.3) + rng.nextUniform() * (logf(1 / 0.3) - logf(0.3)))
        let bh = min(size, max(1, Int((area * ratio).squareRoot().rounded())))
        let bw = min(size, max(1, Int((area / ratio).squareRoot().rounded())))
        let top = Int(rng.next() % UInt64(size - bh + 1)), left = Int(rng.next() % UInt64(size - bw + 1))
        var mask = [Float](repeating: 1, count: size * size)
        for y in top..<(top + bh) { for x in left..<(left + bw) { mask[y * size + x] = 0 } }
        return views * Tensor(shape: [1, 1, size, size], data: mask)
    }
}

/// 3×3 row-major projective matrices.
enum Projective {
    static let identity: [Float] = [1, 0, 0, 0, 1, 0, 0, 0, 1]

    static func multiply(_ a: [Float], _ b: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: 9)
        for r in 0..<3 {
            for c in 0..<3 {
                var s: Float = 0
                for k in 0..<3 { s += a[r * 3 + k] * b[k * 3 + c] }
                out[r * 3 + c] = s
            }
        }
        return out
    }

    static func inverse(_ m: [Float]) -> [Float] {
        let v = m.map(Double.init)
        func c(_ a: Int, _ b: Int, _ e: Int, _ f: Int) -> Double { v[a] * v[b] - v[e] * v[f] }
        let d: Double = v[0] * c(4, 8, 5, 7) - v[1] * c(3, 8, 5, 6) + v[2] * c(3, 7, 4, 6)
        let adj: [Double] = [c(4, 8, 5, 7), -c(1, 8, 2, 7), c(1, 5, 2, 4),
                             -c(3, 8, 5, 6), c(0, 8, 2, 6), -c(0, 5, 2, 3),
                             c(3, 7, 4, 6), -c(0, 7, 1, 6), c(0, 4, 1, 3)]
        return adj.map { Float($0 / d) }
    }

    /// The homography taking each `from` point to the matching `to` point (four pairs), by
    /// solving the 8×8 linear system with h₂₂ = 1.
    static func homography(from: [(Float, Float)], to: [(Float, Float)]) -> [Float] {
        var a = [[Double]](), rhs = [Double]()
        for ((x, y), (u, v)) in zip(from, to) {
            let (x, y, u, v) = (Double(x), Double(y), Double(u), Double(v))
            a.append([x, y, 1, 0, 0, 0, -u * x, -u * y]); rhs.append(u)
            a.append([0, 0, 0, x, y, 1, -v * x, -v * y]); rhs.append(v)
        }
        // Gaussian elimination with partial pivoting.
        for col in 0..<8 {
            let pivot = (col..<8).max { abs(a[$0][col]) < abs(a[$1][col]) }!
            a.swapAt(col, pivot); rhs.swapAt(col, pivot)
            for row in 0..<8 where row != col {
                let f = a[row][col] / a[col][col]
                if f == 0 { continue }
                for k in col..<8 { a[row][k] -= f * a[col][k] }
                rhs[row] -= f * rhs[col]
            }
        }
        return (0..<8).map { Float(rhs[$0] / a[$0][$0]) } + [1]
    }
}
