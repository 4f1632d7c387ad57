// The zip container of torch.save / torch.jit.save archives. PyTorch writes every entry STORED
// (uncompressed), 64-byte aligned, with data descriptors (local headers carry zero sizes) and a
// ZIP64 end record; sizes and offsets are therefore taken from the central directory only, and
// entries are handed out as byte ranges of the mapped file, never copied.

/// One stored entry: where its bytes are in the file.
struct ZipEntry {
    let name: String
    /// File offset of the first data byte.
    let dataOffset: Int
    /// Bytes in the file (equal to the content size for stored entries).
    let size: Int
    /// 0 = stored. TorchScript archives deflate their `code/` sources, which are never read.
    let method: Int
}

/// The central directory of a zip file whose entries are uncompressed.
struct ZipArchive {
    /// Entries in central-directory order.
    let entries: [ZipEntry]
    private let index: [String: Int]

    /// Largest number of central-directory entries accepted (PyTorch archives hold a few thousand).
    static let maxEntries = 1_000_000

    init(source: ByteSource) throws {
        let bytes = source.bytes
        guard bytes.count >= 22 else { throw FormatError("zip archive truncated: \(bytes.count) bytes is shorter than an end record") }

        // The end-of-central-directory record is within the last 22 + 65535 (comment) bytes.
        var eocd = -1
        var candidate = bytes.count - 22
        let lowest = max(0, bytes.count - 22 - 65_535)
        while candidate >= lowest {
            if bytes[candidate] == 0x50, bytes[candidate + 1] == 0x4B, bytes[candidate + 2] == 0x05, bytes[candidate + 3] == 0x06 {
                eocd = candidate
                break
            }
            candidate -= 1
        }
        guard eocd >= 0 else { throw FormatError("zip archive truncated or damaged: no end-of-central-directory record") }

        var reader = ByteReader(bytes, at: eocd + 10, what: "zip end record")
        var entryCount = try reader.u16()
        var directorySize = try reader.u32()
        var directoryOffset = try reader.u32()

        // ZIP64: a locator sits just before the classic record and points at the ZIP64 record.
        if eocd >= 20, bytes[eocd - 20] == 0x50, bytes[eocd - 19] == 0x4B, bytes[eocd - 18] == 0x06, bytes[eocd - 17] == 0x07 {
            var locator = ByteReader(bytes, at: eocd - 12, what: "zip64 locator")
            let recordOffset = try locator.u64()
            var record = ByteReader(bytes, at: 0, what: "zip64 end record")
            guard recordOffset <= bytes.count - 56 else { throw FormatError("zip64 end record offset \(recordOffset) outside the file") }
            record.position = recordOffset
            guard try record.uint(4) == 0x0606_4B50 else { throw FormatError("zip64 end record signature missing at offset \(recordOffset)") }
            record.position = recordOffset + 32
            entryCount = try record.u64()
            directorySize = try record.u64()
            directoryOffset = try record.u64()
        }
        guard directoryOffset <= bytes.count, directorySize <= bytes.count - directoryOffset else {
            throw FormatError("zip central directory (offset \(directoryOffset), \(directorySize) bytes) lies outside the file")
        }
        guard entryCount <= Self.maxEntries, entryCount <= directorySize / 46 + 1 else {
            throw FormatError("zip archive claims \(entryCount) entries in a \(directorySize)-byte directory")
        }

        var entries: [ZipEntry] = []
        entries.reserveCapacity(entryCount)
        var index: [String: Int] = [:]
        var cd = ByteReader(UnsafeRawBufferPointer(rebasing: bytes[directoryOffset ..< directoryOffset + directorySize]),
                            what: "zip central directory")
        for _ in 0 ..< entryCount {
            guard try cd.uint(4) == 0x0201_4B50 else { throw FormatError("zip central directory damaged at offset \(directoryOffset + cd.position - 4)") }
            cd.position += 6
            let method = try cd.u16()
            cd.position += 8
            var compressedSize = try cd.u32()
            var size = try cd.u32()
            let nameLength = try cd.u16()
            let extraLength = try cd.u16()
            let commentLength = try cd.u16()
            cd.position += 8
            var localOffset = try cd.u32()
            let name = String(decoding: try cd.bytes(nameLength), as: UTF8.self)
            var extra = ByteReader(try cd.bytes(extraLength), what: "zip extra field")
            _ = try cd.bytes(commentLength)
            // ZIP64 extended information replaces the fields stored as 0xFFFFFFFF, in this order.
            while extra.remaining >= 4 {
                let id = try extra.u16()
                let length = try extra.u16()
                var field = ByteReader(try extra.bytes(length), what: "zip64 extra field")
                guard id == 0x0001 else { continue }
                if size == 0xFFFF_FFFF { size = try field.u64() }
                if compressedSize == 0xFFFF_FFFF { compressedSize = try field.u64() }
                if localOffset == 0xFFFF_FFFF { localOffset = try field.u64() }
            }
            if name.hasSuffix("/") { continue }
            guard method != 0 || compressedSize == size else {
                throw FormatError("zip entry '\(name)' has inconsistent sizes \(compressedSize) and \(size)")
            }

            // The data follows the local header, whose name and extra lengths may differ from the central ones.
            guard localOffset <= bytes.count - 30 else { throw FormatError("zip entry '\(name)' local header offset \(localOffset) outside the file") }
            var local = ByteReader(bytes, at: localOffset, what: "zip local header")
            guard try local.uint(4) == 0x0403_4B50 else { throw FormatError("zip entry '\(name)': no local header at offset \(localOffset)") }
            local.position = localOffset + 26
            let dataOffset = localOffset + 30 + (try local.u16()) + (try local.u16())
            guard dataOffset <= bytes.count, compressedSize <= bytes.count - dataOffset else {
                throw FormatError("zip entry '\(name)' (\(compressedSize) bytes at offset \(dataOffset)) runs past the end of the file (\(bytes.count) bytes); the file is truncated")
            }
            index[name] = entries.count
            entries.append(ZipEntry(name: name, dataOffset: dataOffset, size: compressedSize, method: method))
        }
        self.entries = entries
        self.index = index
    }

    func entry(_ name: String) -> ZipEntry? { index[name].map { entries[$0] } }

    /// The entry called `name` if present; throws when it is compressed, since its bytes are
    /// used in place.
    func storedEntry(_ name: String) throws -> ZipEntry? {
        guard let entry = entry(name) else { return nil }
        guard entry.method == 0 else {
            throw FormatError("zip entry '\(name)' is compressed (method \(entry.method)); only stored entries are supported, as torch.save writes them")
        }
        return entry
    }
}
