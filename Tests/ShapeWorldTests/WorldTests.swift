// The extended world: absolute positions, the caption templates read back by the parser, hard
// negatives, and the pixel judge agreeing with the generator on fresh images.

import Testing
@testable import ShapeWorld
import Tensors

@Suite("Positions and caption templates")
struct CaptionTemplateTests {
    @Test func positionedScenesStayInsideAndOnTheirThird() {
        let scenes = ShapeWorldGenerator(seed: 21, absolutePositions: true).scenes(400)
        var seen = Set<ShapePosition>()
        for scene in scenes where scene.spec.secondary == nil {
            let position = scene.spec.position!
            seen.insert(position)
            let o = scene.objects[0]
            #expect(o.centerX - o.radius >= 0 && o.centerX + o.radius <= 1 && o.centerY - o.radius >= 0 && o.centerY + o.radius <= 1)
            #expect(ShapePosition(column: o.centerX < 0.4 ? -1 : (o.centerX > 0.6 ? 1 : 0),
                                  row: o.centerY < 0.4 ? -1 : (o.centerY > 0.6 ? 1 : 0)) == position)
        }
        #expect(seen == Set(ShapePosition.allCases))
        // Without the option the stream is the original one.
        #expect(ShapeWorldGenerator(seed: 21).scenes(50).allSatisfy { $0.spec.position == nil })
    }

    @Test func canonicalCaptionsWithPositionsParseBack() throws {
        for scene in ShapeWorldGenerator(seed: 12, absolutePositions: true).scenes(300) {
            #expect(try CaptionParser.parse(scene.caption).spec == scene.spec, "\(scene.caption)")
        }
        let spec = try CaptionParser.parse("white square, black background, in the top left corner").spec
        #expect(spec == SceneSpec(primary: ObjectSpec(shape: .square, color: .white, size: .large), background: .black, position: .topLeft))
        #expect(try CaptionParser.parse("a red circle on the left of a blue square").spec.secondary?.relation == .leftOf)
        #expect(try CaptionParser.parse("a red circle on the left").spec.position == .left)
        #expect(try CaptionParser.parse("little blue star at the bottom against yellow").spec.position == .bottom)
        #expect(try CaptionParser.parse("a picture of one big green ring in the lower right").spec
                    == SceneSpec(primary: ObjectSpec(shape: .ring, color: .green, size: .large), background: .black, position: .bottomRight))
    }

    /// Every template of every mention parses back to the facts it states.
    @Test func everyTemplateParsesToItsMention() throws {
        var rng = SeededGenerator(seed: 5)
        var texts = Set<String>()
        for scene in ShapeWorldGenerator(seed: 13, absolutePositions: true).scenes(3000) {
            let caption = CaptionWriter.caption(for: scene.spec, using: &rng)
            texts.insert(caption.text)
            #expect(caption.mention.isSatisfied(by: scene.spec))
            let parsed = try CaptionParser.parse(caption.text)
            let m = caption.mention, p = parsed.spec
            var ok = (m.primary.shape ?? p.primary.shape) == p.primary.shape && (m.primary.color ?? p.primary.color) == p.primary.color
                && (m.primary.size ?? p.primary.size) == p.primary.size && (m.background ?? p.background) == p.background
                && m.position == p.position && parsed.ignored.isEmpty
            if let s = m.secondary {
                ok = ok && p.secondary?.relation == s.relation && s.object.matches(p.secondary!.object)
            } else {
                ok = ok && p.secondary == nil
            }
            #expect(ok, "\"\(caption.text)\" → \(p), ignored \(parsed.ignored)")
            if !ok { return }
        }
        #expect(texts.count > 2500)   // varied wording, not one sentence pattern
    }

    @Test func hardNegativesChangeOneFactAndNoLongerFit() {
        var rng = SeededGenerator(seed: 8)
        var changedShapeOrPosition = 0, total = 0
        for scene in ShapeWorldGenerator(seed: 14, absolutePositions: true).scenes(500) {
            let m = CaptionWriter.mention(of: scene.spec, using: &rng)
            guard let negative = CaptionWriter.hardNegative(of: m, excluding: scene.spec, using: &rng) else { continue }
            total += 1
            #expect(!negative.isSatisfied(by: scene.spec), "\(m) → \(negative)")
            if negative.primary.shape != m.primary.shape || negative.position != m.position { changedShapeOrPosition += 1 }
        }
        #expect(total > 450 && changedShapeOrPosition > total / 3)
    }

    /// The init search's neighbourhood: every valid scene one stated fact away (a lone object
    /// also gains a second copy in another colour, a pair also loses its second object), no
    /// object on its own background colour, no duplicates, never the scene itself.
    @Test func neighboursDifferInOneFact() {
        func facts(_ s: SceneSpec) -> [String] {
            [s.primary.shape.rawValue, s.primary.color.rawValue, s.primary.size.rawValue, s.background.rawValue,
             s.position?.rawValue ?? "-", s.secondary?.relation.rawValue ?? "-", s.secondary?.object.shape.rawValue ?? "-",
             s.secondary?.object.color.rawValue ?? "-", s.secondary?.object.size.rawValue ?? "-"]
        }
        for scene in ShapeWorldGenerator(seed: 5, pairProbability: 0.5, absolutePositions: true).scenes(60) {
            let spec = scene.spec
            let neighbours = spec.neighbours
            #expect(Set(neighbours).count == neighbours.count && !neighbours.contains(spec))
            for n in neighbours {
                #expect(n.primary.color != n.background && n.secondary?.object.color != n.background, "\(n.caption)")
                if (n.secondary == nil) == (spec.secondary == nil) {
                    #expect(zip(facts(n), facts(spec)).filter { $0 != $1 }.count == 1, "\(spec.caption) → \(n.caption)")
                } else {
                    #expect(n.primary == spec.primary && n.background == spec.background, "\(spec.caption) → \(n.caption)")
                }
            }
            if spec.secondary == nil {
                // 6 shapes, 10 colours, 1 size, 10 backgrounds, 8 positions, 2 relations × 10 colours of the copy.
                #expect(neighbours.count == 55, "\(spec.caption): \(neighbours.count)")
            } else {
                #expect(neighbours.filter { $0.secondary == nil }.count == ShapePosition.allCases.count)
            }
        }
    }
}

@Suite("Pixel judge")
struct JudgeTests {
    /// On fresh positioned one-object images the judge reads every attribute as generated.
    @Test func agreesWithTheGeneratorOnFreshImages() throws {
        let generator = ShapeWorldGenerator(seed: 901, pairProbability: 0, absolutePositions: true)
        var misses: [String: Int] = [:]
        let count = 1500
        for k in 0..<count {
            let scene = generator.scene(at: k)
            let judged = try #require(ShapeJudge.judge(ShapeRasterizer.render(scene, width: 64, height: 64)))
            let s = scene.spec
            if judged.shape != s.primary.shape { misses["shape \(s.primary.shape)→\(judged.shape)", default: 0] += 1 }
            if judged.color != s.primary.color { misses["color", default: 0] += 1 }
            if judged.background != s.background { misses["background", default: 0] += 1 }
            if judged.position != s.position { misses["position", default: 0] += 1 }
            if judged.size != s.primary.size { misses["size \(s.primary.shape)", default: 0] += 1 }
            #expect(judged.strayFraction < 0.02)
            #expect(judged.satisfies(CaptionMention(s)))
        }
        #expect(misses.isEmpty, "\(misses) of \(count)")
    }

    @Test func agreesOnTheCentredLayoutAndAtOtherSizes() throws {
        let generator = ShapeWorldGenerator(seed: 902, pairProbability: 0)
        for k in 0..<300 {
            let scene = generator.scene(at: k)
            for side in [64, 128] {
                let judged = try #require(ShapeJudge.judge(ShapeRasterizer.render(scene, width: side, height: side)))
                let s = scene.spec
                #expect(judged.shape == s.primary.shape && judged.color == s.primary.color && judged.background == s.background
                        && judged.position == .center && judged.size == s.primary.size, "\(scene.caption) at \(side): \(judged)")
            }
        }
    }

    @Test func straysAndBlankImages() {
        let blank = Tensor(repeating: 0.5, shape: [1, 3, 32, 32])
        #expect(ShapeJudge.judge(blank) == nil)
        // Two blobs: the larger is the object, the other is stray area.
        let spec = SceneSpec(primary: ObjectSpec(shape: .square, color: .red, size: .large), background: .blue, position: .topLeft)
        var scene = Scene(spec: spec)
        scene.objects.append(PlacedObject(spec: ObjectSpec(shape: .circle, color: .red, size: .small), centerX: 0.8, centerY: 0.8, radius: 0.08))
        let judged = ShapeJudge.judge(ShapeRasterizer.render(scene, width: 64, height: 64))!
        #expect(judged.shape == .square && judged.position == .topLeft)
        #expect(judged.strayFraction > 0.05 && judged.strayFraction < 0.3)
    }
}
