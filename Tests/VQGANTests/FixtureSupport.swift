// Fixture access for the VQGAN parity tests (files written by scripts/make_vqgan_fixtures.py) and
// the comparison used throughout: max |actual − expected| relative to max |expected|.

import Foundation
import Testing
import Checkpoints
import Tensors
@testable import VQGAN

enum Fixture {
    static func url(_ name: String) -> URL {
        Bundle.module.url(forResource: "Fixtures/" + name, withExtension: nil)!
    }

    /// Every tensor of a fixture safetensors file, as shape + Float32 values.
    static func read(_ name: String) throws -> [String: (shape: [Int], values: [Float])] {
        let dict = try SafeTensors.read(contentsOf: url(name))
        return try dict.tensors.mapValues { ($0.shape, try $0.floats()) }
    }

    /// A weight source over a fixture file.
    static func weights(_ name: String) throws -> WeightSource {
        WeightSource(stateDict: try SafeTensors.read(contentsOf: url(name)))
    }

    /// The named tensor of a fixture file.
    static func tensor(_ table: [String: (shape: [Int], values: [Float])], _ name: String,
                       requiresGrad: Bool = false) -> Tensor {
        let entry = table[name]!
        return Tensor(shape: entry.shape, data: entry.values, requiresGrad: requiresGrad)
    }
}

/// max |a − e| / max |e|, after checking shapes agree.
func relativeError(_ actual: Tensor, _ expected: Tensor) -> Float {
    guard actual.shape == expected.shape else { return .infinity }
    var maxDiff: Float = 0, maxRef: Float = 0
    for i in 0..<actual.count {
        maxDiff = max(maxDiff, abs(actual.data[i] - expected.data[i]))
        maxRef = max(maxRef, abs(expected.data[i]))
    }
    return maxDiff / max(maxRef, 1e-30)
}

/// Expects `actual` to match `expected` within `tolerance` relative error (see ``relativeError``).
@discardableResult
func expectClose(_ actual: Tensor, _ expected: Tensor, tolerance: Float, _ label: String,
                 sourceLocation: SourceLocation = #_sourceLocation) -> Float {
    #expect(actual.shape == expected.shape, "\(label): shape \(actual.shape) vs \(expected.shape)",
            sourceLocation: sourceLocation)
    let err = relativeError(actual, expected)
    #expect(err <= tolerance, "\(label): relative error \(err) > \(tolerance)", sourceLocation: sourceLocation)
    return err
}
