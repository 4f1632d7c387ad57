// Adam against torch.optim.Adam. Expected values were produced once with torch 1.13:
//   x = torch.tensor([1.0, -2.0, 0.5, 0.0], requires_grad=True); c = torch.tensor([1.0, 3.0, -2.0, 0.25])
//   opt = torch.optim.Adam([x], lr=0.1)                       # betas (0.9, 0.999), eps 1e-8
//   3 x { opt.zero_grad(); ((c*x*x).sum() + x[3]).backward(); opt.step(); print(x) }
// and, for the other hyper-parameters,
//   x = torch.tensor([1.0, -2.0]); opt = torch.optim.Adam([x], lr=0.05, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.1)
//   2 x { opt.zero_grad(); (x**3).sum().backward(); opt.step(); print(x) }

import Testing
import TestSupport
import Optimizers
import Tensors

@Suite("Adam")
struct AdamTests {
    @Test func matchesTorchDefaults() {
        let x = Tensor(shape: [4], data: [1, -2, 0.5, 0], requiresGrad: true)
        let c = Tensor(shape: [4], data: [1, 3, -2, 0.25])
        let pick = Tensor(shape: [4], data: [0, 0, 0, 1])
        let adam = Adam(parameters: [x], learningRate: 0.1)
        let expected: [[Float]] = [
            [0.900000036, -1.89999998, 0.599999964, -0.0999999866],
            [0.800412238, -1.80016649, 0.700061262, -0.199833497],
            [0.701586306, -1.70062339, 0.800294697, -0.299376577],
        ]
        for row in expected {
            adam.zeroGrad()
            ((c * x * x).sum() + (x * pick).sum()).backward()
            adam.step()
            assertClose(x.data, row, atol: 2e-6, rtol: 0)
        }
        #expect(adam.stepCounts == [3])
    }

    @Test func matchesTorchWithWeightDecayAndOtherBetas() {
        let x = Tensor(shape: [2], data: [1, -2], requiresGrad: true)
        let adam = Adam(parameters: [x], learningRate: 0.05, beta1: 0.8, beta2: 0.99, epsilon: 1e-3, weightDecay: 0.1)
        for row: [Float] in [[0.950016141, -2.04999566], [0.900363326, -2.10010791]] {
            adam.zeroGrad()
            x.pow(3).sum().backward()
            adam.step()
            assertClose(x.data, row, atol: 2e-6, rtol: 0)
        }
    }

    @Test func firstStepMovesEachCoordinateByTheLearningRate() {
        // With bias correction, step 1 is lr·g/(|g| + ε): a sign step, whatever the gradient scale.
        let x = Tensor(shape: [3], data: [0, 0, 0], requiresGrad: true)
        let adam = Adam(parameters: [x], learningRate: 0.25)
        (x * Tensor(shape: [3], data: [1e-3, -50, 7])).sum().backward()
        adam.step()
        assertClose(x.data, [-0.25, 0.25, -0.25], atol: 1e-5, rtol: 0)
    }

    @Test func parametersWithoutGradientsAreLeftAlone() {
        let used = Tensor(shape: [1], data: [1], requiresGrad: true)
        let unused = Tensor(shape: [1], data: [5], requiresGrad: true)
        let adam = Adam(parameters: [used, unused], learningRate: 0.1)
        (used * used).sum().backward()
        adam.step()
        #expect(unused.data == [5])
        #expect(adam.stepCounts == [1, 0])
    }

    @Test func minimisesAQuadratic() {
        let x = Tensor(shape: [2], data: [3, -4], requiresGrad: true)
        let adam = Adam(parameters: [x], learningRate: 0.1)
        for _ in 0..<300 {
            adam.zeroGrad()
            ((x - Tensor(shape: [2], data: [1, 2])).pow(2)).sum().backward()
            adam.step()
        }
        assertClose(x.data, [1, 2], atol: 1e-2, rtol: 0)
    }
}
