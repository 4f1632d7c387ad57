// The pieces of a VQGAN+CLIP render that have exact expectations: the prompt syntax, the
// notebooks' resampling map, the spherical prompt loss, and the pooled views.

import CLIP
import Foundation
import Testing
@testable import Generation
import Tensors

@Suite("Render pieces")
struct RenderPiecesTests {
    @Test func promptSuffixesAreNumericOnly() throws {
        #expect(try PromptSyntax.parseOne("a red circle") == WeightedPrompt(text: "a red circle"))
        #expect(try PromptSyntax.parseOne("a red circle:2") == WeightedPrompt(text: "a red circle", weight: 2))
        #expect(try PromptSyntax.parseOne(" blurry : -1 ") == WeightedPrompt(text: "blurry", weight: -1))
        #expect(try PromptSyntax.parseOne("a cat:1.5:0.25") == WeightedPrompt(text: "a cat", weight: 1.5, stop: 0.25))
        #expect(try PromptSyntax.parseOne("http://example.org/x.png") == WeightedPrompt(text: "http://example.org/x.png"))
        #expect(try PromptSyntax.parseOne("note: a dog:3") == WeightedPrompt(text: "note: a dog", weight: 3))
        #expect(throws: PromptError.self) { try PromptSyntax.parseOne(":2") }
        #expect(throws: PromptError.self) { try PromptSyntax.parseOne("x:0") }
    }

    @Test func pipesAndStorySets() throws {
        let sets = try PromptSyntax.parse("a | b:2 ^ c:-1:0.5 | | d ^")
        #expect(sets == [[WeightedPrompt(text: "a"), WeightedPrompt(text: "b", weight: 2)],
                         [WeightedPrompt(text: "c", weight: -1, stop: 0.5), WeightedPrompt(text: "d")]])
        #expect(throws: PromptError.self) { try PromptSyntax.parse(" | ^ ") }
    }

    @Test func lanczosKernelMatchesTheNotebooksRamp() {
        // lanczos(ramp(0.5, 2), 2) in PyTorch: taps at −1.5 … 1.5 step 0.5.
        let k = Resampling.lanczosKernel(ratio: 0.5)
        #expect(k.count == 7)
        #expect(abs(k.reduce(0, +) - 1) < 1e-12)
        #expect(abs(k[3] - k.max()!) < 1e-12 && abs(k[0] - k[6]) < 1e-12)
    }

    @Test func bicubicUpscaleWithAlignedCornersKeepsEndpointsAndRows() {
        // Upscaling: no low-pass; aligned corners put the first and last outputs on the ends.
        let w = Resampling.lanczosBicubicWeights(offset: 2, length: 5, fullLength: 9, outputLength: 9)
        for o in 0..<9 {
            let row = w[(o * 9)..<((o + 1) * 9)]
            #expect(abs(row.reduce(0, +) - 1) < 1e-5)
            #expect(row.prefix(2).allSatisfy { $0 == 0 })
        }
        #expect(abs(w[0 * 9 + 2] - 1) < 1e-6 && abs(w[8 * 9 + 6] - 1) < 1e-6)
        // Shrinking keeps rows normalised too (the low-pass sums to one, reflect padding keeps mass).
        let d = Resampling.lanczosBicubicWeights(offset: 0, length: 40, fullLength: 40, outputLength: 16)
        for o in 0..<16 { #expect(abs(d[(o * 40)..<((o + 1) * 40)].reduce(0, +) - 1) < 1e-4) }
    }

    @Test func sphericalLossIsHalfTheSquaredAngle() {
        // Orthogonal unit vectors: θ = π/2, d = θ²/2; a negative weight flips the sign.
        let features = Tensor(shape: [1, 2], data: [3, 0], requiresGrad: true)
        let target = PromptTarget(label: "t", embeddings: Tensor(shape: [1, 2], data: [0, 5]), weight: 2, stop: -.infinity)
        let loss = target.loss(features)
        #expect(abs(loss.item - 2 * Float.pi * Float.pi / 8) < 1e-5)
        let away = PromptTarget(label: "t", embeddings: Tensor(shape: [1, 2], data: [0, 5]), weight: -1, stop: -.infinity)
        #expect(abs(away.loss(features).item + Float.pi * Float.pi / 8) < 1e-5)
        // A stop above the signed distance gates the gradient off.
        let stopped = PromptTarget(label: "t", embeddings: Tensor(shape: [1, 2], data: [0, 5]), weight: 1, stop: 2)
        stopped.loss(features).backward()
        #expect(features.gradData!.allSatisfy { $0 == 0 })
    }

    @Test func pooledViewsWithoutAugmentationAreThePooledImage() {
        let image = Tensor.uniform([1, 3, 12, 12], seed: 5)
        var rng = SeededGenerator(seed: 1)
        let views = AugmentedViews(count: 3, size: 6, augmentations: [], noise: 0).apply(image, using: &rng)
        let pooled = (Tensor.adaptiveAvgPool2d(image, outputHeight: 6, outputWidth: 6)
            + Tensor.adaptiveMaxPool2d(image, outputHeight: 6, outputWidth: 6)) * 0.5
        #expect(views.shape == [3, 3, 6, 6])
        for v in 0..<3 { #expect(Array(views.data[(v * 108)..<((v + 1) * 108)]) == pooled.data) }
    }

    /// Bl on a one-pixel checkerboard at the scoring size (so pooling keeps it): the first half of
    /// the views (rounded down) is its 8x8 block average, 0.5 everywhere, the rest the
    /// checkerboard itself.
    @Test func blurredViewsAreTheLowPassCopyForHalfTheViews() {
        let board = (0..<(3 * 256)).map { i -> Float in ((i % 256) / 16 + i % 16) % 2 == 0 ? 1 : 0 }
        var rng = SeededGenerator(seed: 2)
        let views = AugmentedViews(count: 5, size: 16, augmentations: [.blur], noise: 0)
            .apply(Tensor(shape: [1, 3, 16, 16], data: board), using: &rng)
        #expect(views.shape == [5, 3, 16, 16])
        let per = 3 * 256
        for v in 0..<5 {
            let view = Array(views.data[(v * per)..<((v + 1) * per)])
            if v < 2 {
                #expect(view.allSatisfy { abs($0 - 0.5) < 1e-6 }, "view \(v) is not the block average")
            } else {
                #expect(view == board, "view \(v) is not the image")
            }
        }
    }

    @Test func augmentedViewsAreSeededAndDifferentiable() {
        let image = Tensor.uniform([1, 3, 16, 16], seed: 6, requiresGrad: true)
        var a = SeededGenerator(seed: 9), b = SeededGenerator(seed: 9)
        let settings = AugmentedViews(count: 4, size: 8)
        let first = settings.apply(image, using: &a)
        #expect(first.data == settings.apply(image, using: &b).data)
        first.sum().backward()
        #expect(image.gradData!.contains { $0 != 0 })
    }

    @Test func homographyMapsTheCorners() {
        let from: [(Float, Float)] = [(0, 0), (10, 0), (10, 10), (0, 10)]
        let to: [(Float, Float)] = [(1, 2), (9, 1), (8, 9), (2, 8)]
        let h = Projective.homography(from: from, to: to)
        for ((x, y), (u, v)) in zip(from, to) {
            let w = h[6] * x + h[7] * y + h[8]
            #expect(abs((h[0] * x + h[1] * y + h[2]) / w - u) < 1e-3 && abs((h[3] * x + h[4] * y + h[5]) / w - v) < 1e-3)
        }
        let m: [Float] = [1.2, 0.1, 3, -0.2, 0.9, 1, 0.001, 0.002, 1]
        let product = Projective.multiply(m, Projective.inverse(m))
        for i in 0..<9 { #expect(abs(product[i] - Projective.identity[i]) < 1e-5) }
    }

    /// The small zoom-and-shift views move a bright dot by at most the zoom (10% of its distance
    /// from the centre) plus the shift (3% of the side), plus a pixel of resampling: the
    /// position the image shows survives.
    @Test func shiftViewsKeepPositions() {
        var data = [Float](repeating: 0, count: 3 * 32 * 32)
        for c in 0..<3 { for y in 4..<8 { for x in 22..<26 { data[c * 1024 + y * 32 + x] = 1 } } }   // centre (23.5, 5.5)
        var rng = SeededGenerator(seed: 4)
        let views = AugmentedViews(count: 16, size: 32, augmentations: [.shift], noise: 0).apply(Tensor(shape: [1, 3, 32, 32], data: data), using: &rng)
        var moved = 0
        for v in 0..<16 {
            let plane = Array(views.data[(v * 3072)..<(v * 3072 + 1024)])
            let mass = plane.reduce(0, +)
            #expect(mass > 8)
            let cx = (0..<1024).reduce(Float(0)) { $0 + plane[$1] * Float($1 % 32) } / mass
            let cy = (0..<1024).reduce(Float(0)) { $0 + plane[$1] * Float($1 / 32) } / mass
            let (dx, dy) = (cx - 23.5, cy - 5.5)
            #expect(abs(dx) <= 0.1 * 8 + 0.03 * 32 + 1 && abs(dy) <= 0.1 * 10 + 0.03 * 32 + 1, "view \(v): (\(cx), \(cy))")
            if abs(dx) > 0.1 || abs(dy) > 0.1 { moved += 1 }
        }
        #expect(moved > 8)   // they do move (probability 0.7 each)
    }

    /// Total variation: its value on a known image, and its gradient against central differences
    /// on an image whose values differ by at least 1/101 (so no difference crosses zero within
    /// the step), tolerance 1e-3 relative to the largest entry plus 2e-3.
    @Test func totalVariationValueAndGradient() {
        // One 2x3 channel: across |1-0| + |3-1| + |0-2| + |2-0| = 7 over 4 pairs; down |2-0| + |0-1| + |2-3| = 4 over 3.
        let image = Tensor(shape: [1, 1, 2, 3], data: [0, 1, 3, 2, 0, 2])
        #expect(abs(Renderer.totalVariation(image).item - (7.0 / 4 + 4.0 / 3)) < 1e-6)
        let x = Tensor(shape: [1, 3, 5, 6], data: (0..<90).map { Float(($0 * 37) % 101) / 101 }, requiresGrad: true)
        Renderer.totalVariation(x).backward()
        let grad = x.gradData!
        let scale = grad.map(abs).max()!
        for i in stride(from: 0, to: x.count, by: 7) {
            let eps: Float = 1e-3
            var plus = x.data, minus = x.data
            plus[i] += eps
            minus[i] -= eps
            let numeric = (Renderer.totalVariation(Tensor(shape: x.shape, data: plus)).item
                           - Renderer.totalVariation(Tensor(shape: x.shape, data: minus)).item) / (2 * eps)
            #expect(abs(numeric - grad[i]) < 1e-3 * max(scale, 1) + 2e-3, "index \(i): analytic \(grad[i]) numeric \(numeric)")
        }
    }

    /// The init search scores every candidate as one unaugmented whole-frame view under the
    /// prompts' own loss, in batches, and picks the lowest: the same numbers as scoring each
    /// candidate alone, at any batch boundary (300 candidates: a batch of 256 and one of 44).
    @Test func initSearchPicksTheCandidateWithTheLowestPromptLoss() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        let clip = try CLIPModel(contentsOf: folder.appendingPathComponent("CLIPTests/Fixtures/clip-small-openai.safetensors"))
        let size = clip.configuration.imageResolution
        var rng = SeededGenerator(seed: 7)
        let n = 300, plane = 3 * 20 * 20
        let all = Tensor(shape: [n, 3, 20, 20], data: (0..<(n * plane)).map { _ in rng.nextUniform() })
        let candidates = InitCandidates(count: n) { Tensor.slice(all, axis: 0, range: $0) }
        let e = clip.configuration.embedDim
        let targets = [PromptTarget(label: "a", embeddings: Tensor(shape: [1, e], data: (0..<e).map { _ in rng.nextUniform() - 0.5 }), weight: 1, stop: -1),
                       PromptTarget(label: "b", embeddings: Tensor(shape: [1, e], data: (0..<e).map { _ in rng.nextUniform() - 0.5 }), weight: -0.5, stop: -1)]
        let (index, losses) = candidates.best { Renderer.promptLosses($0, targets: targets, clip: clip) }
        #expect(losses.count == n)
        #expect(losses[index] == losses.min())
        for k in [0, 1, 255, 256, 299, index] {
            let one = Tensor.resizeBilinear(Tensor.slice(all, axis: 0, range: k..<(k + 1)), height: size, width: size)
            let features = Autograd.withoutGrad { clip.encodeImage(CLIPPreprocess.normalize(one)) }
            let alone = targets.reduce(Float(0)) { $0 + $1.loss(features).item }
            #expect(abs(alone - losses[k]) <= 1e-5 * max(1, abs(alone)), "candidate \(k): \(losses[k]) batched, \(alone) alone")
        }
        #expect(Set(losses).count > n / 2, "the candidates score differently")
    }
}
