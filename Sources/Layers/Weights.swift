// The one place where network parameters come from: a named table of stored tensors (a
// checkpoint's state dict, a safetensors file, or plain tensors) or seeded random values, handed
// out by key while a network is built. Loading is strict: every key the network asks for must
// exist with the right shape, and (``WeightLoader/finish(ignoringPrefixes:)``) every stored key
// must be used. Keys are the checkpoint's own (`visual.transformer.resblocks.0.ln_1.weight`);
// a network reaches them through nested scopes (`scope("visual").scope("ln_pre")`), as PyTorch's
// module paths do.

import Checkpoints
import Tensors

/// A loading error: one line naming the file and the key.
public struct WeightError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The one-line message.
    public let description: String

    /// Creates an error with a one-line message.
    public init(_ description: String) { self.description = description }
}

/// A table of named tensors that have not been turned into ``Tensor``s yet.
public struct WeightSource {
    /// One stored tensor: its shape and a way to read its values as Float32.
    public struct Entry {
        /// Shape as stored.
        public let shape: [Int]
        /// Reads the values (row-major Float32); called at most once per load.
        public let values: () throws -> [Float]
        /// An entry whose values are produced on demand.
        public init(shape: [Int], values: @escaping () throws -> [Float]) {
            self.shape = shape
            self.values = values
        }
    }

    /// File (or description) named in errors.
    public var file: String
    /// Stored tensors by checkpoint key.
    public var entries: [String: Entry]

    /// A source over arbitrary entries (e.g. tensors renamed from a foreign layout).
    public init(file: String, entries: [String: Entry]) {
        self.file = file
        self.entries = entries
    }

    /// A source over a checkpoint's state dict; values are converted to Float32 only when a
    /// network asks for the key. A model stored under a prefix (a Net2Net first stage) is read
    /// from `stateDict.strippingPrefix(_:)`.
    public init(stateDict: StateDict, file: String? = nil) {
        self.file = file ?? stateDict.source
        self.entries = stateDict.tensors.mapValues { st in Entry(shape: st.shape, values: { try st.floats() }) }
    }

    /// A source over tensors already in memory.
    public init(file: String, tensors: [String: Tensor]) {
        self.file = file
        self.entries = tensors.mapValues { t in Entry(shape: t.shape, values: { t.data }) }
    }
}

/// Hands out parameters by checkpoint key while a network is built, and records them.
public final class WeightLoader {
    /// How a parameter is filled when there is no source (random initialisation).
    public enum Initializer: Sendable {
        case zeros, ones
        /// Every element `value`.
        case constant(Float)
        /// N(0, std²).
        case normal(std: Float)
        /// N(0, 1/fan_in) with fan_in = product of all but the first dimension.
        case fanIn
    }

    private let source: WeightSource?
    private let requiresGrad: Bool
    private var seed: UInt64
    private var used: Set<String> = []
    /// Every parameter handed out, in build order, under its checkpoint key.
    public private(set) var parameters: [(name: String, tensor: Tensor)] = []
    /// Buffers (BatchNorm running statistics and counters, ActNorm's flag), same naming; never
    /// differentiated. Kept so that a saved model has every key a strict load asks for.
    public private(set) var buffers: [(name: String, tensor: Tensor)] = []

    /// Loads from `source`. Parameters require gradients only when `requiresGrad` (training);
    /// frozen weights never get one.
    public init(source: WeightSource, requiresGrad: Bool = false) {
        self.source = source
        self.requiresGrad = requiresGrad
        self.seed = 0
    }

    /// Fills parameters with seeded random values (each as its layer asks: norm weights 1,
    /// biases 0, matrices N(0, 1/fan_in)): for benchmarks and for training from scratch.
    public init(randomSeed: UInt64, requiresGrad: Bool = false) {
        self.source = nil
        self.requiresGrad = requiresGrad
        self.seed = randomSeed
    }

    /// File named in errors.
    public var file: String { source?.file ?? "random weights" }

    /// The scope of the whole network (keys relative to the root).
    public var root: WeightScope { WeightScope(loader: self, path: "") }

    /// A view that prepends `component.` to every name.
    public func scope(_ component: String) -> WeightScope { WeightScope(loader: self, path: component) }

    /// The parameter stored under `key`, which must have `shape`. `buffer` tensors (running
    /// statistics) never require gradients and are not listed in ``parameters``.
    public func tensor(_ key: String, shape: [Int], initializer: Initializer, buffer: Bool = false) throws -> Tensor {
        let requiresGrad = self.requiresGrad && !buffer
        let t: Tensor
        if let source {
            guard let entry = source.entries[key] else {
                throw WeightError("\(source.file): missing tensor '\(key)' (expected shape \(shape))")
            }
            guard entry.shape == shape else {
                throw WeightError("\(source.file): tensor '\(key)' has shape \(entry.shape), expected \(shape)")
            }
            let values: [Float]
            do { values = try entry.values() } catch {
                throw WeightError("\(source.file): tensor '\(key)' cannot be read as floats: \(error)")
            }
            guard values.count == shape.reduce(1, *) else {
                throw WeightError("\(source.file): tensor '\(key)' holds \(values.count) values for shape \(shape)")
            }
            used.insert(key)
            t = Tensor(shape: shape, data: values, requiresGrad: requiresGrad)
        } else {
            seed &+= 1
            switch initializer {
            case .zeros: t = Tensor.zeros(shape, requiresGrad: requiresGrad)
            case .ones: t = Tensor.ones(shape, requiresGrad: requiresGrad)
            case .constant(let value): t = Tensor(repeating: value, shape: shape, requiresGrad: requiresGrad)
            case .normal(let std): t = Tensor.randn(shape, std: std, seed: seed, requiresGrad: requiresGrad)
            case .fanIn:
                let fanIn = max(1, shape.dropFirst().reduce(1, *))
                t = Tensor.randn(shape, std: 1 / Float(fanIn).squareRoot(), seed: seed, requiresGrad: requiresGrad)
            }
        }
        if buffer { buffers.append((key, t)) } else { parameters.append((key, t)) }
        return t
    }

    /// A stored buffer that the networks do not compute with (BatchNorm's `num_batches_tracked`,
    /// ActNorm's `initialized`): checked to exist with `shape`, read, and recorded in ``buffers``.
    /// Without a source it holds `initial`.
    @discardableResult
    public func buffer(_ key: String, shape: [Int], initial: Float = 0) throws -> Tensor {
        if source == nil {
            let t = Tensor(repeating: initial, shape: shape)
            buffers.append((key, t))
            return t
        }
        return try tensor(key, shape: shape, initializer: .zeros, buffer: true)
    }

    /// Fails on the first stored key (in sorted order) that no network asked for, unless it
    /// starts with one of `ignoringPrefixes`.
    public func finish(ignoringPrefixes: [String] = []) throws {
        guard let source else { return }
        let unused = source.entries.keys.filter { key in
            !used.contains(key) && !ignoringPrefixes.contains(where: { key.hasPrefix($0) })
        }.sorted()
        guard let first = unused.first else { return }
        let more = unused.count > 1 ? " (and \(unused.count - 1) more)" : ""
        throw WeightError("\(source.file): unexpected tensor '\(first)' (shape \(source.entries[first]!.shape)) is not part of the model\(more)")
    }
}

/// A ``WeightLoader`` seen from inside one submodule: names are relative to `path`.
public struct WeightScope {
    /// The loader that hands out and records the tensors.
    public let loader: WeightLoader
    /// Dotted key prefix of this submodule, e.g. `decoder.up.3.block.0`.
    public let path: String

    /// A scope at `path` of `loader`.
    public init(loader: WeightLoader, path: String) {
        self.loader = loader
        self.path = path
    }

    /// The submodule `component` of this one.
    public func scope(_ component: String) -> WeightScope {
        WeightScope(loader: loader, path: key(component))
    }

    /// The parameter `path.name` of the given shape.
    public func tensor(_ name: String, shape: [Int], initializer: WeightLoader.Initializer = .fanIn,
                       buffer: Bool = false) throws -> Tensor {
        try loader.tensor(key(name), shape: shape, initializer: initializer, buffer: buffer)
    }

    /// The buffer `path.name` (see ``WeightLoader/buffer(_:shape:initial:)``).
    @discardableResult
    public func buffer(_ name: String, shape: [Int], initial: Float = 0) throws -> Tensor {
        try loader.buffer(key(name), shape: shape, initial: initial)
    }

    private func key(_ name: String) -> String { path.isEmpty ? name : path + "." + name }
}

/// Copies into each of `target`'s tensors the values of `source`'s tensor of the same name (a
/// fine-tune's start): strict like loading, so a key `source` lacks, or has in another shape,
/// is an error naming it. Nothing is copied unless every key matches.
public func copyNamedValues(from source: [(name: String, tensor: Tensor)], into target: [(name: String, tensor: Tensor)]) throws {
    let values = Dictionary(source.map { ($0.name, $0.tensor) }, uniquingKeysWith: { first, _ in first })
    for (name, tensor) in target where values[name]?.shape != tensor.shape {
        throw WeightError("the initial model has no \(name) of shape \(tensor.shape)")
    }
    for (name, tensor) in target { tensor.data = values[name]!.data }
}
