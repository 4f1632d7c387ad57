// torch.save (≥ 1.6) and torch.jit.save archives: a zip whose entries all live under one top
// directory — `data.pkl` (the pickled object), `data/<key>` (one raw storage each) and, for
// TorchScript, `code/` and `constants.pkl`. The top directory name varies (`archive`, the file's
// stem, `ViT-B-32`), so it is taken from the first entry, as PyTorch does.

enum TorchZip {
    static func load(source: ByteSource, file: String) throws -> StateDict {
        let zip = try ZipArchive(source: source)
        guard let first = zip.entries.first, let slash = first.name.firstIndex(of: "/") else {
            throw FormatError("zip archive is not a PyTorch checkpoint (no top-level directory)")
        }
        let top = String(first.name[..<slash])
        guard let pickle = try zip.storedEntry(top + "/data.pkl") else {
            throw FormatError("zip archive is not a PyTorch checkpoint (no \(top)/data.pkl)")
        }
        var bigEndian = false
        if let order = try zip.storedEntry(top + "/byteorder") {
            let text = String(decoding: try source.slice(order.dataOffset, order.size, "byteorder entry"), as: UTF8.self)
            switch text.trimmingSuffix("\n") {
            case "little": bigEndian = false
            case "big": bigEndian = true
            default: throw FormatError("unknown byte order '\(text.prefix(16))'")
            }
        }
        let isScript = zip.entry(top + "/constants.pkl") != nil
            || zip.entries.contains { $0.name.hasPrefix(top + "/code/") }

        let pickleBytes = try source.slice(pickle.dataOffset, pickle.size, "data.pkl")
        let listing = try Unpickler.run(pickleBytes, what: "\(top)/data.pkl",
                                        persistentLoad: { .storage(try torchStorageRef($0)) },
                                        body: TorchStateDict.listing).result

        let tensors = try listing.storedTensors(file: file) { ref in
            let name = top + "/data/" + ref.key
            guard let entry = try zip.storedEntry(name), let dtype = ref.dtype else {
                throw FormatError("storage entry \(name) is missing")
            }
            let (bytes, overflow) = ref.count.multipliedReportingOverflow(by: dtype.itemSize)
            guard !overflow, bytes == entry.size else {
                throw FormatError("storage entry \(name) has \(entry.size) bytes but \(ref.count) \(dtype.rawValue) elements need \(overflow ? "more" : String(bytes))")
            }
            return StorageBytes(source: source, offset: entry.dataOffset, elementCount: ref.count,
                                dtype: dtype, bigEndian: bigEndian)
        }
        var metadata = listing.metadata
        if listing.skipped > 0 { metadata["skipped_entries"] = String(listing.skipped) }
        return StateDict(tensors: tensors, format: isScript ? .torchScript : .torchZip,
                         metadata: metadata, source: file)
    }
}
