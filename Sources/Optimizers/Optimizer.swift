// What every optimiser offers the loops that drive it: a step from the accumulated gradients, a
// learning rate that schedules may change, and its state as named buffers so that a run can be
// saved and continued exactly.

import Tensors

/// A gradient-based optimiser over a fixed list of leaf tensors.
public protocol Optimizer: AnyObject {
    /// The parameters being optimised.
    var parameters: [Tensor] { get }
    /// Step size; schedules may change it between steps.
    var learningRate: Float { get set }
    /// Applies one update from the parameters' accumulated gradients.
    func step()
    /// The optimiser's internal state (step counts and per-parameter buffers).
    var state: OptimizerState { get }
    /// Replaces the internal state with one taken from an optimiser of the same kind over
    /// parameters of the same shapes. Throws when it does not fit.
    func restore(_ state: OptimizerState) throws
}

extension Optimizer {
    /// Clears every parameter's accumulated gradient.
    public func zeroGrad() {
        for p in parameters { p.zeroGrad() }
    }
}

/// An optimiser's state: which kind it is, the number of updates per parameter, and named
/// per-parameter buffers (for Adam "exp_avg" and "exp_avg_sq", as PyTorch calls them).
public struct OptimizerState: Equatable, Sendable {
    public var kind: String
    public var stepCounts: [Int]
    /// Buffer name → one array per parameter.
    public var buffers: [String: [[Float]]]

    public init(kind: String, stepCounts: [Int], buffers: [String: [[Float]]]) {
        self.kind = kind
        self.stepCounts = stepCounts
        self.buffers = buffers
    }
}

/// A state that does not fit the optimiser it is restored into.
public struct OptimizerStateError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension OptimizerState {
    /// Checks that this state fits `kind` over parameters of `counts` elements, with `names` buffers.
    func validate(kind expected: String, counts: [Int], names: [String]) throws {
        guard kind == expected else { throw OptimizerStateError("state is for \(kind), not \(expected)") }
        guard stepCounts.count == counts.count else {
            throw OptimizerStateError("state has \(stepCounts.count) parameters, expected \(counts.count)")
        }
        for name in names {
            guard let arrays = buffers[name], arrays.map(\.count) == counts else {
                throw OptimizerStateError("state buffer \(name) is missing or has the wrong sizes")
            }
        }
    }
}

extension OptimizerState {
    /// The buffers as flat named arrays, `prefix.BUFFER.K` for parameter K, for storing in a
    /// tensor file beside ``metadata(prefix:)``.
    public func namedArrays(prefix: String) -> [(name: String, values: [Float])] {
        buffers.keys.sorted().flatMap { name in
            buffers[name]!.enumerated().map { (name: "\(prefix).\(name).\($0.offset)", values: $0.element) }
        }
    }

    /// The kind and step counts as text, `prefix` + `.kind` / `.steps`.
    public func metadata(prefix: String) -> [String: String] {
        ["\(prefix).kind": kind, "\(prefix).steps": stepCounts.map(String.init).joined(separator: ",")]
    }

    /// Reads back what ``namedArrays(prefix:)`` and ``metadata(prefix:)`` wrote; `array(name)`
    /// returns a stored array or nil. Throws when the record is incomplete.
    public init(prefix: String, metadata: [String: String], names: [String],
                array: (String) throws -> [Float]?) throws {
        guard let kind = metadata["\(prefix).kind"],
              let counts = metadata["\(prefix).steps"]?.split(separator: ",", omittingEmptySubsequences: false)
                .map({ Int($0) }), counts.allSatisfy({ $0 != nil }) else {
            throw OptimizerStateError("no readable \(prefix) optimiser record")
        }
        var buffers: [String: [[Float]]] = [:]
        for name in names where name.hasPrefix(prefix + ".") {
            let parts = name.dropFirst(prefix.count + 1).split(separator: ".")
            guard parts.count == 2, let k = Int(parts[1]) else { throw OptimizerStateError("unexpected optimiser entry \(name)") }
            guard let values = try array(name) else { throw OptimizerStateError("optimiser entry \(name) is unreadable") }
            var list = buffers[String(parts[0]), default: []]
            if list.count <= k { list += Array(repeating: [], count: k + 1 - list.count) }
            list[k] = values
            buffers[String(parts[0])] = list
        }
        self.init(kind: kind, stepCounts: counts.map { $0! }, buffers: buffers)
    }
}
