// Paths are byte strings to the kernel, and need not be UTF-8. A Swift String cannot hold
// arbitrary bytes, so every path is carried as a String in which each byte that is not part of
// valid UTF-8 stands for itself as one scalar of U+10FF00...U+10FFFF (the last 256 code points
// of the last private-use plane). The bytes of any real character in that range are escaped the
// same way, so the mapping from bytes to String is injective and `bytes(of:)` gives back exactly
// the bytes that `string(decoding:)` was given. Valid UTF-8 outside that range, which is every
// name anyone types, is unchanged.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The reversible String form of byte-string paths (and of any text that may hold paths).
public enum PathBytes {
    /// The first scalar of the escape range: byte `b` is written as U+10FF00 + b.
    static let escapeBase: UInt32 = 0x10FF00

    /// The String form of `bytes`: UTF-8 decoded, every other byte escaped.
    public static func string<Bytes: Collection>(decoding bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let input = Array(bytes)
        var scalars = String.UnicodeScalarView()
        var i = 0
        while i < input.count {
            if let (scalar, length) = validScalar(input, at: i), !isEscape(scalar) {
                scalars.append(scalar)
                i += length
            } else {
                scalars.append(Unicode.Scalar(escapeBase + UInt32(input[i]))!)
                i += 1
            }
        }
        return String(scalars)
    }

    /// The String form of a C string (an argv entry, a name from readdir).
    public static func string(cString: UnsafePointer<CChar>) -> String {
        string(decoding: UnsafeBufferPointer(start: UnsafeRawPointer(cString).assumingMemoryBound(to: UInt8.self),
                                             count: strlen(cString)))
    }

    /// The bytes a String form stands for: escapes become their byte, everything else UTF-8.
    public static func bytes(of string: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(string.utf8.count)
        for scalar in string.unicodeScalars {
            if isEscape(scalar) {
                out.append(UInt8(scalar.value - escapeBase))
            } else {
                out.append(contentsOf: String(scalar).utf8)
            }
        }
        return out
    }

    /// True when `string` stands for bytes that are not plain UTF-8.
    public static func hasEscapes(_ string: String) -> Bool { string.unicodeScalars.contains(where: isEscape) }

    /// A readable form for messages: each escaped byte shown as `\xFF`.
    public static func display(_ string: String) -> String {
        guard hasEscapes(string) else { return string }
        var out = ""
        for scalar in string.unicodeScalars {
            if isEscape(scalar) {
                let hex = String(scalar.value - escapeBase, radix: 16, uppercase: true)
                out += "\\x" + (hex.count < 2 ? "0" : "") + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// `string` with each escaped byte replaced by U+FFFD, as a UTF-8 decoder repairs: for text
    /// that is not a path (a prompt), where the bytes have no meaning.
    public static func repaired(_ string: String) -> String {
        guard hasEscapes(string) else { return string }
        var out = String.UnicodeScalarView()
        for scalar in string.unicodeScalars { out.append(isEscape(scalar) ? "\u{FFFD}" : scalar) }
        return String(out)
    }

    /// The command line's arguments (without the program name) in String form. Unlike
    /// `CommandLine.arguments`, which replaces invalid UTF-8 with U+FFFD, nothing is lost.
    public static func commandLineArguments() -> [String] {
        (1..<Int(CommandLine.argc)).compactMap { CommandLine.unsafeArgv[$0].map { string(cString: $0) } }
    }

    /// The process's environment in String form: a variable holding a path (VQCLIP_MODELS, HOME)
    /// keeps bytes that are not UTF-8, which ProcessInfo would replace.
    public static func environment() -> [String: String] {
        var variables: [String: String] = [:]
        guard var entry = Optional(environ) else { return variables }
        while let pointer = entry.pointee {
            let bytes = Array(UnsafeBufferPointer(start: UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self), count: strlen(pointer)))
            if let equals = bytes.firstIndex(of: UInt8(ascii: "=")) {
                let name = string(decoding: bytes[..<equals])
                if variables[name] == nil { variables[name] = string(decoding: bytes[(equals + 1)...]) }
            }
            entry += 1
        }
        return variables
    }

    static func isEscape(_ scalar: Unicode.Scalar) -> Bool { scalar.value >= escapeBase }

    /// The scalar encoded by well-formed UTF-8 at `i` (shortest form, no surrogates, at most
    /// U+10FFFF) and its length in bytes, or nil.
    static func validScalar(_ bytes: [UInt8], at i: Int) -> (Unicode.Scalar, Int)? {
        let lead = bytes[i]
        if lead < 0x80 { return (Unicode.Scalar(lead), 1) }
        let length: Int, minimum: UInt32
        var value: UInt32
        switch lead {
        case 0xC2...0xDF: length = 2; minimum = 0x80; value = UInt32(lead & 0x1F)
        case 0xE0...0xEF: length = 3; minimum = 0x800; value = UInt32(lead & 0x0F)
        case 0xF0...0xF4: length = 4; minimum = 0x10000; value = UInt32(lead & 0x07)
        default: return nil
        }
        guard i + length <= bytes.count else { return nil }
        for k in 1..<length {
            let byte = bytes[i + k]
            guard byte & 0xC0 == 0x80 else { return nil }
            value = value << 6 | UInt32(byte & 0x3F)
        }
        guard value >= minimum, let scalar = Unicode.Scalar(value) else { return nil }
        return (scalar, length)
    }
}
