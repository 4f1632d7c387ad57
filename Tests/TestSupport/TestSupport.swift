// What every test target compares with, so that "close" means one thing everywhere:
//   assertClose   elementwise |actual − expected| ≤ atol + rtol·|expected| (numpy.allclose), for
//                 known answers and for two computations of the same value;
//   parityError   max |actual − expected| / max |expected|, the measure of the parity tests
//                 against PyTorch fixtures (one number per tensor, scale-free), and
//   assertParity  which expects it under a tolerance.
// Plus a synthetic state dict for the tests that only need tensor names and shapes.

import Checkpoints
import Foundation
import Tensors
import Testing

/// Expects |actual[i] − expected[i]| ≤ atol + rtol·|expected[i]| for every element (NaN fails),
/// reporting the first element that is not.
public func assertClose(_ actual: [Float], _ expected: [Float], atol: Float = 1e-6, rtol: Float = 1e-5,
                        _ label: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    guard actual.count == expected.count else {
        Issue.record("\(label) count \(actual.count) != \(expected.count)", sourceLocation: sourceLocation)
        return
    }
    for i in 0..<actual.count where !(abs(actual[i] - expected[i]) <= atol + rtol * abs(expected[i])) {
        Issue.record("\(label) element \(i): \(actual[i]) vs expected \(expected[i]) (atol \(atol), rtol \(rtol))",
                     sourceLocation: sourceLocation)
        return
    }
}

/// ``assertClose(_:_:atol:rtol:_:sourceLocation:)`` for tensors, which must also agree in shape.
public func assertClose(_ actual: Tensor, _ expected: Tensor, atol: Float = 1e-6, rtol: Float = 1e-5,
                        _ label: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == expected.shape, "\(label) shape \(actual.shape) vs \(expected.shape)", sourceLocation: sourceLocation)
    if actual.shape == expected.shape { assertClose(actual.data, expected.data, atol: atol, rtol: rtol, label, sourceLocation: sourceLocation) }
}

/// max |actual − expected| / max |expected|; infinite when the shapes differ.
public func parityError(_ actual: Tensor, _ expected: Tensor) -> Float {
    guard actual.shape == expected.shape else { return .infinity }
    var maxDiff: Float = 0, maxRef: Float = 0
    for i in 0..<actual.count {
        maxDiff = max(maxDiff, abs(actual.data[i] - expected.data[i]))
        maxRef = max(maxRef, abs(expected.data[i]))
    }
    return maxDiff / max(maxRef, 1e-30)
}

/// Expects `actual` to match `expected` in shape and within `tolerance` of ``parityError(_:_:)``;
/// returns the error.
@discardableResult
public func assertParity(_ actual: Tensor, _ expected: Tensor, tolerance: Float, _ label: String,
                         sourceLocation: SourceLocation = #_sourceLocation) -> Float {
    #expect(actual.shape == expected.shape, "\(label): shape \(actual.shape) vs \(expected.shape)", sourceLocation: sourceLocation)
    let err = parityError(actual, expected)
    #expect(err <= tolerance, "\(label): parity error \(err) > \(tolerance)", sourceLocation: sourceLocation)
    return err
}

/// Zero tensors with the given names and shapes, written to a safetensors file and read back.
public func syntheticStateDict(_ shapes: [(String, [Int])]) throws -> StateDict {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("synthetic-\(UUID().uuidString).safetensors")
    defer { try? FileManager.default.removeItem(at: url) }
    try SafeTensors.write(shapes.map { ($0.0, $0.1, [Float](repeating: 0, count: $0.1.reduce(1, *))) }, metadata: [:], to: url)
    return try SafeTensors.read(contentsOf: url)
}

/// The central difference (f(t + ε) − f(t − ε)) / 2ε with respect to element `i` of `t`, which is
/// restored afterwards. For weight-gradient checks of whole layers, where `f` runs the network.
public func centralDifference(_ t: Tensor, at i: Int, eps: Float, _ f: () -> Double) -> Float {
    let saved = t.data[i]
    t.data[i] = saved + eps
    let plus = f()
    t.data[i] = saved - eps
    let minus = f()
    t.data[i] = saved
    return Float((plus - minus) / (2 * Double(eps)))
}
