// AdamW and Adagrad against torch.optim (torch 1.13), on the same problem as the Adam test:
//   c = torch.tensor([1.0, 3.0, -2.0, 0.25]); x = torch.tensor([1.0, -2.0, 0.5, 0.0], requires_grad=True)
//   opt = torch.optim.AdamW([x], lr=0.1, weight_decay=0.01)   |   opt = torch.optim.Adagrad([x], lr=0.15)
//   3 x { opt.zero_grad(); ((c*x*x).sum() + x[3]).backward(); opt.step(); print(x) }
// and the state round trip that resuming a run relies on.

import Testing
import Optimizers
import Tensors

@Suite("Optimizer variants")
struct OptimizerVariantsTests {
    let c = Tensor(shape: [4], data: [1, 3, -2, 0.25])
    let pick = Tensor(shape: [4], data: [0, 0, 0, 1])

    func run(_ optimizer: Optimizer, _ x: Tensor, expected: [[Float]], sourceLocation: SourceLocation = #_sourceLocation) {
        for row in expected {
            optimizer.zeroGrad()
            ((c * x * x).sum() + (x * pick).sum()).backward()
            optimizer.step()
            for (a, b) in zip(x.data, row) {
                #expect(abs(a - b) <= 2e-6, "\(x.data) vs \(row)", sourceLocation: sourceLocation)
            }
        }
    }

    @Test func adamWMatchesTorch() {
        let x = Tensor(shape: [4], data: [1, -2, 0.5, 0], requiresGrad: true)
        run(Adam.adamW(parameters: [x], learningRate: 0.1, weightDecay: 0.01), x, expected: [
            [0.899000049, -1.898, 0.5995, -0.0999999866],
            [0.798519075, -1.79627264, 0.698963404, -0.199733496],
            [0.69891125, -1.69494462, 0.798500955, -0.299077123],
        ])
    }

    @Test func adagradMatchesTorch() {
        let x = Tensor(shape: [4], data: [1, -2, 0.5, 0], requiresGrad: true)
        run(Adagrad(parameters: [x], learningRate: 0.15), x, expected: [
            [0.850000024, -1.85000002, 0.649999976, -0.150000006],
            [0.752852738, -1.74814367, 0.7688936, -0.251856297],
            [0.678216279, -1.66713738, 0.871490896, -0.332862586],
        ])
    }

    @Test func restoredStateContinuesExactly() throws {
        for make in [{ Adam(parameters: [$0], learningRate: 0.1) as Optimizer },
                     { Adam.adamW(parameters: [$0], learningRate: 0.1) as Optimizer },
                     { Adagrad(parameters: [$0], learningRate: 0.1) as Optimizer }] {
            let x = Tensor(shape: [4], data: [1, -2, 0.5, 0], requiresGrad: true)
            let a = make(x)
            func step(_ o: Optimizer, _ p: Tensor) {
                o.zeroGrad()
                ((c * p * p).sum() + (p * pick).sum()).backward()
                o.step()
            }
            for _ in 0..<3 { step(a, x) }
            // A second optimiser over a copy of x continues from a's saved state.
            let y = Tensor(shape: [4], data: x.data, requiresGrad: true)
            let b = make(y)
            try b.restore(a.state)
            for _ in 0..<4 { step(a, x); step(b, y) }
            #expect(x.data == y.data)
            #expect(a.state == b.state)
        }
    }

    @Test func mismatchedStateIsRejected() {
        let x = Tensor(shape: [4], data: [1, -2, 0.5, 0], requiresGrad: true)
        let adam = Adam(parameters: [x])
        #expect(throws: OptimizerStateError.self) { try adam.restore(Adagrad(parameters: [x]).state) }
        let small = Tensor(shape: [2], data: [1, 2], requiresGrad: true)
        #expect(throws: OptimizerStateError.self) { try adam.restore(Adam(parameters: [small]).state) }
    }

    @Test func stateSurvivesNamedArraysAndMetadata() throws {
        let x = Tensor(shape: [4], data: [1, -2, 0.5, 0], requiresGrad: true)
        let w = Tensor(shape: [2], data: [3, 1], requiresGrad: true)
        let adam = Adam(parameters: [x, w], learningRate: 0.1)
        for _ in 0..<2 {
            adam.zeroGrad()
            ((c * x * x).sum() + (w * w).sum()).backward()
            adam.step()
        }
        let arrays = Dictionary(uniqueKeysWithValues: adam.state.namedArrays(prefix: "opt").map { ($0.name, $0.values) })
        #expect(arrays.keys.sorted() == ["opt.exp_avg.0", "opt.exp_avg.1", "opt.exp_avg_sq.0", "opt.exp_avg_sq.1"])
        let back = try OptimizerState(prefix: "opt", metadata: adam.state.metadata(prefix: "opt"),
                                      names: Array(arrays.keys), array: { arrays[$0] })
        #expect(back == adam.state)
        #expect(throws: OptimizerStateError.self) {
            try OptimizerState(prefix: "opt", metadata: [:], names: [], array: { _ in nil })
        }
    }

    @Test func warmupCosineScheduleRisesThenDecaysToItsFloor() {
        let s = WarmupCosineSchedule(peak: 1e-3, warmupSteps: 10, totalSteps: 110, floorFraction: 0.1)
        #expect(abs(s.learningRate(at: 0) - 1e-4) < 1e-9)
        #expect(abs(s.learningRate(at: 9) - 1e-3) < 1e-9)
        // Halfway through the cosine: floor + (peak - floor) / 2.
        #expect(abs(s.learningRate(at: 60) - 5.5e-4) < 1e-8)
        #expect(abs(s.learningRate(at: 110) - 1e-4) < 1e-9)
        #expect(abs(s.learningRate(at: 500) - 1e-4) < 1e-9)
    }
}
