// The pre-1.6 torch.save stream (`_use_new_zipfile_serialization=False`; PyTorch Lightning 1.0.x
// forced it under torch 1.6.0). Five pickles back to back — magic number, protocol version
// (1001), system info, the object itself, the list of storage keys — followed by each storage in
// that list order as an int64 element count and the raw elements.

enum TorchLegacy {
    /// `pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2)`.
    static let magic: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]

    /// Bytes per element of storage types the reader skips but cannot convert.
    static let otherItemSizes: [String: Int] = [
        "ComplexFloatStorage": 8, "ComplexDoubleStorage": 16, "QInt8Storage": 1, "QUInt8Storage": 1,
        "QInt32Storage": 4, "QUInt4x2Storage": 1, "QUInt2x4Storage": 1,
    ]

    static func load(source: ByteSource, file: String) throws -> StateDict {
        let bytes = source.bytes
        guard bytes.count >= magic.count, bytes.prefix(magic.count).elementsEqual(magic) else {
            throw FormatError("pickle stream is not a torch.save file (legacy magic number missing)")
        }
        var offset = magic.count
        let (version, afterVersion) = try Unpickler.run(bytes, at: offset, what: "legacy protocol version") { $0.int }
        guard version == 1001 else { throw FormatError("unsupported legacy torch.save protocol \(version.map(String.init) ?? "?")") }
        offset = afterVersion
        let (littleEndian, afterInfo) = try Unpickler.run(bytes, at: offset, what: "legacy system info") { info -> Bool in
            guard case .dict(let dict) = info else { return true }
            if case .bool(let little)? = dict["little_endian"] { return little }
            return true
        }
        offset = afterInfo

        // Root storages by key, as announced by the persistent ids of the main pickle.
        final class Roots { var byKey: [String: StorageRef] = [:] }
        let roots = Roots()
        let (listing, afterMain) = try Unpickler.run(bytes, at: offset, what: "legacy data pickle", persistentLoad: { pid in
            let ref = try torchStorageRef(pid)
            if roots.byKey[ref.key] == nil {
                let numel = pid.sequence?[4].int ?? ref.count
                roots.byKey[ref.key] = StorageRef(key: ref.key, typeName: ref.typeName, dtype: ref.dtype, count: numel)
            }
            return .storage(ref)
        }, body: TorchStateDict.listing)
        offset = afterMain
        let (keys, afterKeys) = try Unpickler.run(bytes, at: offset, what: "legacy storage key list") { list -> [String]? in
            list.sequence?.compactMap { $0.string }
        }
        guard let keys else { throw FormatError("legacy storage key list is not a list of strings") }
        offset = afterKeys

        // Locate each storage: int64 LE element count, then the elements.
        var located: [String: (offset: Int, byteCount: Int)] = [:]
        var reader = ByteReader(bytes, at: offset, what: "legacy storage data")
        for key in keys {
            guard let root = roots.byKey[key] else { throw FormatError("storage '\(key)' is listed but never used") }
            let typeName = String(root.typeName.split(separator: ".").last ?? "")
            guard let itemSize = root.dtype?.itemSize ?? otherItemSizes[typeName] else {
                throw FormatError("storage '\(key)' has unknown type \(root.typeName)")
            }
            let count = try reader.u64()
            let (length, overflow) = count.multipliedReportingOverflow(by: itemSize)
            guard !overflow, length <= reader.remaining else {
                throw FormatError("storage '\(key)' of \(count) elements runs past the end of the file; the file is truncated")
            }
            located[key] = (reader.position, length)
            reader.position += length
        }

        let tensors = try listing.storedTensors(file: file) { ref in
            guard let place = located[ref.key], let dtype = ref.dtype else {
                throw FormatError("storage '\(ref.key)' is missing from the file")
            }
            // Byte arithmetic: a view may name the root storage with another element type.
            let (start, o1) = ref.viewOffset.multipliedReportingOverflow(by: dtype.itemSize)
            let (length, o2) = ref.count.multipliedReportingOverflow(by: dtype.itemSize)
            guard !o1, !o2, start <= place.byteCount, length <= place.byteCount - start else {
                throw FormatError("storage '\(ref.key)' holds \(place.byteCount) bytes, fewer than its view needs")
            }
            return StorageBytes(source: source, offset: place.offset + start,
                                elementCount: ref.count, dtype: dtype, bigEndian: !littleEndian)
        }
        var metadata = listing.metadata
        if listing.skipped > 0 { metadata["skipped_entries"] = String(listing.skipped) }
        return StateDict(tensors: tensors, format: .torchLegacy, metadata: metadata, source: file)
    }
}
