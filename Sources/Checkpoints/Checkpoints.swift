// Public face of the Checkpoints module: the element types, the format tags, the tensor and
// state-dict values every reader produces, the one error type, and the auto-detecting loader.

import FilePaths
import Foundation

/// Element type of a stored tensor, as written in the file.
public enum DType: String, Sendable, Codable, CaseIterable {
    case float32, float16, bfloat16, float64
    case int64, int32, int16, int8, uint8, bool

    /// Bytes per element.
    public var itemSize: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    /// True for the integer and boolean types (those ``StoredTensor/int64s()`` accepts).
    public var isInteger: Bool {
        switch self {
        case .int64, .int32, .int16, .int8, .uint8, .bool: return true
        default: return false
        }
    }
}

/// The container a state dict was read from.
public enum CheckpointFormat: String, Sendable, Codable {
    /// A `.safetensors` file.
    case safetensors
    /// A zip archive written by `torch.save` (PyTorch ≥ 1.6), including Lightning `.ckpt` files.
    case torchZip
    /// The pre-1.6 `torch.save` stream (`_use_new_zipfile_serialization=False`).
    case torchLegacy
    /// A TorchScript archive written by `torch.jit.save` (OpenAI CLIP `.pt` files).
    case torchScript

    /// Human-readable name.
    public var displayName: String {
        switch self {
        case .safetensors: return "safetensors"
        case .torchZip: return "PyTorch zip (torch.save)"
        case .torchLegacy: return "PyTorch legacy stream (torch.save, pre-1.6)"
        case .torchScript: return "TorchScript archive (torch.jit.save)"
        }
    }
}

/// A failure to read or write a checkpoint: one line naming the file and the problem.
public struct CheckpointError: Error, CustomStringConvertible, Sendable {
    /// The file concerned (a path as given by the caller).
    public let file: String
    /// What went wrong.
    public let message: String

    public init(file: String, message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(PathBytes.display(file)): \(message)" }
}

/// An error raised by a parser that does not know the file name; ``loadStateDict(contentsOf:)``
/// and the other entry points turn it into a ``CheckpointError`` naming the file.
struct FormatError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// Runs `body`, turning a ``FormatError`` into a ``CheckpointError`` for `file`.
func naming<T>(_ file: String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as FormatError {
        throw CheckpointError(file: file, message: error.message)
    }
}

/// Named tensors read from one checkpoint file, in the order the file lists them.
public struct StateDict: Sendable {
    /// Tensors by name.
    public var tensors: [String: StoredTensor]
    /// Tensor names in file order.
    public var names: [String]
    /// The container the tensors came from.
    public var format: CheckpointFormat
    /// Extra facts from the file (safetensors `__metadata__`; Lightning `epoch`, `global_step`,
    /// `pytorch-lightning_version`; notes about skipped entries).
    public var metadata: [String: String]
    /// The file the tensors were read from.
    public var source: String

    public init(tensors: [StoredTensor], format: CheckpointFormat,
                metadata: [String: String] = [:], source: String) {
        self.tensors = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.names = tensors.map(\.name)
        self.format = format
        self.metadata = metadata
        self.source = source
    }

    /// The tensor called `name`, or nil.
    public subscript(name: String) -> StoredTensor? { tensors[name] }

    /// The tensor called `name`; throws a ``CheckpointError`` naming the key and file when absent.
    public func tensor(_ name: String) throws -> StoredTensor {
        guard let tensor = tensors[name] else {
            throw CheckpointError(file: source, message: "missing tensor '\(name)'")
        }
        return tensor
    }

    /// The tensors whose names start with `prefix`, renamed without it, in file order; e.g. the
    /// VQGAN inside a Net2Net checkpoint is `strippingPrefix("first_stage_model.")`.
    public func strippingPrefix(_ prefix: String) -> StateDict {
        let kept = names.filter { $0.hasPrefix(prefix) }.compactMap { tensors[$0]?.renamed(String($0.dropFirst(prefix.count))) }
        return StateDict(tensors: kept, format: format, metadata: metadata, source: source)
    }

    /// The distinct integers `i` of keys `prefix + "{i}." + …`: the layers of a numbered
    /// module list (`decoder.up.` → 0, 1, 2, …).
    public func indices(under prefix: String) -> Set<Int> {
        var found = Set<Int>()
        for name in names where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count)
            if let dot = rest.firstIndex(of: "."), let i = Int(rest[..<dot]) { found.insert(i) }
        }
        return found
    }

    /// Total number of elements over all tensors.
    public var parameterCount: Int { names.reduce(0) { $0 + (tensors[$1]?.count ?? 0) } }
}

/// Reads the tensors of a checkpoint, detecting its format from the content (not the extension):
/// safetensors, a `torch.save` zip archive (for a Lightning checkpoint, the `state_dict` entry),
/// a legacy `torch.save` stream, or a TorchScript archive (parameter names recovered from the
/// module object graph, e.g. `visual.conv1.weight`). Large files are memory-mapped; tensor data
/// is converted only when ``StoredTensor/floats()`` is called.
public func loadStateDict(contentsOf url: URL) throws -> StateDict {
    let file = url.path
    return try naming(file) {
        let source = try ByteSource(mapping: url)
        return try loadStateDict(source: source, file: file)
    }
}

/// Format detection over bytes already in memory or mapped.
func loadStateDict(source: ByteSource, file: String) throws -> StateDict {
    let bytes = source.bytes
    // safetensors first: its leading header length can look like a pickle PROTO opcode
    // (a 384-byte header starts 80 01), while zip and pickle magics never pass its check.
    if SafeTensors.looksLike(bytes) {
        return try SafeTensors.parse(source: source, file: file)
    }
    if bytes.count >= 4, bytes[0] == 0x50, bytes[1] == 0x4B, bytes[2] == 0x03 || bytes[2] == 0x05 {
        return try TorchZip.load(source: source, file: file)
    }
    if bytes.count >= 2, bytes[0] == 0x80, bytes[1] <= 5 {
        return try TorchLegacy.load(source: source, file: file)
    }
    if bytes.isEmpty { throw FormatError("empty file") }
    throw FormatError("not a checkpoint: unrecognized magic bytes (expected a zip archive, a pickle stream or safetensors)")
}
