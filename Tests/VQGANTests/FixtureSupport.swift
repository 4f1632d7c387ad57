// Fixture access for the VQGAN parity tests (files written by scripts/make_vqgan_fixtures.py) and
// the comparison used throughout: max |actual − expected| relative to max |expected|.

import Foundation
import Testing
import Tensors
@testable import VQGAN

enum Fixture {
    static func url(_ name: String) -> URL {
        Bundle.module.url(forResource: "Fixtures/" + name, withExtension: nil)!
    }

    /// Every tensor of a fixture safetensors file, as shape + Float32 values.
    static func read(_ name: String) throws -> [String: (shape: [Int], values: [Float])] {
        let data = try Data(contentsOf: url(name))
        let headerLength = data.prefix(8).withUnsafeBytes { Int($0.loadUnaligned(as: UInt64.self)) }
        let header = try JSONSerialization.jsonObject(with: data[8..<(8 + headerLength)]) as! [String: Any]
        let base = 8 + headerLength
        var out: [String: (shape: [Int], values: [Float])] = [:]
        for (name, info) in header where name != "__metadata__" {
            let info = info as! [String: Any]
            let shape = info["shape"] as! [Int]
            let offsets = info["data_offsets"] as! [Int]
            let bytes = data[(base + offsets[0])..<(base + offsets[1])]
            let values: [Float] = bytes.withUnsafeBytes { raw in
                switch info["dtype"] as! String {
                case "F32": return (0..<raw.count / 4).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
                case "F16": return (0..<raw.count / 2).map {
                    Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) }
                case "I64": return (0..<raw.count / 8).map { Float(raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
                case "U8": return raw.map { Float($0) }
                default: fatalError("fixture dtype \(info["dtype"]!)")
                }
            }
            out[name] = (shape, values)
        }
        return out
    }

    /// A weight source over a fixture file.
    static func weights(_ name: String) throws -> WeightSource {
        let table = try read(name)
        return WeightSource(file: name, entries: table.mapValues { entry in
            WeightSource.Entry(shape: entry.shape, values: { entry.values })
        })
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
