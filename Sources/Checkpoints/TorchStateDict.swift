// Finding the weights in an unpickled torch.save object: a Lightning checkpoint's `state_dict`,
// a plain name → tensor dict, a dict wrapping one (`model`, `module`), or a module object graph
// (TorchScript archive, pickled nn.Module). Shared by the zip and legacy containers.

/// Named tensor views found in a pickle, before their storages are located in the file.
struct TensorListing {
    var entries: [(name: String, tensor: TensorRef)] = []
    private var positions: [String: Int] = [:]
    var metadata: [String: String] = [:]
    /// Entries that were not tensors (None, ints, unknown objects) and were left out.
    var skipped = 0

    /// Adds or (Python dict semantics) replaces the tensor called `name`.
    mutating func add(_ name: String, _ tensor: TensorRef) {
        if let position = positions[name] {
            entries[position].tensor = tensor
        } else {
            positions[name] = entries.count
            entries.append((name, tensor))
        }
    }

    /// Resolves every storage and validates every layout.
    func storedTensors(file: String, resolve: (StorageRef) throws -> StorageBytes) throws -> [StoredTensor] {
        try entries.map { entry in
            let ref = entry.tensor
            guard ref.storage.dtype != nil else {
                throw FormatError("tensor '\(entry.name)' uses unsupported storage type \(ref.storage.typeName)")
            }
            let storage: StorageBytes
            do {
                storage = try resolve(ref.storage)
            } catch let error as FormatError {
                throw FormatError("tensor '\(entry.name)': \(error.message)")
            }
            return try StoredTensor(name: entry.name, shape: ref.shape, strides: ref.strides,
                                    storageOffset: ref.offset, storage: storage, file: file)
        }
    }
}

enum TorchStateDict {
    /// Nested plain dicts of tensors are flattened with "." up to this depth.
    static let maxDictDepth = 16
    /// Keys that commonly wrap a state dict when there is no `state_dict` key.
    static let wrapperKeys = ["state_dict", "model", "module", "model_state_dict", "params"]

    /// Lists the tensors of an unpickled root object.
    static func listing(root: PyValue) throws -> TensorListing {
        var listing = TensorListing()
        switch root {
        case .dict(let dict):
            if case .string(let version)? = dict["pytorch-lightning_version"] { listing.metadata["pytorch-lightning_version"] = version }
            for key in ["epoch", "global_step"] {
                if let value = dict[key]?.int { listing.metadata[key] = String(value) }
            }
            if dict["optimizer_states"] != nil || dict["pytorch-lightning_version"] != nil {
                listing.metadata["lightning"] = "true"
            }
            for key in wrapperKeys {
                switch dict[key] {
                case .dict(let inner)?:
                    listing.metadata["state_dict_key"] = key
                    addDict(inner, prefix: "", depth: 0, to: &listing)
                    return try nonEmpty(listing, root: root)
                case .object(let object)?:
                    listing.metadata["state_dict_key"] = key
                    TorchScript.walk(object, into: &listing)
                    return try nonEmpty(listing, root: root)
                default: continue
                }
            }
            addDict(dict, prefix: "", depth: 0, to: &listing)
        case .object(let object):
            TorchScript.walk(object, into: &listing)
        case .tensor(let tensor):
            listing.add("tensor", tensor)
        default:
            break
        }
        return try nonEmpty(listing, root: root)
    }

    private static func nonEmpty(_ listing: TensorListing, root: PyValue) throws -> TensorListing {
        guard listing.entries.isEmpty else { return listing }
        if case .dict(let dict) = root {
            let keys = dict.entries.prefix(12).map { $0.key.string ?? $0.key.kind }
            throw FormatError("no tensors found (top-level keys: \(keys.joined(separator: ", ")))")
        }
        throw FormatError("no tensors found (the pickle holds \(root.kind))")
    }

    /// Adds the tensors of a name → value dict; nested dicts become dotted names.
    static func addDict(_ dict: PyDict, prefix: String, depth: Int, to listing: inout TensorListing) {
        for (key, value) in dict.entries {
            guard let name = key.string ?? key.int.map(String.init) else { listing.skipped += 1; continue }
            switch value {
            case .tensor(let tensor): listing.add(prefix + name, tensor)
            case .dict(let inner) where depth < maxDictDepth:
                addDict(inner, prefix: prefix + name + ".", depth: depth + 1, to: &listing)
            default: listing.skipped += 1
            }
        }
    }
}
