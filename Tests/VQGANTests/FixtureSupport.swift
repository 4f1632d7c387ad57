// Fixture access for the VQGAN parity tests (files written by scripts/make_vqgan_fixtures.py).

import Foundation
import Testing
import TestSupport
import Checkpoints
import Layers
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
