// YAML as a file format: a config file read with Yams into nodes that answer typed questions
// (an integer here, a list of positive integers there). Every error is a ``CheckpointError``
// naming the file and the dotted path of the value. Kept apart from the tensor readers so that
// the fuzz build (scripts/fuzz.sh) can compile them without the YAML library.

import FilePaths
import Foundation
import Yams

/// One node of a YAML document (usually a mapping), with its dotted path for error messages.
public struct YAMLNode {
    let node: Node
    /// Dotted path from the root, e.g. `model.params.ddconfig`; empty at the root.
    public let path: String
    /// The file named in errors.
    public let file: String

    /// Reads and parses a YAML file.
    public static func load(contentsOf url: URL) throws -> YAMLNode {
        let bytes: [UInt8]
        do { bytes = try Files.read(url.path) } catch let error as FileError {
            throw CheckpointError(file: url.path, message: "cannot read config: \(error.problem)")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw CheckpointError(file: url.path, message: "cannot read config: not UTF-8 text")
        }
        return try parse(text, file: url.path)
    }

    /// Parses YAML text; `file` names the source in errors.
    public static func parse(_ text: String, file: String) throws -> YAMLNode {
        // The YAML composer recurses per nesting level: refuse inputs that could exhaust the stack.
        guard text.utf8.count <= 4 << 20 else { throw CheckpointError(file: file, message: "config larger than 4 MB") }
        guard flowDepth(text) <= 64 else { throw CheckpointError(file: file, message: "YAML nested deeper than 64 levels") }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            let line = "\(error)".split(separator: "\n").joined(separator: " ")
            throw CheckpointError(file: file, message: "invalid YAML: \(line)")
        }
        return YAMLNode(node: root ?? Node(""), path: "", file: file)
    }

    /// The child at `key`, or nil.
    public subscript(key: String) -> YAMLNode? {
        node[key].map { YAMLNode(node: $0, path: name(key), file: file) }
    }

    /// The child at `key`; its absence is an error naming the path.
    public func require(_ key: String) throws -> YAMLNode {
        guard let child = self[key] else { throw error("\(name(key)) missing from config") }
        return child
    }

    /// The scalar as a string, or nil.
    public var string: String? { node.string }

    /// The integer at `key`, nil when absent.
    public func integer(_ key: String) throws -> Int? {
        guard let value = node[key] else { return nil }
        guard let int = value.int else { throw error("\(name(key)) is not an integer") }
        return int
    }

    /// The integer at `key`, which must be present and in 1...2²⁴.
    public func positive(_ key: String) throws -> Int {
        guard let value = try integer(key) else { throw error("\(name(key)) missing from config") }
        guard value > 0, value <= 1 << 24 else { throw error("\(name(key)) = \(value) is out of range") }
        return value
    }

    /// The finite number at `key`, nil when absent.
    public func number(_ key: String) throws -> Double? {
        guard let value = node[key] else { return nil }
        guard let number = value.float ?? value.int.map(Double.init), number.isFinite else {
            throw error("\(name(key)) is not a number")
        }
        return number
    }

    /// The boolean at `key`, nil when absent.
    public func bool(_ key: String) throws -> Bool? {
        guard let value = node[key] else { return nil }
        guard let bool = value.bool else { throw error("\(name(key)) is not a boolean") }
        return bool
    }

    /// The list of integers in 1...2²⁴ at `key` (at most 64), which must be present.
    public func positiveList(_ key: String, allowEmpty: Bool) throws -> [Int] {
        guard let value = node[key] else { throw error("\(name(key)) missing from config") }
        guard let sequence = value.sequence, sequence.count <= 64 else { throw error("\(name(key)) is not a list") }
        let items = try sequence.map { item -> Int in
            guard let int = item.int, int > 0, int <= 1 << 24 else { throw error("\(name(key)) holds \(item.string ?? "a non-integer")") }
            return int
        }
        guard allowEmpty || !items.isEmpty else { throw error("\(name(key)) is empty") }
        return items
    }

    /// An error about this file.
    public func error(_ message: String) -> CheckpointError { CheckpointError(file: file, message: message) }

    private func name(_ key: String) -> String { path.isEmpty ? key : path + "." + key }

    /// Deepest nesting of flow collections (`[`, `{`) outside quoted scalars. Block nesting
    /// needs one more indentation column per level, so the size limit already bounds it.
    static func flowDepth(_ text: String) -> Int {
        var depth = 0, deepest = 0
        var quote: UInt8?
        for byte in text.utf8 {
            if let q = quote {
                if byte == q { quote = nil }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "'"): quote = byte
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                deepest = max(deepest, depth)
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth = max(depth - 1, 0)
            case UInt8(ascii: "\n"): quote = nil
            default: break
            }
        }
        return deepest
    }
}
