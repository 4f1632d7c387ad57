import Foundation
@testable import Checkpoints

/// Emits protocol-2 pickle opcodes by hand, to build hostile or unusual inputs.
struct PickleWriter {
    var bytes: [UInt8] = [0x80, 0x02]

    mutating func raw(_ b: UInt8...) { bytes += b }
    mutating func ascii(_ s: String) { bytes += Array(s.utf8) }
    mutating func global(_ module: String, _ name: String) { raw(UInt8(ascii: "c")); ascii("\(module)\n\(name)\n") }
    mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        raw(UInt8(ascii: "X"))
        withUnsafeBytes(of: UInt32(utf8.count).littleEndian) { bytes += $0 }
        bytes += utf8
    }
    mutating func int(_ v: Int) {
        if let small = Int32(exactly: v) {
            raw(UInt8(ascii: "J"))
            withUnsafeBytes(of: small.littleEndian) { bytes += $0 }
        } else {
            raw(0x8A, 8)
            withUnsafeBytes(of: Int64(v).littleEndian) { bytes += $0 }
        }
    }
    mutating func mark() { raw(UInt8(ascii: "(")) }
    mutating func tuple() { raw(UInt8(ascii: "t")) }
    mutating func intTuple(_ values: [Int]) { mark(); values.forEach { int($0) }; tuple() }
    mutating func stop() { raw(UInt8(ascii: ".")) }

    /// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())`
    /// with the persistent id `('storage', torch.<type>, key, 'cpu', numel)`.
    mutating func tensor(storageType: String = "FloatStorage", key: String, numel: Int,
                         offset: Int, size: [Int], stride: [Int]) {
        global("torch._utils", "_rebuild_tensor_v2")
        mark()
        mark(); string("storage"); global("torch", storageType); string(key); string("cpu"); int(numel); tuple()
        raw(UInt8(ascii: "Q"))
        int(offset)
        intTuple(size)
        intTuple(stride)
        raw(0x89)
        global("collections", "OrderedDict"); raw(UInt8(ascii: ")"), UInt8(ascii: "R"))
        tuple()
        raw(UInt8(ascii: "R"))
    }

    /// `{name: tensor, …}` as EMPTY_DICT MARK … SETITEMS.
    mutating func tensorDict(_ entries: [(name: String, build: (inout PickleWriter) -> Void)]) {
        raw(UInt8(ascii: "}"))
        mark()
        for entry in entries {
            string(entry.name)
            entry.build(&self)
        }
        raw(UInt8(ascii: "u"))
    }
}

/// The five pickles and storage records of a legacy torch.save stream.
func legacyStream(main: PickleWriter, keys: [String], storages: [(count: Int, bytes: [UInt8])]) -> [UInt8] {
    var out = TorchLegacy.magic
    var version = PickleWriter(); version.int(1001); version.stop()
    var info = PickleWriter(); info.raw(UInt8(ascii: "}")); info.string("little_endian"); info.raw(0x88, UInt8(ascii: "s")); info.stop()
    var list = PickleWriter(); list.raw(UInt8(ascii: "]")); list.mark(); keys.forEach { list.string($0) }; list.raw(UInt8(ascii: "e")); list.stop()
    var main = main
    main.stop()
    out += version.bytes + info.bytes + main.bytes + list.bytes
    for storage in storages {
        withUnsafeBytes(of: Int64(storage.count).littleEndian) { out += $0 }
        out += storage.bytes
    }
    return out
}

/// Little-endian Float32 bytes.
func floatBytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
}

/// A zip archive with stored entries (method may be overridden to fake compression).
func zipArchive(_ entries: [(name: String, data: [UInt8])], method: [String: UInt16] = [:]) -> [UInt8] {
    func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
    func le32(_ v: Int) -> [UInt8] { (0 ..< 4).map { UInt8(v >> (8 * $0) & 0xFF) } }
    var out: [UInt8] = []
    var central: [UInt8] = []
    for entry in entries {
        let name = Array(entry.name.utf8)
        let m = Int(method[entry.name] ?? 0)
        let offset = out.count
        out += [0x50, 0x4B, 0x03, 0x04] + le16(20) + le16(0) + le16(m) + le16(0) + le16(0) + le32(0)
        out += le32(entry.data.count) + le32(entry.data.count) + le16(name.count) + le16(0) + name + entry.data
        central += [0x50, 0x4B, 0x01, 0x02] + le16(20) + le16(20) + le16(0) + le16(m) + le16(0) + le16(0) + le32(0)
        central += le32(entry.data.count) + le32(entry.data.count) + le16(name.count) + le16(0) + le16(0)
        central += le16(0) + le16(0) + le32(0) + le32(offset) + name
    }
    let directoryOffset = out.count
    out += central
    out += [0x50, 0x4B, 0x05, 0x06] + le16(0) + le16(0) + le16(entries.count) + le16(entries.count)
    out += le32(central.count) + le32(directoryOffset) + le16(0)
    return out
}
