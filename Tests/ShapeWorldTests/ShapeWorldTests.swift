// ShapeWorld: seeded determinism, caption <-> scene round trips, the tolerant prompt parser, and
// pixel checks of the antialiased rasterizer.

import Foundation
import ImageCodecs
import ImageTensors
import Testing
@testable import ShapeWorld
import Tensors

@Suite("Generator")
struct GeneratorTests {
    @Test func sameSeedSameScenes() {
        let a = ShapeWorldGenerator(seed: 7).scenes(50)
        let b = ShapeWorldGenerator(seed: 7).scenes(50)
        #expect(a == b)
        // Random access: scene 30 does not depend on having drawn 0...29.
        #expect(ShapeWorldGenerator(seed: 7).scene(at: 30) == a[30])
    }

    @Test func differentSeedsDiffer() {
        let a = ShapeWorldGenerator(seed: 1).scenes(20).map(\.caption)
        let b = ShapeWorldGenerator(seed: 2).scenes(20).map(\.caption)
        #expect(a != b)
        #expect(Set(a).count > 15)
    }

    @Test func neighbouringIndicesAreUnrelated() {
        let scenes = ShapeWorldGenerator(seed: 0).scenes(200)
        let repeats = zip(scenes, scenes.dropFirst()).filter { $0.0.caption == $0.1.caption }.count
        #expect(repeats == 0)
        let sameBackground = zip(scenes, scenes.dropFirst()).filter { $0.0.spec.background == $0.1.spec.background }.count
        #expect(sameBackground < 40)   // about 200/12 expected by chance
    }

    @Test func scenesAreVisibleAndInsideTheFrame() {
        let scenes = ShapeWorldGenerator(seed: 3).scenes(300)
        var pairs = 0, relations = Set<Relation>()
        for scene in scenes {
            #expect(scene.objects.count == (scene.spec.secondary == nil ? 1 : 2))
            for o in scene.objects {
                #expect(o.spec.color != scene.spec.background)
                #expect(o.centerX - o.radius >= 0 && o.centerX + o.radius <= 1)
                #expect(o.centerY - o.radius >= 0 && o.centerY + o.radius <= 1)
            }
            if let rel = scene.spec.secondary?.relation {
                pairs += 1; relations.insert(rel)
                let (p, q) = (scene.objects[0], scene.objects[1])
                // Non-overlapping bounding circles, in the stated order.
                let gap = rel == .leftOf ? q.centerX - p.centerX : q.centerY - p.centerY
                #expect(gap > p.radius + q.radius)
            }
        }
        #expect((100...200).contains(pairs))
        #expect(relations == Set(Relation.allCases))
        let shapes = Set(scenes.map(\.spec.primary.shape)), colors = Set(scenes.map(\.spec.background))
        #expect(shapes == Set(ShapeKind.allCases) && colors == Set(ShapeColor.allCases))
    }
}

@Suite("Captions and prompts")
struct CaptionTests {
    @Test func captionGrammar() {
        let one = SceneSpec(primary: ObjectSpec(shape: .circle, color: .red, size: .small), background: .blue)
        #expect(one.caption == "a small red circle on a blue background")
        let two = SceneSpec(primary: ObjectSpec(shape: .star, color: .yellow, size: .large),
                            secondary: RelatedObject(relation: .above, object: ObjectSpec(shape: .ring, color: .green, size: .small)),
                            background: .black)
        #expect(two.caption == "a large yellow star above a small green ring on a black background")
        let orange = SceneSpec(primary: ObjectSpec(shape: .cross, color: .white, size: .large), background: .orange)
        #expect(orange.caption == "a large white cross on an orange background")
    }

    @Test func everyGeneratedCaptionParsesBackToItsScene() throws {
        for scene in ShapeWorldGenerator(seed: 11).scenes(400) {
            let parsed = try CaptionParser.parse(scene.caption)
            #expect(parsed.spec == scene.spec, "\(scene.caption)")
            #expect(parsed.ignoredWords.isEmpty)
        }
    }

    @Test func toleratesOrderCaseArticlesPluralsAndSynonyms() throws {
        let expected = SceneSpec(primary: ObjectSpec(shape: .square, color: .blue, size: .large), background: .red)
        for prompt in ["A big blue square on a red background.", "blue square, LARGE, red background",
                       "square big blue against red", "red background with a large blue box",
                       "large blue squares on red"] {
            #expect(try CaptionParser.parse(prompt).spec == expected, "\(prompt)")
        }
    }

    @Test func relationsAreNormalised() throws {
        let red = ObjectSpec(shape: .circle, color: .red, size: .small)
        let green = ObjectSpec(shape: .triangle, color: .green, size: .large)
        let left = try CaptionParser.parse("a large green triangle to the right of a small red circle on a white background").spec
        #expect(left == SceneSpec(primary: red, secondary: RelatedObject(relation: .leftOf, object: green), background: .white))
        let above = try CaptionParser.parse("small red circle on top of a big green triangle, grey background").spec
        #expect(above == SceneSpec(primary: red, secondary: RelatedObject(relation: .above, object: green), background: .gray))
        let below = try CaptionParser.parse("big green triangle below small red circle on white").spec
        #expect(below.primary == red && below.secondary == RelatedObject(relation: .above, object: green))
        #expect(below.background == .white)
    }

    @Test func twoShapesWithoutARelationStandSideBySide() throws {
        let spec = try CaptionParser.parse("a red circle and a small blue square on a white background").spec
        #expect(spec == SceneSpec(primary: ObjectSpec(shape: .circle, color: .red, size: .large),
                                  secondary: RelatedObject(relation: .leftOf, object: ObjectSpec(shape: .square, color: .blue, size: .small)),
                                  background: .white))
    }

    @Test func defaultsAndIgnoredWords() throws {
        let parsed = try CaptionParser.parse("a shiny red star floating in space")
        #expect(parsed.spec == SceneSpec(primary: ObjectSpec(shape: .star, color: .red, size: .large), background: .black))
        #expect(parsed.ignoredWords == ["shiny", "floating", "space"])
        // A black object gets a white background by default, and the reverse.
        #expect(try CaptionParser.parse("black circle").spec.background == .white)
        #expect(try CaptionParser.parse("circle on white").spec.primary.color == .black)
    }

    @Test func everyIgnoredWordAndObjectIsNamed() throws {
        // A third object: the first two make the scene, the third is named as left out.
        let three = try CaptionParser.parse("a red circle, a blue square and a green star")
        #expect(three.spec == SceneSpec(primary: ObjectSpec(shape: .circle, color: .red, size: .large),
                                        secondary: RelatedObject(relation: .leftOf, object: ObjectSpec(shape: .square, color: .blue, size: .large)),
                                        background: .black))
        #expect(three.ignored == [IgnoredPart(text: "green star", reason: "a scene holds at most two objects")])
        // Unknown words, a colour overridden by a later one, a position that cannot apply to a pair,
        // a second relation: each named once, in prompt order.
        let mixed = try CaptionParser.parse("a shiny red blue circle above a square below a star in the top left")
        #expect(mixed.ignored.map(\.text) == ["shiny", "red", "below", "star", "top", "left"], "\(mixed.ignored)")
        #expect(mixed.ignored[1].reason == "a later colour word for the same object wins")
        #expect(mixed.ignored[2].reason == "a scene has one relation, between two objects")
        #expect(mixed.ignored[4].reason == "a position applies only to a lone object")
        #expect(mixed.spec.primary.color == .blue && mixed.spec.secondary?.object.shape == .square)
        // Nothing is noted for a prompt that is used whole.
        #expect(try CaptionParser.parse("a small red circle to the left of a big blue square on a white background").ignored.isEmpty)
        #expect(try CaptionParser.parse("a red circle above").ignored == [IgnoredPart(text: "above", reason: "a scene has one relation, between two objects")])
    }

    @Test func promptWithoutKnownWordsListsTheVocabulary() {
        let error = #expect(throws: CaptionError.self) { try CaptionParser.parse("an astronaut riding a horse") }
        let text = error?.description ?? ""
        #expect(text.contains("astronaut riding a horse"))
        #expect(text.contains("circle") && text.contains("yellow") && text.contains("small") && text.contains("above"))
        #expect(!text.contains("\n"))
        #expect(throws: CaptionError.self) { try CaptionParser.parse("") }
    }
}

@Suite("Rasterizer")
struct RasterizerTests {
    func single(_ shape: ShapeKind, radius: Double, color: ShapeColor = .red, background: ShapeColor = .blue) -> Scene {
        let spec = SceneSpec(primary: ObjectSpec(shape: shape, color: color, size: .large), background: background)
        return Scene(spec: spec, objects: [PlacedObject(spec: spec.primary, centerX: 0.5, centerY: 0.5, radius: radius)])
    }

    @Test func centreAndCornerColours() {
        for shape in ShapeKind.allCases where shape != .ring {
            let image = RGBImage(tensor: ShapeRasterizer.render(single(shape, radius: 0.3), width: 64, height: 48))
            #expect(image[32, 24] == ShapeColor.red.rgb, "\(shape)")
            #expect(image[0, 0] == ShapeColor.blue.rgb && image[63, 47] == ShapeColor.blue.rgb, "\(shape)")
        }
        // A ring's centre is background.
        let ring = RGBImage(tensor: ShapeRasterizer.render(single(.ring, radius: 0.3), width: 64, height: 64))
        #expect(ring[32, 32] == ShapeColor.blue.rgb)
        #expect(ring[32, 32 - 15] == ShapeColor.red.rgb)   // 0.3 * 64 = 19.2 px radius; 15 px is inside the band
    }

    @Test func circleCoverageIsPiRSquared() {
        // Coverage = fraction of the red-minus-blue difference in the red channel.
        let size = 200, radius = 0.3
        let t = ShapeRasterizer.render(single(.circle, radius: radius, color: .white, background: .black), width: size, height: size)
        let lo = Float(ShapeColor.black.rgb.r) / 255, hi = Float(ShapeColor.white.rgb.r) / 255
        var covered = 0.0
        for i in 0..<(size * size) { covered += Double((t.data[i] - lo) / (hi - lo)) }
        let r = radius * Double(size)
        let expected = Double.pi * r * r
        #expect(abs(covered - expected) / expected < 0.005)
    }

    @Test func edgesAreAntialiased() {
        let t = ShapeRasterizer.render(single(.circle, radius: 0.37, color: .white, background: .black), width: 50, height: 50)
        let partial = t.data[0..<2500].filter { $0 > 0.1 && $0 < 0.9 }.count
        #expect(partial > 40)   // a ~115 px circumference crosses many pixels partially
    }

    @Test func relationIsVisibleInPixels() throws {
        let spec = try CaptionParser.parse("a red square to the left of a green circle on a black background").spec
        let image = RGBImage(tensor: ShapeRasterizer.render(Scene(spec: spec), width: 100, height: 60))
        // Canonical layout: centres at 27% and 73% of the width.
        #expect(image[27, 30] == ShapeColor.red.rgb)
        #expect(image[73, 30] == ShapeColor.green.rgb)
        #expect(image[50, 30] == ShapeColor.black.rgb)
        let stacked = Scene(spec: try CaptionParser.parse("a red square above a green circle on a black background").spec)
        let tall = RGBImage(tensor: ShapeRasterizer.render(stacked, width: 60, height: 100))
        #expect(tall[30, 27] == ShapeColor.red.rgb && tall[30, 73] == ShapeColor.green.rgb)
    }

    @Test func anySizeAndTensorLayout() {
        let scene = ShapeWorldGenerator(seed: 5).scene(at: 0)
        let t = ShapeRasterizer.render(scene, width: 7, height: 3)
        #expect(t.shape == [1, 3, 3, 7])
        #expect(t.data.allSatisfy { $0 >= 0 && $0 <= 1 })
        let big = RGBImage(tensor: ShapeRasterizer.render(scene, width: 256, height: 256))
        #expect(big.width == 256 && big.height == 256)
    }
}
