// `vqclip inspect`: what a checkpoint contains (format, tensors, parameter count) and which
// model it is. The model is named by the network modules, each asked in turn whether it
// recognises the tensor names and shapes; this module knows only file formats.

import Foundation

/// A description of one checkpoint: format, tensors, parameter count and the recognised model.
public struct InspectReport: Sendable, Codable {
    /// One tensor's name, dtype and shape.
    public struct Entry: Sendable, Codable, Equatable {
        public var name: String
        public var dtype: String
        public var shape: [Int]
    }

    public var file: String
    /// Format identifier (``CheckpointFormat`` raw value).
    public var format: String
    /// Human-readable container description, e.g. "PyTorch zip (torch.save), Lightning checkpoint".
    public var formatDescription: String
    /// The recognised model, e.g. "taming VQGAN f16, n_embed 16384", or nil.
    public var model: String?
    /// Total number of elements over all tensors.
    public var parameterCount: Int
    public var tensors: [Entry]
    public var metadata: [String: String]
    /// The recognised model's configuration in one line, when its recogniser can tell.
    public var modelConfiguration: String?

    /// Multi-line text: a summary followed by one aligned line per tensor.
    public func text() -> String {
        var lines = ["file: \(file)", "format: \(formatDescription)", "model: \(model ?? "not recognized")",
                     "tensors: \(tensors.count), parameters: \(groupedDigits(parameterCount))"]
        if let config = modelConfiguration { lines.append("config: \(config)") }
        // Lightning facts already appear in the format line.
        let hidden: Set<String> = metadata["lightning"] == "true"
            ? ["lightning", "state_dict_key", "epoch", "global_step", "pytorch-lightning_version"]
            : ["state_dict_key"]
        let shown = metadata.filter { !hidden.contains($0.key) }
        if !shown.isEmpty {
            lines.append("metadata: " + shown.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))
        }
        let nameWidth = min(tensors.map(\.name.count).max() ?? 0, 72)
        let dtypeWidth = tensors.map(\.dtype.count).max() ?? 0
        for entry in tensors {
            let name = entry.name.padding(toLength: max(nameWidth, entry.name.count), withPad: " ", startingAt: 0)
            let dtype = entry.dtype.padding(toLength: dtypeWidth, withPad: " ", startingAt: 0)
            lines.append("  \(name)  \(dtype)  [\(entry.shape.map(String.init).joined(separator: ", "))]")
        }
        return lines.joined(separator: "\n")
    }

    /// One line of JSON with sorted snake_case keys, like every other command's --json output.
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// What a network module says about a state dict it recognises.
public struct ModelRecognition: Sendable {
    /// The model, e.g. "taming VQGAN f16, n_embed 16384, z_channels 256".
    public var model: String
    /// Its configuration in one line, when the shapes tell it.
    public var configuration: String?

    public init(model: String, configuration: String? = nil) {
        self.model = model
        self.configuration = configuration
    }
}

/// Describes a loaded state dict for `vqclip inspect`; the first of `recognizers` that
/// recognises the tensors names the model.
public func describe(_ sd: StateDict, recognizers: [(StateDict) -> ModelRecognition?] = []) -> InspectReport {
    var formatDescription = sd.format.displayName
    if sd.metadata["lightning"] == "true" {
        var facts: [String] = []
        if let version = sd.metadata["pytorch-lightning_version"] { facts.append("pytorch-lightning \(version)") }
        if let epoch = sd.metadata["epoch"] { facts.append("epoch \(epoch)") }
        if let step = sd.metadata["global_step"] { facts.append("global_step \(step)") }
        formatDescription += ", Lightning checkpoint" + (facts.isEmpty ? "" : " (\(facts.joined(separator: ", ")))")
    }
    let recognition = recognizers.lazy.compactMap { $0(sd) }.first
    return InspectReport(
        file: sd.source, format: sd.format.rawValue, formatDescription: formatDescription,
        model: recognition?.model, parameterCount: sd.parameterCount,
        tensors: sd.names.compactMap { name in sd[name].map { .init(name: name, dtype: $0.dtype.rawValue, shape: $0.shape) } },
        metadata: sd.metadata, modelConfiguration: recognition?.configuration)
}

/// 91234567 → "91,234,567".
func groupedDigits(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return value < 0 ? "-" + out : out
}
