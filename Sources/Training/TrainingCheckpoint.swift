// A trainer's resumable state in one safetensors file: the parameters under their checkpoint
// keys, each optimiser's buffers under `optimizer.NAME.`, and free-form metadata (step, random
// stream, configuration). Written atomically, so a killed run leaves the previous checkpoint.

import Checkpoints
import Foundation
import Optimizers
import Tensors

/// A training checkpoint read from disk.
public struct TrainingCheckpoint {
    /// The file it came from.
    public let url: URL
    /// Everything stored, by name.
    public let stateDict: StateDict
    /// The metadata saved with it.
    public var metadata: [String: String] { stateDict.metadata }

    /// Writes parameters, optimiser states and metadata to `url` (temporary file + rename).
    public static func save(to url: URL, parameters: [(name: String, tensor: Tensor)],
                            optimizers: [String: OptimizerState], metadata: [String: String]) throws {
        var tensors = parameters.map { (name: $0.name, shape: $0.tensor.shape, values: $0.tensor.data) }
        var meta = metadata
        meta["format"] = "vqclip-training-state"
        for (name, state) in optimizers.sorted(by: { $0.key < $1.key }) {
            tensors += state.namedArrays(prefix: "optimizer.\(name)").map { ($0.name, [$0.values.count], $0.values) }
            meta.merge(state.metadata(prefix: "optimizer.\(name)")) { $1 }
        }
        try SafeTensors.write(tensors, metadata: meta, to: url)
    }

    /// Reads a checkpoint written by ``save(to:parameters:optimizers:metadata:)``.
    public init(contentsOf url: URL) throws {
        self.url = url
        stateDict = try loadStateDict(contentsOf: url)
        guard stateDict.metadata["format"] == "vqclip-training-state" else {
            throw CheckpointError(file: url.path, message: "not a vqclip training checkpoint")
        }
    }

    /// Copies the stored values into `parameters`. Strict: a missing, extra or mis-shaped
    /// parameter is an error naming the key.
    public func restore(parameters: [(name: String, tensor: Tensor)]) throws {
        let stored = Set(stateDict.names.filter { !$0.hasPrefix("optimizer.") })
        let wanted = Set(parameters.map(\.name))
        if let extra = stored.subtracting(wanted).sorted().first {
            throw CheckpointError(file: url.path, message: "unexpected tensor \(extra)")
        }
        for (name, tensor) in parameters {
            guard let entry = stateDict[name] else { throw CheckpointError(file: url.path, message: "missing tensor \(name)") }
            guard entry.shape == tensor.shape else {
                throw CheckpointError(file: url.path, message: "\(name) has shape \(entry.shape), expected \(tensor.shape)")
            }
            tensor.data = try entry.floats()
        }
    }

    /// The state of the optimiser saved under `name`.
    public func optimizerState(_ name: String) throws -> OptimizerState {
        let prefix = "optimizer.\(name)"
        do {
            return try OptimizerState(prefix: prefix, metadata: metadata, names: stateDict.names,
                                      array: { try stateDict[$0]?.floats() })
        } catch let error as OptimizerStateError {
            throw CheckpointError(file: url.path, message: "\(error)")
        }
    }
}
