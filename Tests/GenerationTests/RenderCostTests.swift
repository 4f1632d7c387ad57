import CLIP
import Generation
import Testing
import VQGAN

struct RenderCostTests {
    static func cost(_ size: Int, cutn: Int, vqgan: VQGANConfig = .f16_16384, clip: CLIPConfiguration = .vitB32) -> RenderCost {
        RenderCost(vqgan: vqgan, clip: clip, weightCount: 0, width: size, height: size, cutn: cutn)
    }

    @Test func timeEstimateOfTheFullSizeStepIsNearTheMeasuredOne() {
        // Measured on this machine's 2 cores (README, `make bench`): 9.6 s per step at 256x256
        // with 32 views, where OpenBLAS sgemm runs at about 170 GFLOP/s (85e9 multiply-adds/s).
        // The estimate may err long, never short by more than 20%, nor long by more than 2x.
        let seconds = Self.cost(256, cutn: 32).seconds(steps: 1, multiplyAddsPerSecond: 85e9)
        #expect(seconds >= 0.8 * 9.6 && seconds <= 2 * 9.6, "\(seconds) s")
        // 512x512: 23.6 s measured, same bounds.
        let large = Self.cost(512, cutn: 32).seconds(steps: 1, multiplyAddsPerSecond: 85e9)
        #expect(large >= 0.8 * 23.6 && large <= 2 * 23.6, "\(large) s")
    }

    @Test func timeScalesWithStepsRateSizeAndViews() {
        let base = Self.cost(256, cutn: 32)
        let one = base.seconds(steps: 1, multiplyAddsPerSecond: 50e9)
        #expect(abs(base.seconds(steps: 300, multiplyAddsPerSecond: 50e9) - 300 * one) <= 1e-9 * 300 * one)
        #expect(base.seconds(steps: 1, multiplyAddsPerSecond: 100e9) < one)
        #expect(Self.cost(512, cutn: 32).seconds(steps: 1, multiplyAddsPerSecond: 50e9) > 1.5 * one)
        #expect(Self.cost(256, cutn: 64).seconds(steps: 1, multiplyAddsPerSecond: 50e9) > one)
        #expect(base.seconds(steps: 1, multiplyAddsPerSecond: 0) == .infinity)
    }

    @Test func theProbeMeasuresAPlausibleRate() {
        // Any machine that runs these tests does between 0.1 and 10,000 GFLOP/s.
        let rate = RenderCost.measureMultiplyAddRate(rounds: 2, secondsPerRound: 0.01)
        #expect(rate > 0.05e9 && rate < 5e12, "\(rate)")
    }
}
