// Seeded random numbers: the same seed gives the same stream on every machine, so renders,
// tests and training runs are reproducible.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fast, seedable generator (SplitMix64 seeding a xoshiro256** state).
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s0, s1, s2, s3: UInt64

    /// Creates a generator whose stream is fully determined by `seed`.
    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitmix(); s1 = splitmix(); s2 = splitmix(); s3 = splitmix()
    }

    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }

    /// Uniform in [0, 1).
    public mutating func nextUniform() -> Float {
        Float(next() >> 40) * (1.0 / Float(1 << 24))
    }

    /// Standard normal (Box-Muller).
    public mutating func nextNormal() -> Float {
        let u1 = max(Double(next() >> 11) * 0x1.0p-53, 1e-300)
        let u2 = Double(next() >> 11) * 0x1.0p-53
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
}

extension Tensor {
    /// Samples from N(mean, std^2).
    public static func randn(_ shape: [Int], mean: Float = 0, std: Float = 1, seed: UInt64,
                             requiresGrad: Bool = false) -> Tensor {
        var rng = SeededGenerator(seed: seed)
        let data = (0..<product(shape)).map { _ in mean + std * rng.nextNormal() }
        return Tensor(shape: shape, data: data, requiresGrad: requiresGrad)
    }

    /// Samples uniformly from [low, high).
    public static func uniform(_ shape: [Int], low: Float = 0, high: Float = 1, seed: UInt64,
                               requiresGrad: Bool = false) -> Tensor {
        var rng = SeededGenerator(seed: seed)
        let data = (0..<product(shape)).map { _ in low + (high - low) * rng.nextUniform() }
        return Tensor(shape: shape, data: data, requiresGrad: requiresGrad)
    }

    /// Zeros of the given shape.
    public static func zeros(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        Tensor(repeating: 0, shape: shape, requiresGrad: requiresGrad)
    }

    /// Ones of the given shape.
    public static func ones(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        Tensor(repeating: 1, shape: shape, requiresGrad: requiresGrad)
    }
}

extension SeededGenerator {
    /// The generator's full state, to save a run and continue it later with ``init(state:)``.
    public var state: [UInt64] { [s0, s1, s2, s3] }

    /// A generator that continues exactly where the one whose ``state`` this is stood.
    public init(state: [UInt64]) {
        precondition(state.count == 4, "SeededGenerator state has 4 words, got \(state.count)")
        self.init(seed: 0)
        (s0, s1, s2, s3) = (state[0], state[1], state[2], state[3])
    }
}
