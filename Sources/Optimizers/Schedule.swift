// Learning-rate schedules for training: linear warm-up, then cosine decay to a floor.

import Foundation

/// Linear warm-up from 0 over `warmupSteps`, then a half cosine from `peak` down to
/// `peak * floorFraction` at `totalSteps`; constant at the floor afterwards.
public struct WarmupCosineSchedule: Sendable, Equatable {
    public var peak: Float
    public var warmupSteps: Int
    public var totalSteps: Int
    public var floorFraction: Float

    public init(peak: Float, warmupSteps: Int, totalSteps: Int, floorFraction: Float = 0.1) {
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.floorFraction = floorFraction
    }

    /// The learning rate for 0-based `step`.
    public func learningRate(at step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        let span = max(1, totalSteps - warmupSteps)
        let t = min(1, Float(step - warmupSteps) / Float(span))
        let floor = peak * floorFraction
        return floor + (peak - floor) * 0.5 * (1 + cos(Float.pi * t))
    }
}
