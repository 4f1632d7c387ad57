// How well a VQGAN reconstructs fresh ShapeWorld images: L1 and PSNR on [0, 1] pixels and how
// much of the codebook the images use.

import Foundation
import ShapeWorld
import Tensors
import VQGAN

/// Reconstruction quality of a VQGAN on ShapeWorld images.
public struct VQGANEvaluation: Sendable, Equatable {
    /// Images evaluated.
    public var samples: Int
    /// mean |x − x̂| on [0, 1] pixels (x̂ clamped to [0, 1]).
    public var l1: Double
    /// 10·log10(1 / MSE) over all pixels, on [0, 1].
    public var psnr: Double
    /// mean |Δx − Δx̂| over horizontal and vertical neighbour differences, on [0, 1]: how much
    /// edge contrast the reconstructions lose or add (blur and ringing raise it).
    public var edgeL1: Double
    /// Distinct codes used over all images, and the codebook size.
    public var codesUsed: Int
    public var codebookSize: Int
    /// exp(entropy) of the code histogram: the number of equally used codes it is worth.
    public var perplexity: Double

    /// Codes used as a percentage of the codebook.
    public var usagePercent: Double { 100 * Double(codesUsed) / Double(max(codebookSize, 1)) }

    /// Reconstructs scenes 0..<`samples` of `seed`'s stream at `size`, `batchSize` at a time.
    public static func measure(model: VQModel, size: Int, seed: UInt64, samples: Int,
                               batchSize: Int = 16) -> VQGANEvaluation {
        let images = ShapeWorldImages(seed: seed, size: size)
        var absolute = 0.0, squared = 0.0, edges = 0.0, count = 0
        var histogram = [Int](repeating: 0, count: model.config.nEmbed)
        var start = 0
        while start < samples {
            let n = min(batchSize, samples - start)
            let x = images.batch(start: start, count: n)
            let (y, indices) = Autograd.withoutGrad { () -> (Tensor, [Int]) in
                let (zq, indices) = model.quantize(model.encode(x))
                return (model.decode(zq), indices)
            }
            var clamped = y.data
            for i in x.data.indices {
                let target = Double(x.data[i] + 1) / 2
                let value = min(max(Double(y.data[i] + 1) / 2, 0), 1)
                absolute += abs(target - value)
                squared += (target - value) * (target - value)
                clamped[i] = Float(value) * 2 - 1
            }
            // On [−1, 1] the differences are twice those on [0, 1].
            let edge = VQGANLosses.edgeL1(x, Tensor(shape: y.shape, data: clamped)).item / 2
            edges += Double(edge) * Double(n)
            count += x.count
            for index in indices { histogram[index] += 1 }
            start += n
        }
        let total = Double(histogram.reduce(0, +))
        let entropy = histogram.reduce(0.0) { acc, c in
            c == 0 ? acc : acc - Double(c) / total * log(Double(c) / total)
        }
        let mse = max(squared / Double(max(count, 1)), 1e-12)
        return VQGANEvaluation(samples: samples, l1: absolute / Double(max(count, 1)), psnr: 10 * log10(1 / mse),
                               edgeL1: edges / Double(max(samples, 1)),
                               codesUsed: histogram.filter { $0 > 0 }.count, codebookSize: histogram.count,
                               perplexity: exp(entropy))
    }
}

/// What the pixel judge reads from a VQGAN's reconstructions of one-object scenes, against the
/// scenes themselves: whatever the decoder cannot give back, a render cannot show either.
public struct VQGANJudgeAgreement: Sendable {
    /// Scenes judged.
    public var samples: Int
    /// Per attribute (``ShapeJudge/checks(_:against:)``'s names and order), the share of
    /// reconstructions the judge reads as their scene's.
    public var attributes: [(name: String, share: Double)]
    /// Share of reconstructions that satisfy every attribute of their scene.
    public var all: Double
    /// The same share for the scenes as drawn (the judge's own ceiling; 1 when it agrees with the world).
    public var originals: Double

    /// Scenes 0..<`samples` of `seed`'s one-object, positioned stream at `size`.
    public static func measure(model: VQModel, size: Int, seed: UInt64, samples: Int) -> VQGANJudgeAgreement {
        let generator = ShapeWorldGenerator(seed: seed, pairProbability: 0, absolutePositions: true)
        var names: [String] = [], hits: [Int] = []
        var all = 0, originals = 0
        for k in 0..<samples {
            let scene = generator.scene(at: k)
            let image = ShapeRasterizer.render(scene, width: size, height: size)
            let reconstruction = Autograd.withoutGrad {
                ((model.decode(model.quantize(model.encode(image * 2 - 1)).quantized) + 1) * 0.5).clamped(min: 0, max: 1)
            }
            let mention = CaptionMention(scene.spec)
            if ShapeJudge.judge(image)?.satisfies(mention) == true { originals += 1 }
            let judged = ShapeJudge.judge(reconstruction)
            if judged?.satisfies(mention) == true { all += 1 }
            // Every scene states all five facts, so the checks come in the same order each time.
            let checks = ShapeJudge.checks(judged, against: mention)
            if names.isEmpty { (names, hits) = (checks.map(\.attribute), [Int](repeating: 0, count: checks.count)) }
            for (i, check) in checks.enumerated() where check.holds { hits[i] += 1 }
        }
        let n = Double(max(samples, 1))
        return VQGANJudgeAgreement(samples: samples, attributes: zip(names, hits).map { ($0, Double($1) / n) },
                                   all: Double(all) / n, originals: Double(originals) / n)
    }
}
