// One JSON object per line on stdout (the --json event stream). Keys keep their order, so
// "event" always comes first and the stream reads well by eye too.

import FilePaths
import Foundation

/// A JSON value with ordered object keys.
enum JSONValue {
    case string(String)
    case int(Int)
    /// Written as exact digits (seeds use the full 64-bit range).
    case uint(UInt64)
    case number(Double)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([(String, JSONValue)])

    /// A Float as its shortest decimal form (0.1 rather than 0.10000000149011612); NaN and
    /// infinities, which JSON cannot carry, become null.
    static func float(_ value: Float) -> JSONValue { value.isFinite ? .number(Double("\(value)")!) : .null }

    var encoded: String {
        switch self {
        case .string(let s): return JSONValue.quote(s)
        case .int(let i): return String(i)
        case .uint(let u): return String(u)
        case .number(let d): return d.isFinite ? (d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : "\(d)") : "null"
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .array(let items): return "[" + items.map(\.encoded).joined(separator: ",") + "]"
        case .object(let fields):
            return "{" + fields.map { JSONValue.quote($0.0) + ":" + $0.1.encoded }.joined(separator: ",") + "}"
        }
    }

    /// A JSON string literal, escaped by Foundation's encoder. Bytes of a path that are not
    /// UTF-8 are written `\xFF` (JSON strings are Unicode text).
    private static func quote(_ raw: String) -> String {
        let s = PathBytes.display(raw)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        // Encoding a String cannot fail.
        return (try? encoder.encode(s)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
    }
}

enum JSONLine {
    /// Writes one object as a single line on stdout.
    static func write(_ fields: [(String, JSONValue)]) {
        Terminal.writeOutput(JSONValue.object(fields).encoded + "\n")
    }
}
