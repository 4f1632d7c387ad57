import Foundation
import Testing
@testable import Checkpoints

/// Writes `bytes` to a temporary `.ckpt` and expects loading it to fail with a one-line
/// CheckpointError naming the file and containing `fragment`.
func expectLoadFails(_ bytes: [UInt8], _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let url = try writeTemporary(bytes, name: "hostile.ckpt")
    expectCheckpointError(url, contains: fragment, { _ = try loadStateDict(contentsOf: url) }, sourceLocation: sourceLocation)
}

/// A one-tensor legacy file whose tensor is described by `build`, with `storageFloats` elements.
func legacyOneTensor(storageFloats: Int = 4, storageType: String = "FloatStorage",
                     offset: Int = 0, size: [Int] = [4], stride: [Int] = [1]) -> [UInt8] {
    var main = PickleWriter()
    main.tensorDict([("w", { $0.tensor(storageType: storageType, key: "0", numel: storageFloats, offset: offset, size: size, stride: stride) })])
    return legacyStream(main: main, keys: ["0"],
                        storages: [(storageFloats, floatBytes((0 ..< storageFloats).map(Float.init)))])
}

@Suite struct BadInputTests {
    @Test func handBuiltLegacyFileLoads() throws {
        let url = try writeTemporary(legacyOneTensor(storageFloats: 6, offset: 1, size: [2, 2], stride: [1, 2]), name: "ok.ckpt")
        let sd = try loadStateDict(contentsOf: url)
        #expect(sd.format == .torchLegacy)
        #expect(try sd.tensor("w").floats() == [1, 3, 2, 4])
    }

    @Test func layoutsOutsideTheStorage() throws {
        try expectLoadFails(legacyOneTensor(offset: 2), "reaches element 5 but its storage holds 4")
        try expectLoadFails(legacyOneTensor(size: [2, 3], stride: [3, 1]), "reaches element 5")
        try expectLoadFails(legacyOneTensor(size: [1 << 62, 4], stride: [4, 1]), "overflows")
        try expectLoadFails(legacyOneTensor(size: [1 << 40], stride: [0]), "broadcast view")
        try expectLoadFails(legacyOneTensor(size: [3], stride: [1 << 62]), "overflow")
        try expectLoadFails(legacyOneTensor(size: [-1], stride: [1]), "negative size")
        try expectLoadFails(legacyOneTensor(size: [2], stride: [-1]), "negative stride")
        try expectLoadFails(legacyOneTensor(offset: -1), "negative storage offset")
        try expectLoadFails(legacyOneTensor(size: [1, 1], stride: [1]), "tensor with 2 sizes and 1 strides")
        try expectLoadFails(legacyOneTensor(size: [Int](repeating: 1, count: 40), stride: [Int](repeating: 1, count: 40)), "40 sizes")
        var complex = PickleWriter()
        complex.tensorDict([("z", { $0.tensor(storageType: "ComplexFloatStorage", key: "0", numel: 2, offset: 0, size: [2], stride: [1]) })])
        try expectLoadFails(legacyStream(main: complex, keys: ["0"], storages: [(2, floatBytes([1, 2, 3, 4]))]),
                            "tensor 'z' uses unsupported storage type torch.ComplexFloatStorage")
    }

    @Test func storageRecordsPastTheEnd() throws {
        var main = PickleWriter()
        main.tensorDict([("w", { $0.tensor(key: "0", numel: 4, offset: 0, size: [4], stride: [1]) })])
        try expectLoadFails(legacyStream(main: main, keys: ["0"], storages: [(1 << 40, floatBytes([1, 2]))]), "runs past the end")
        try expectLoadFails(legacyStream(main: main, keys: ["0"], storages: [(2, floatBytes([1, 2]))]), "fewer than its view needs")
        // The same key named again with a wider element type must not read past the root storage.
        var wider = PickleWriter()
        wider.tensorDict([("a", { $0.tensor(storageType: "ByteStorage", key: "0", numel: 4, offset: 0, size: [4], stride: [1]) }),
                          ("b", { $0.tensor(storageType: "DoubleStorage", key: "0", numel: 4, offset: 0, size: [4], stride: [1]) })])
        try expectLoadFails(legacyStream(main: wider, keys: ["0"], storages: [(4, [1, 2, 3, 4])]), "holds 4 bytes, fewer than its view needs")
        try expectLoadFails(legacyStream(main: main, keys: ["0", "9"], storages: [(4, floatBytes([1, 2, 3, 4]))]), "listed but never used")
        try expectLoadFails(legacyStream(main: main, keys: [], storages: []), "missing from the file")
        try expectLoadFails(Array(legacyStream(main: main, keys: ["0"], storages: [(4, floatBytes([1, 2, 3, 4]))]).dropLast(20)), "")
    }

    @Test func malformedPickles() throws {
        func legacy(_ body: (inout PickleWriter) -> Void) -> [UInt8] {
            var main = PickleWriter()
            body(&main)
            return legacyStream(main: main, keys: [], storages: [])
        }
        try expectLoadFails(legacy { $0.raw(UInt8(ascii: "h"), 5) }, "memo index 5 not defined")
        try expectLoadFails(legacy { $0.raw(0xFF) }, "unknown opcode 0xff")
        try expectLoadFails(legacy { $0.raw(UInt8(ascii: "R")) }, "stack underflow")
        try expectLoadFails(legacy { $0.raw(UInt8(ascii: "X"), 0xF0, 0xFF, 0xFF, 0xFF) }, "truncated")
        try expectLoadFails(legacy { $0.raw(0x8D, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F) }, "truncated")
        try expectLoadFails(legacy { $0.raw(0x8B, 0xFF, 0xFF, 0xFF, 0xFF) }, "negative LONG4")
        try expectLoadFails(legacy { $0.raw(0x80, 9) }, "unsupported pickle protocol 9")
        try expectLoadFails(legacy { $0.raw(UInt8(ascii: "N"), UInt8(ascii: "N")) }, "STOP with 2 values")
        try expectLoadFails(legacy { $0.raw(UInt8(ascii: "("), UInt8(ascii: "N")) }, "STOP inside an open MARK")
        try expectLoadFails(legacy { $0.raw(UInt8(ascii: "N"), UInt8(ascii: "a")) }, "stack underflow")
        try expectLoadFails(legacy { $0.raw(UInt8(ascii: "K"), 1, UInt8(ascii: "N"), UInt8(ascii: "a")) }, "APPEND to int")
        try expectLoadFails(legacy { $0.raw(0x82, 1) }, "extension registry")
        try expectLoadFails(legacy { for _ in 0 ..< 100_001 { $0.mark() } }, "too many nested MARKs")
        // A persistent id that is not a storage tuple.
        try expectLoadFails(legacy { $0.string("hi"); $0.raw(UInt8(ascii: "Q")) }, "unexpected persistent id")
        // Bad magic inside a pickle stream.
        try expectLoadFails([0x80, 0x02, 0x4B, 0x01, 0x2E], "legacy magic number missing")
    }

    @Test func deepNestingIsReleasedWithoutRecursion() throws {
        let depth = 100_000
        // Lists nested by APPEND, tuples nested by TUPLE1, dicts nested by SETITEM.
        var lists = PickleWriter()
        for _ in 0 ..< depth { lists.raw(UInt8(ascii: "]")) }
        for _ in 1 ..< depth { lists.raw(UInt8(ascii: "a")) }
        try expectLoadFails(legacyStream(main: lists, keys: [], storages: []), "no tensors found (the pickle holds list)")

        var tuples = PickleWriter()
        tuples.raw(UInt8(ascii: ")"))
        for _ in 0 ..< depth { tuples.raw(0x85) }
        try expectLoadFails(legacyStream(main: tuples, keys: [], storages: []), "no tensors found (the pickle holds tuple)")

        var dicts = PickleWriter()
        for _ in 0 ..< depth { dicts.raw(UInt8(ascii: "}")) }
        for _ in 1 ..< depth { dicts.raw(UInt8(ascii: "K"), 1, 0x86, UInt8(ascii: "0")) } // filler ops
        dicts.raw(UInt8(ascii: "}"))
        var nested = PickleWriter()
        nested.raw(UInt8(ascii: "}"))
        for _ in 0 ..< depth { nested.string("k"); nested.raw(UInt8(ascii: "}")) }
        for _ in 0 ..< depth { nested.raw(UInt8(ascii: "s")) }
        try expectLoadFails(legacyStream(main: nested, keys: [], storages: []), "no tensors found")

        // Objects whose BUILD state nests further objects: the module walk is depth-limited.
        var objects = PickleWriter()
        objects.global("__torch__", "M"); objects.raw(UInt8(ascii: "q"), 0, UInt8(ascii: ")"), 0x81)
        for _ in 0 ..< 2_000 {
            objects.raw(UInt8(ascii: "}")); objects.string("child")
            objects.raw(UInt8(ascii: "h"), 0, UInt8(ascii: ")"), 0x81)
        }
        for _ in 0 ..< 2_000 { objects.raw(UInt8(ascii: "s"), UInt8(ascii: "b")) }
        try expectLoadFails(legacyStream(main: objects, keys: [], storages: []), "no tensors found (the pickle holds object __torch__.M)")
    }

    @Test func workLimitStopsQuadraticPickles() throws {
        var p = PickleWriter()
        p.global("collections", "OrderedDict"); p.raw(UInt8(ascii: "q"), 1)
        p.raw(UInt8(ascii: "]"), UInt8(ascii: "("))
        for _ in 0 ..< 10_000 { p.raw(UInt8(ascii: "K"), 1, UInt8(ascii: "K"), 2, 0x86) }
        p.raw(UInt8(ascii: "e"), 0x85, UInt8(ascii: "q"), 2, UInt8(ascii: "0"))
        for _ in 0 ..< 20_000 { p.raw(UInt8(ascii: "h"), 1, UInt8(ascii: "h"), 2, UInt8(ascii: "R"), UInt8(ascii: "0")) }
        p.raw(UInt8(ascii: "N"))
        try expectLoadFails(legacyStream(main: p, keys: [], storages: []), "work limit")
    }

    @Test func zipContainerDamage() throws {
        var pickle = PickleWriter()
        pickle.tensorDict([("w", { $0.tensor(key: "0", numel: 4, offset: 0, size: [4], stride: [1]) })])
        pickle.stop()
        let good = zipArchive([("archive/data.pkl", pickle.bytes), ("archive/data/0", floatBytes([1, 2, 3, 4]))])
        let url = try writeTemporary(good, name: "good.ckpt")
        #expect(try loadStateDict(contentsOf: url)["w"]?.floats() == [1, 2, 3, 4])

        try expectLoadFails(zipArchive([("archive/data.pkl", pickle.bytes)]), "storage entry archive/data/0 is missing")
        try expectLoadFails(zipArchive([("archive/data.pkl", pickle.bytes), ("archive/data/0", floatBytes([1, 2]))]),
                            "has 8 bytes but 4 float32 elements need 16")
        try expectLoadFails(zipArchive([("archive/data/0", floatBytes([1]))]), "no archive/data.pkl")
        try expectLoadFails(zipArchive([("data.pkl", pickle.bytes)]), "no top-level directory")
        try expectLoadFails(zipArchive([("archive/data.pkl", pickle.bytes)], method: ["archive/data.pkl": 8]), "compressed (method 8)")
        try expectLoadFails(Array(good.dropLast(30)), "no end-of-central-directory")
        // Cut out the middle: the end record survives but points past the data.
        try expectLoadFails(Array(good.prefix(40)) + Array(good.suffix(120)), "")
        var wrongMagic = good
        wrongMagic[0] = 0x51
        try expectLoadFails(wrongMagic, "unrecognized magic")
        // Central directory offset beyond the file.
        var badOffset = good
        badOffset[badOffset.count - 6] = 0xFF
        badOffset[badOffset.count - 5] = 0xFF
        try expectLoadFails(badOffset, "outside the file")
    }

    /// Truncations and single-byte flips of every fixture either load (and then convert without
    /// touching memory outside the file) or throw; nothing may crash.
    @Test(arguments: ["views.pt", "views_legacy.pt", "views_p4.pt", "clip_tiny.pt", "vqgan_tiny_legacy.ckpt",
                      "module.pt", "dtypes.safetensors", "evil_in_dict.pt", "extras_p1.pt"])
    func truncationsAndBitFlipsNeverCrash(_ name: String) throws {
        let original = try [UInt8](Data(contentsOf: fixture(name)))
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 33)
        }
        var loaded = 0, failed = 0
        func attempt(_ bytes: [UInt8]) {
            do {
                let sd = try loadStateDict(source: ByteSource(copying: bytes), file: name)
                for tensor in sd.tensors.values where tensor.count < 1 << 22 {
                    _ = try tensor.floats()
                    if tensor.dtype.isInteger { _ = try tensor.int64s() }
                }
                loaded += 1
            } catch is FormatError {
                failed += 1
            } catch is CheckpointError {
                failed += 1
            } catch {
                Issue.record("unexpected error type \(error)")
            }
        }
        for i in 0 ..< 200 { attempt(Array(original.prefix(original.count * i / 200))) }
        for _ in 0 ..< 400 {
            var mutated = original
            let position = next() % mutated.count
            mutated[position] ^= UInt8(1 << (next() % 8))
            attempt(mutated)
        }
        #expect(failed >= 200)  // every truncation fails
        #expect(loaded + failed == 600)
    }
}
