// `render --init-search N`: the start a render of the embedded models' world begins from.

import Generation
import ShapeWorld
import Tensors

/// Draws `count` scenes of the world from the render's seed (one object at one of the nine
/// positions, or two related objects one time in four) and scores them under the prompts' loss;
/// then, from each of the best few, walks to the best scene that differs in one stated fact
/// (``SceneSpec/neighbours``) as long as that lowers the loss, and returns the lowest end point.
/// The random draw finds the neighbourhood: with 7 shapes,
/// 12 colours on 11 others, 2 sizes and 9 positions, few of N scenes match every fact a prompt
/// states, and the walk fixes the one or two facts the best of them still gets wrong.
final class WorldSearch: InitSearch {
    let count: Int
    let scenes: [Scene]
    let width: Int, height: Int
    /// Walks, from the best few distinct drawn scenes.
    static let walks = 4
    /// At most this many one-fact changes per walk (each one scores a neighbourhood of about 60 scenes).
    static let maxRefinements = 8

    /// What ``chooseStart`` chose: the scene, its loss, the index (into ``scenes``) of the drawn
    /// scene its walk started from, how many changes the walk made and how many scenes were scored in all.
    private(set) var chosen: (scene: Scene, loss: Float, drawn: Int, refinements: Int, scored: Int)?

    /// Nil when `count` is 0.
    init?(count: Int, seed: UInt64, width: Int, height: Int) {
        guard count > 0 else { return nil }
        self.count = count
        scenes = ShapeWorldGenerator(seed: seed, pairProbability: 0.25, absolutePositions: true).scenes(count)
        self.width = width
        self.height = height
    }

    func chooseStart(score: (Tensor) -> [Float]) -> Tensor {
        let drawn = InitCandidates(count: count) { self.images(self.scenes[$0]) }.best(score: score)
        // Walk from each of the best few distinct drawn scenes: the best one's neighbourhood can
        // be a dead end (a pair scene for a prompt of one object, say) that another's is not.
        var starts: [Int] = []
        for index in drawn.losses.indices.sorted(by: { drawn.losses[$0] < drawn.losses[$1] })
        where !starts.contains(where: { scenes[$0].spec == scenes[index].spec }) {
            starts.append(index)
            if starts.count == Self.walks { break }
        }
        var scored = count
        var best: (scene: Scene, loss: Float, drawn: Int, refinements: Int, scored: Int)?
        for start in starts {
            var scene = scenes[start], loss = drawn.losses[start], refinements = 0
            while refinements < Self.maxRefinements {
                // Neighbours take the jitter-free layout: the nominal place and size of their facts.
                let neighbours = scene.spec.neighbours.map { Scene(spec: $0) }
                let next = InitCandidates(count: neighbours.count) { self.images(neighbours[$0]) }.best(score: score)
                scored += neighbours.count
                guard next.losses[next.index] < loss else { break }
                scene = neighbours[next.index]
                loss = next.losses[next.index]
                refinements += 1
            }
            if best == nil || loss < best!.loss { best = (scene, loss, start, refinements, 0) }
        }
        best!.scored = scored
        chosen = best
        return images([best!.scene])
    }

    /// `scenes` drawn at the render's size, [k, 3, height, width] in [0, 1].
    private func images<S: Collection<Scene>>(_ scenes: S) -> Tensor {
        ShapeRasterizer.render(scenes, width: width, height: height)
    }
}
