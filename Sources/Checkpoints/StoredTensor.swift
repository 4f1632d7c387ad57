// A tensor as it sits in a checkpoint: dtype, shape, strides and offset into a storage region of
// the mapped file. Nothing is converted until floats() / int64s() is called; the layout is
// validated when the value is made, so a hostile header can never make a read leave its storage.

/// Largest number of dimensions accepted (PyTorch allows 64; real weights use ≤ 5).
let maxRank = 32
/// A view may address more elements than its storage holds only through zero strides
/// (`expand`); such broadcast views are capped at this many elements so that a tiny file cannot
/// ask for gigabytes.
let maxBroadcastElements = 1 << 26

/// The number of elements of `shape` after checking rank, signs and overflow.
func elementCount(of shape: [Int], tensor name: String) throws -> Int {
    guard shape.count <= maxRank else { throw FormatError("tensor '\(name)' has \(shape.count) dimensions (limit \(maxRank))") }
    guard shape.allSatisfy({ $0 >= 0 }) else { throw FormatError("tensor '\(name)': negative size in shape \(shape)") }
    var count = 1
    for size in shape {
        let (product, overflow) = count.multipliedReportingOverflow(by: size)
        guard !overflow else { throw FormatError("tensor '\(name)': element count of shape \(shape) overflows") }
        count = product
    }
    return count
}

/// One named tensor in a checkpoint, read lazily from the (memory-mapped) file.
public struct StoredTensor: Sendable {
    /// Full name, e.g. `decoder.conv_in.weight`.
    public internal(set) var name: String
    /// Element type in the file.
    public let dtype: DType
    /// Extent of each dimension, outermost first (`[]` for a scalar).
    public let shape: [Int]
    /// Element strides of each dimension within the storage.
    public let strides: [Int]
    /// Element index of the first element within the storage.
    public let storageOffset: Int
    /// File the tensor lives in (for error messages).
    public let file: String
    let storage: StorageBytes

    /// Number of elements (product of `shape`).
    public let count: Int

    /// Validates the layout against the storage: non-negative sizes and strides, no overflow in
    /// the element count or the highest addressed index, and that index inside the storage.
    init(name: String, shape: [Int], strides: [Int]? = nil, storageOffset: Int = 0,
         storage: StorageBytes, file: String) throws {
        let count = try elementCount(of: shape, tensor: name)
        let strides = strides ?? StoredTensor.contiguousStrides(shape)
        guard strides.count == shape.count else {
            throw FormatError("tensor '\(name)': shape \(shape) and strides \(strides) differ in rank")
        }
        guard strides.allSatisfy({ $0 >= 0 }) else { throw FormatError("tensor '\(name)': negative stride in \(strides)") }
        guard storageOffset >= 0 else { throw FormatError("tensor '\(name)': negative storage offset \(storageOffset)") }
        if count > 0 {
            // Highest element index touched: offset + Σ (size−1)·stride, overflow-checked.
            var last = storageOffset
            for (size, stride) in zip(shape, strides) {
                let (step, o1) = (size - 1).multipliedReportingOverflow(by: stride)
                let (sum, o2) = last.addingReportingOverflow(step)
                guard !o1, !o2 else { throw FormatError("tensor '\(name)': strides \(strides) overflow for shape \(shape)") }
                last = sum
            }
            guard last < storage.elementCount else {
                throw FormatError("tensor '\(name)' (shape \(shape), strides \(strides), offset \(storageOffset)) reaches element \(last) but its storage holds \(storage.elementCount)")
            }
            guard count <= storage.elementCount || count <= maxBroadcastElements else {
                throw FormatError("tensor '\(name)': broadcast view of \(count) elements over a storage of \(storage.elementCount) is too large")
            }
        }
        self.name = name
        self.dtype = storage.dtype
        self.shape = shape
        self.strides = strides
        self.storageOffset = storageOffset
        self.storage = storage
        self.file = file
        self.count = count
    }

    /// The same tensor under another name (e.g. after stripping a `first_stage_model.` prefix).
    public func renamed(_ newName: String) -> StoredTensor {
        var copy = self
        copy.name = newName
        return copy
    }

    /// Row-major strides for `shape`.
    static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in shape.indices.reversed() {
            strides[axis] = running
            running = running &* max(shape[axis], 1)
        }
        return strides
    }

    /// True when the elements are laid out row-major without gaps.
    public var isContiguous: Bool {
        var expected = 1
        for axis in shape.indices.reversed() where shape[axis] != 1 {
            if strides[axis] != expected { return false }
            expected = expected &* shape[axis]
        }
        return true
    }

    /// The elements in row-major order converted to Float32 (float16/bfloat16 exactly; float64
    /// and integers rounded to nearest).
    public func floats() throws -> [Float] {
        if dtype == .float32, !storage.bigEndian, UInt32(1).littleEndian == 1, isContiguous, count > 0 {
            // The common case (f32 weights in a little-endian file): one copy of the bytes.
            let start = storage.source.bytes.baseAddress! + storage.offset + storageOffset * 4
            return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: start, byteCount: count * 4)
                initialized = count
            }
        }
        if (dtype == .float16 || dtype == .bfloat16), !storage.bigEndian, UInt32(1).littleEndian == 1, isContiguous, count > 0 {
            // Released CLIP weights are fp16: a tight loop instead of the generic gather.
            let start = UnsafeRawPointer(storage.source.bytes.baseAddress! + storage.offset + storageOffset * 2)
            let isHalf = dtype == .float16
            return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                for i in 0 ..< count {
                    let bits = start.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
                    buffer[i] = isHalf ? halfToFloat(bits) : Float(bitPattern: UInt32(bits) << 16)
                }
                initialized = count
            }
        }
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { dst in
            gather { index, position in dst[position] = convertFloat(index) }
        }
        return out
    }

    /// The elements in row-major order as Int64; only for integer and boolean dtypes.
    public func int64s() throws -> [Int64] {
        guard dtype.isInteger else {
            throw CheckpointError(file: file, message: "tensor '\(name)' is \(dtype.rawValue), not an integer type")
        }
        var out = [Int64](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { dst in
            gather { index, position in dst[position] = convertInt(index) }
        }
        return out
    }

    /// Calls `body(storageIndex, outputPosition)` for every element in row-major order.
    private func gather(_ body: (Int, Int) -> Void) {
        guard count > 0 else { return }
        if isContiguous {
            for i in 0 ..< count { body(storageOffset + i, i) }
            return
        }
        // Odometer over the dimensions; `index` tracks offset + Σ iⱼ·strideⱼ.
        let rank = shape.count
        var counters = [Int](repeating: 0, count: rank)
        var index = storageOffset
        for position in 0 ..< count {
            body(index, position)
            var axis = rank - 1
            while axis >= 0 {
                counters[axis] += 1
                index += strides[axis]
                if counters[axis] < shape[axis] { break }
                index -= strides[axis] * shape[axis]
                counters[axis] = 0
                axis -= 1
            }
        }
    }

    /// Raw bits of element `index` (validated to lie inside the storage), byte-swapped to native.
    @inline(__always)
    private func bits(_ index: Int) -> UInt64 {
        let size = storage.dtype.itemSize
        let base = storage.source.bytes.baseAddress! + storage.offset + index * size
        switch size {
        case 1: return UInt64(base.load(as: UInt8.self))
        case 2:
            let v = base.loadUnaligned(as: UInt16.self)
            return UInt64(storage.bigEndian ? UInt16(bigEndian: v) : UInt16(littleEndian: v))
        case 4:
            let v = base.loadUnaligned(as: UInt32.self)
            return UInt64(storage.bigEndian ? UInt32(bigEndian: v) : UInt32(littleEndian: v))
        default:
            let v = base.loadUnaligned(as: UInt64.self)
            return storage.bigEndian ? UInt64(bigEndian: v) : UInt64(littleEndian: v)
        }
    }

    @inline(__always)
    private func convertFloat(_ index: Int) -> Float {
        let raw = bits(index)
        switch dtype {
        case .float32: return Float(bitPattern: UInt32(truncatingIfNeeded: raw))
        case .float16: return halfToFloat(UInt16(truncatingIfNeeded: raw))
        case .bfloat16: return Float(bitPattern: UInt32(truncatingIfNeeded: raw) << 16)
        case .float64: return Float(Double(bitPattern: raw))
        case .int64: return Float(Int64(bitPattern: raw))
        case .int32: return Float(Int32(truncatingIfNeeded: raw))
        case .int16: return Float(Int16(truncatingIfNeeded: raw))
        case .int8: return Float(Int8(truncatingIfNeeded: raw))
        case .uint8: return Float(UInt8(truncatingIfNeeded: raw))
        case .bool: return raw != 0 ? 1 : 0
        }
    }

    @inline(__always)
    private func convertInt(_ index: Int) -> Int64 {
        let raw = bits(index)
        switch dtype {
        case .int64: return Int64(bitPattern: raw)
        case .int32: return Int64(Int32(truncatingIfNeeded: raw))
        case .int16: return Int64(Int16(truncatingIfNeeded: raw))
        case .int8: return Int64(Int8(truncatingIfNeeded: raw))
        case .uint8: return Int64(UInt8(truncatingIfNeeded: raw))
        case .bool: return raw != 0 ? 1 : 0
        default: return 0
        }
    }
}

/// IEEE binary16 → binary32, exact (subnormals, infinities and NaN payloads included).
@inline(__always)
func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = UInt32(h >> 10) & 0x1F
    var mantissa = UInt32(h & 0x3FF)
    if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
    if exponent != 0 { return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13)) }
    if mantissa == 0 { return Float(bitPattern: sign) }
    // Subnormal half: normalise the mantissa into a float32 normal number.
    var e: UInt32 = 113
    while mantissa & 0x400 == 0 {
        mantissa <<= 1
        e -= 1
    }
    return Float(bitPattern: sign | (e << 23) | ((mantissa & 0x3FF) << 13))
}

/// binary32 → IEEE binary16, rounded to nearest even; overflow becomes infinity, NaN stays NaN.
func floatToHalf(_ f: Float) -> UInt16 {
    let x = f.bitPattern
    let sign = UInt16((x >> 16) & 0x8000)
    let exponent = Int((x >> 23) & 0xFF), mantissa = x & 0x7F_FFFF
    if exponent == 0xFF { return sign | 0x7C00 | (mantissa != 0 ? 0x200 : 0) }
    let e = exponent - 127 + 15
    if e >= 0x1F { return sign | 0x7C00 }
    if e <= 0 {
        // Subnormal half (or zero): shift the full mantissa down, rounding to nearest even.
        guard e >= -10 else { return sign }
        let full = mantissa | 0x80_0000
        let shift = UInt32(14 - e)
        var m = full >> shift
        let rest = full & ((1 << shift) - 1), halfway = UInt32(1) << (shift - 1)
        if rest > halfway || (rest == halfway && m & 1 == 1) { m += 1 }
        return sign | UInt16(m)
    }
    var h = UInt32(e) << 10 | (mantissa >> 13)
    let rest = mantissa & 0x1FFF
    // A carry out of the mantissa correctly moves into the exponent (up to infinity).
    if rest > 0x1000 || (rest == 0x1000 && h & 1 == 1) { h += 1 }
    return sign | UInt16(h)
}
