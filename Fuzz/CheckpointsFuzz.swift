// libFuzzer entry point for the checkpoint readers. Compiled by scripts/fuzz.sh together with the
// Checkpoints sources (so internal API is visible), once per target:
//   -D FUZZ_PICKLE       the pickle VM + state-dict discovery + tensor layout validation
//   -D FUZZ_SAFETENSORS  the safetensors header parser + conversions
//   -D FUZZ_CHECKPOINT   format detection, zip central directory, legacy stream, everything
// Not part of the Swift package: never built by `swift build` / `swift test`.

/// Converts every tensor small enough to matter, so out-of-range layouts would be touched.
private func convertAll(_ tensors: [StoredTensor]) {
    for tensor in tensors where tensor.count <= 1 << 20 {
        _ = try? tensor.floats()
        if tensor.dtype.isInteger { _ = try? tensor.int64s() }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func checkpointsFuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let source = ByteSource(copying: Array(UnsafeBufferPointer(start: data, count: size)))
    #if FUZZ_SAFETENSORS
    if let sd = try? SafeTensors.parse(source: source, file: "fuzz") {
        convertAll(Array(sd.tensors.values))
        _ = describe(sd).text()
    }
    #elseif FUZZ_CHECKPOINT
    if let sd = try? loadStateDict(source: source, file: "fuzz") {
        convertAll(Array(sd.tensors.values))
        _ = describe(sd).text()
    }
    #else
    // Every storage is backed by the input bytes themselves, viewed as elements of its dtype.
    _ = try? Unpickler.run(source.bytes, what: "fuzz", persistentLoad: { .storage(try torchStorageRef($0)) }) { root in
        let listing = try TorchStateDict.listing(root: root)
        let tensors = try listing.storedTensors(file: "fuzz") { ref in
            guard let dtype = ref.dtype else { throw FormatError("dtype") }
            let available = source.count / dtype.itemSize
            return StorageBytes(source: source, offset: 0, elementCount: min(ref.count, available),
                                dtype: dtype, bigEndian: ref.key.hasPrefix("b"))
        }
        convertAll(tensors)
    }
    #endif
    return 0
}
