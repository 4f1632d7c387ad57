// A pickle virtual machine (protocols 0–5) that builds an inert object graph. Nothing is ever
// imported or executed: a handful of globals PyTorch needs (tensor rebuild functions, storage
// types, OrderedDict) are interpreted by name; every other global becomes a placeholder object
// that just records its arguments and state, so unknown classes (Lightning callbacks, optimizer
// schedulers, `os.system`) never stop a load and never run.
//
// Memory safety: every read is bounds-checked; the stack, memo and containers only ever hold what
// the input itself spelled out; container values are reference types registered in an arena that
// is flattened before release, so deep nesting cannot overflow the stack on deallocation; a work
// budget bounds the opcodes whose cost is not proportional to their own bytes.

/// A mutable Python list (also used for sets).
final class PyList {
    var items: [PyValue] = []
    init(_ items: [PyValue] = []) { self.items = items }
}

/// An immutable Python tuple (a class so that nesting depth never reaches value-type recursion).
final class PyTuple {
    var items: [PyValue]
    init(_ items: [PyValue]) { self.items = items }
}

/// A Python dict (or OrderedDict): entries in insertion order. Keys may be any pickle value, so
/// lookups compare by value only for strings and integers (all the readers ever need).
final class PyDict {
    var entries: [(key: PyValue, value: PyValue)] = []

    /// The last value stored under the string `key` (Python semantics: later SETITEMs win).
    subscript(key: String) -> PyValue? {
        for entry in entries.reversed() {
            if case .string(let k) = entry.key, k == key { return entry.value }
        }
        return nil
    }
}

/// A placeholder for an instance of any class the reader does not interpret.
final class PyObject {
    let module: String
    let name: String
    var args: [PyValue]
    /// The BUILD state (for nn.Module and TorchScript objects, a dict of attributes).
    var state: PyValue?

    init(module: String, name: String, args: [PyValue]) {
        self.module = module
        self.name = name
        self.args = args
    }

    var qualifiedName: String { module.isEmpty ? name : "\(module).\(name)" }
}

/// A reference to a PyTorch storage, as produced by a persistent id.
final class StorageRef {
    /// Storage key (zip: name under `data/`; legacy: the root key).
    let key: String
    /// The storage type global, e.g. `torch.HalfStorage`.
    let typeName: String
    /// Element type, nil for storage types this reader does not support (complex, quantized).
    let dtype: DType?
    /// Elements in this storage (or view of a root storage).
    let count: Int
    /// Legacy-format views: element offset into the root storage `key`.
    let viewOffset: Int

    init(key: String, typeName: String, dtype: DType?, count: Int, viewOffset: Int = 0) {
        self.key = key
        self.typeName = typeName
        self.dtype = dtype
        self.count = count
        self.viewOffset = viewOffset
    }
}

/// A tensor: a view of a storage.
struct TensorRef {
    let storage: StorageRef
    let offset: Int
    let shape: [Int]
    let strides: [Int]
}

/// A value on the pickle stack.
enum PyValue {
    case none
    case bool(Bool)
    case int(Int64)
    /// An integer too large for Int64 (only its size is kept).
    case bigInt(byteCount: Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple(PyTuple)
    case list(PyList)
    case set(PyList)
    case dict(PyDict)
    case global(module: String, name: String)
    case object(PyObject)
    case storage(StorageRef)
    case tensor(TensorRef)

    var int: Int? {
        switch self {
        case .int(let v): return Int(exactly: v)
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    var string: String? { if case .string(let s) = self { return s } else { return nil } }

    /// Items of a tuple or list.
    var sequence: [PyValue]? {
        switch self {
        case .tuple(let t): return t.items
        case .list(let l): return l.items
        default: return nil
        }
    }

    /// Short description for error messages.
    var kind: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .set: return "set"
        case .dict: return "dict"
        case .global(let m, let n): return "global \(m).\(n)"
        case .object(let o): return "object \(o.qualifiedName)"
        case .storage: return "storage"
        case .tensor: return "tensor"
        }
    }
}

/// Storage type names (as in `torch.FloatStorage`) → element type.
let storageDTypes: [String: DType] = [
    "FloatStorage": .float32, "HalfStorage": .float16, "BFloat16Storage": .bfloat16,
    "DoubleStorage": .float64, "LongStorage": .int64, "IntStorage": .int32, "ShortStorage": .int16,
    "CharStorage": .int8, "ByteStorage": .uint8, "BoolStorage": .bool, "UntypedStorage": .uint8,
]

/// Interprets one pickle. Use ``Unpickler/run(_:at:what:persistentLoad:body:)``: values of the
/// graph are only valid inside `body`.
final class Unpickler {
    /// Maps a persistent id (BINPERSID/PERSID) to a value, typically a ``StorageRef``.
    typealias PersistentLoad = (PyValue) throws -> PyValue

    private var reader: ByteReader
    private let persistentLoad: PersistentLoad
    private var stack: [PyValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PyValue] = [:]
    /// Every container created, so that teardown can flatten the graph (see `deinit`).
    private var arena: [AnyObject] = []
    /// Remaining budget for operations whose cost is not bounded by their own input bytes.
    private var budget: Int

    static let maxMarks = 100_000

    private init(_ reader: ByteReader, persistentLoad: @escaping PersistentLoad) {
        self.reader = reader
        self.persistentLoad = persistentLoad
        budget = 4 * reader.remaining + 65_536
    }

    /// Unpickles the pickle starting at `offset` of `bytes`, passes the root value to `body`
    /// and returns its result together with the offset just past the STOP opcode.
    static func run<T>(_ bytes: UnsafeRawBufferPointer, at offset: Int = 0, what: String,
                       persistentLoad: @escaping PersistentLoad = { _ in .none },
                       body: (PyValue) throws -> T) throws -> (result: T, end: Int) {
        let machine = Unpickler(ByteReader(bytes, at: offset, what: what), persistentLoad: persistentLoad)
        let root = try machine.execute()
        return (try body(root), machine.reader.position)
    }

    deinit {
        // Empty every container while the arena still keeps all of them alive; releasing the
        // collected values afterwards then never recurses more than one level.
        var graveyard: [PyValue] = []
        for object in arena {
            switch object {
            case let list as PyList: graveyard.append(contentsOf: list.items); list.items = []
            case let tuple as PyTuple: graveyard.append(contentsOf: tuple.items); tuple.items = []
            case let dict as PyDict:
                for entry in dict.entries { graveyard.append(entry.key); graveyard.append(entry.value) }
                dict.entries = []
            case let object as PyObject:
                graveyard.append(contentsOf: object.args); object.args = []
                if let state = object.state { graveyard.append(state) }
                object.state = nil
            default: break
            }
        }
        stack = []
        memo = [:]
        graveyard = []
        arena = []
    }

    private func fail(_ message: String) -> FormatError {
        FormatError("\(reader.what): \(message) at offset \(reader.position)")
    }

    private func charge(_ cost: Int) throws {
        budget -= cost
        if budget < 0 { throw fail("pickle too complex for its size (work limit exceeded)") }
    }

    private func register<T: AnyObject>(_ object: T) -> T {
        arena.append(object)
        return object
    }

    private func newList(_ items: [PyValue] = []) -> PyValue { .list(register(PyList(items))) }
    private func newTuple(_ items: [PyValue]) -> PyValue { .tuple(register(PyTuple(items))) }
    private func newDict() -> PyDict { register(PyDict()) }
    private func newObject(_ module: String, _ name: String, _ args: [PyValue]) -> PyObject {
        register(PyObject(module: module, name: name, args: args))
    }

    // MARK: Stack

    private func pop() throws -> PyValue {
        guard let value = stack.popLast() else { throw fail("stack underflow") }
        if let mark = marks.last, stack.count < mark { throw fail("stack underflow past a mark") }
        return value
    }

    private func top() throws -> PyValue {
        guard let value = stack.last else { throw fail("stack underflow") }
        if let mark = marks.last, stack.count <= mark { throw fail("stack underflow past a mark") }
        return value
    }

    private func popMark() throws -> [PyValue] {
        guard let mark = marks.popLast() else { throw fail("MARK expected") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    // MARK: Text arguments (protocol 0)

    private func textLine() throws -> String {
        String(decoding: try reader.line(), as: UTF8.self)
    }

    private func decimal(_ text: String) throws -> PyValue {
        var t = text.trimmingSuffix("L")
        if t == "00" { return .bool(false) }
        if t == "01" { return .bool(true) }
        if t.hasPrefix("+") { t.removeFirst() }
        if let v = Int64(t) { return .int(v) }
        let digits = t.hasPrefix("-") ? t.dropFirst() : Substring(t)
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else { throw fail("bad integer literal") }
        return .bigInt(byteCount: digits.count / 2 + 1)
    }

    /// A Python 2 `repr` string literal (STRING opcode): quotes and the common escapes.
    private func quotedString(_ raw: UnsafeRawBufferPointer) throws -> PyValue {
        guard raw.count >= 2, raw.first == raw.last, raw.first == UInt8(ascii: "'") || raw.first == UInt8(ascii: "\"") else {
            throw fail("STRING argument is not quoted")
        }
        var out: [UInt8] = []
        var i = 1
        while i < raw.count - 1 {
            let c = raw[i]
            i += 1
            guard c == UInt8(ascii: "\\"), i < raw.count - 1 else { out.append(c); continue }
            let e = raw[i]
            i += 1
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "x"):
                guard i + 1 < raw.count, let v = UInt8(String(decoding: raw[i ..< i + 2], as: UTF8.self), radix: 16) else {
                    throw fail("bad \\x escape")
                }
                out.append(v)
                i += 2
            default: out.append(e)
            }
        }
        return .string(String(decoding: out, as: UTF8.self))
    }

    /// Raw-unicode-escape (UNICODE opcode): bytes are Latin-1 except `\uXXXX` / `\UXXXXXXXX`.
    private func rawUnicode(_ raw: UnsafeRawBufferPointer) -> String {
        var scalars = String.UnicodeScalarView()
        var i = 0
        while i < raw.count {
            let c = raw[i]
            if c == UInt8(ascii: "\\"), i + 1 < raw.count, raw[i + 1] == UInt8(ascii: "u") || raw[i + 1] == UInt8(ascii: "U") {
                let digits = raw[i + 1] == UInt8(ascii: "u") ? 4 : 8
                if i + 2 + digits <= raw.count,
                   let v = UInt32(String(decoding: raw[i + 2 ..< i + 2 + digits], as: UTF8.self), radix: 16),
                   let s = Unicode.Scalar(v) {
                    scalars.append(s)
                    i += 2 + digits
                    continue
                }
            }
            scalars.append(Unicode.Scalar(c))
            i += 1
        }
        return String(scalars)
    }

    private func utf8(_ raw: UnsafeRawBufferPointer) -> PyValue {
        // Python writes surrogate-escaped text as invalid UTF-8; decode leniently.
        .string(String(decoding: raw, as: UTF8.self))
    }

    private func signedLittleEndian(_ raw: UnsafeRawBufferPointer) -> PyValue {
        if raw.isEmpty { return .int(0) }
        guard raw.count <= 8 else {
            // Fits in Int64 only if the extra bytes are pure sign extension.
            let sign: UInt8 = raw[raw.count - 1] & 0x80 != 0 ? 0xFF : 0x00
            if raw[8...].allSatisfy({ $0 == sign }), (raw[7] & 0x80 != 0) == (sign == 0xFF) {
                return signedLittleEndian(UnsafeRawBufferPointer(rebasing: raw[0 ..< 8]))
            }
            return .bigInt(byteCount: raw.count)
        }
        var value: UInt64 = 0
        for (i, b) in raw.enumerated() { value |= UInt64(b) << (8 * UInt64(i)) }
        if raw.count < 8, raw[raw.count - 1] & 0x80 != 0 {
            value |= ~0 << (8 * UInt64(raw.count))  // sign-extend
        }
        return .int(Int64(bitPattern: value))
    }

    // MARK: Main loop

    private func execute() throws -> PyValue {
        while true {
            let opcode = try reader.u8()
            switch opcode {
            case 0x80: // PROTO
                let version = try reader.u8()
                guard version <= 5 else { throw fail("unsupported pickle protocol \(version)") }
            case 0x95: // FRAME: framing is only a hint for buffered readers
                _ = try reader.u64()
            case UInt8(ascii: "."): // STOP
                guard marks.isEmpty else { throw fail("STOP inside an open MARK") }
                guard stack.count == 1 else { throw fail("STOP with \(stack.count) values on the stack") }
                return stack[0]

            // Stack manipulation
            case UInt8(ascii: "("): // MARK
                guard marks.count < Self.maxMarks else { throw fail("too many nested MARKs") }
                marks.append(stack.count)
            case UInt8(ascii: "0"): _ = try pop() // POP
            case UInt8(ascii: "1"): _ = try popMark() // POP_MARK
            case UInt8(ascii: "2"): stack.append(try top()) // DUP

            // Constants and numbers
            case UInt8(ascii: "N"): stack.append(.none)
            case 0x88: stack.append(.bool(true))
            case 0x89: stack.append(.bool(false))
            case UInt8(ascii: "I"): stack.append(try decimal(try textLine()))
            case UInt8(ascii: "L"): stack.append(try decimal(try textLine()))
            case UInt8(ascii: "J"): stack.append(.int(Int64(try reader.i32())))
            case UInt8(ascii: "K"): stack.append(.int(Int64(try reader.u8())))
            case UInt8(ascii: "M"): stack.append(.int(Int64(try reader.u16())))
            case 0x8A: // LONG1
                let n = Int(try reader.u8())
                stack.append(signedLittleEndian(try reader.bytes(n)))
            case 0x8B: // LONG4
                let n = try reader.i32()
                guard n >= 0 else { throw fail("negative LONG4 length") }
                stack.append(signedLittleEndian(try reader.bytes(n)))
            case UInt8(ascii: "F"):
                guard let v = Double(try textLine().trimmingSuffix("\r")) else { throw fail("bad FLOAT literal") }
                stack.append(.float(v))
            case UInt8(ascii: "G"): // BINFLOAT: big-endian IEEE double
                let raw = try reader.bytes(8)
                var bits: UInt64 = 0
                for b in raw { bits = bits << 8 | UInt64(b) }
                stack.append(.float(Double(bitPattern: bits)))

            // Strings and bytes
            case UInt8(ascii: "S"): stack.append(try quotedString(try reader.line()))
            case UInt8(ascii: "T"): // BINSTRING (Python 2 str)
                let n = try reader.i32()
                guard n >= 0 else { throw fail("negative BINSTRING length") }
                stack.append(utf8(try reader.bytes(n)))
            case UInt8(ascii: "U"): stack.append(utf8(try reader.bytes(Int(try reader.u8()))))
            case UInt8(ascii: "V"): stack.append(.string(rawUnicode(try reader.line())))
            case UInt8(ascii: "X"): stack.append(utf8(try reader.bytes(try reader.u32())))
            case 0x8C: stack.append(utf8(try reader.bytes(Int(try reader.u8()))))
            case 0x8D: stack.append(utf8(try reader.bytes(try reader.u64())))
            case UInt8(ascii: "B"): stack.append(.bytes(Array(try reader.bytes(try reader.u32()))))
            case UInt8(ascii: "C"): stack.append(.bytes(Array(try reader.bytes(Int(try reader.u8())))))
            case 0x8E, 0x96: stack.append(.bytes(Array(try reader.bytes(try reader.u64()))))
            case 0x97, 0x98: throw fail("out-of-band pickle buffers are not supported")

            // Containers
            case UInt8(ascii: "]"): stack.append(newList())
            case UInt8(ascii: "l"): stack.append(newList(try popMark()))
            case UInt8(ascii: ")"): stack.append(newTuple([]))
            case UInt8(ascii: "t"): stack.append(newTuple(try popMark()))
            case 0x85: let a = try pop(); stack.append(newTuple([a]))
            case 0x86: let b = try pop(); let a = try pop(); stack.append(newTuple([a, b]))
            case 0x87: let c = try pop(); let b = try pop(); let a = try pop(); stack.append(newTuple([a, b, c]))
            case UInt8(ascii: "}"): stack.append(.dict(newDict()))
            case UInt8(ascii: "d"):
                let items = try popMark()
                guard items.count % 2 == 0 else { throw fail("DICT with an odd number of items") }
                let dict = newDict()
                for i in stride(from: 0, to: items.count, by: 2) { dict.entries.append((items[i], items[i + 1])) }
                stack.append(.dict(dict))
            case 0x8F: stack.append(.set(register(PyList())))
            case 0x91: stack.append(.set(register(PyList(try popMark()))))
            case UInt8(ascii: "a"): // APPEND
                let value = try pop()
                try append([value], to: try top())
            case UInt8(ascii: "e"), 0x90: // APPENDS, ADDITEMS
                let items = try popMark()
                try append(items, to: try top())
            case UInt8(ascii: "s"): // SETITEM
                let value = try pop()
                let key = try pop()
                try setItems([(key, value)], in: try top())
            case UInt8(ascii: "u"): // SETITEMS
                let items = try popMark()
                guard items.count % 2 == 0 else { throw fail("SETITEMS with an odd number of items") }
                var pairs: [(PyValue, PyValue)] = []
                pairs.reserveCapacity(items.count / 2)
                for i in stride(from: 0, to: items.count, by: 2) { pairs.append((items[i], items[i + 1])) }
                try setItems(pairs, in: try top())

            // Memo
            case UInt8(ascii: "g"):
                guard let index = Int(try textLine()) else { throw fail("bad GET index") }
                try get(index)
            case UInt8(ascii: "h"): try get(Int(try reader.u8()))
            case UInt8(ascii: "j"): try get(try reader.u32())
            case UInt8(ascii: "p"):
                guard let index = Int(try textLine()) else { throw fail("bad PUT index") }
                memo[index] = try top()
            case UInt8(ascii: "q"): memo[Int(try reader.u8())] = try top()
            case UInt8(ascii: "r"): memo[try reader.u32()] = try top()
            case 0x94: memo[memo.count] = try top() // MEMOIZE

            // Globals and object construction
            case UInt8(ascii: "c"): // GLOBAL
                let module = try textLine()
                let name = try textLine()
                stack.append(.global(module: module, name: name))
            case 0x93: // STACK_GLOBAL
                let name = try pop()
                let module = try pop()
                guard let m = module.string, let n = name.string else { throw fail("STACK_GLOBAL needs two strings") }
                stack.append(.global(module: m, name: n))
            case 0x82, 0x83, 0x84: throw fail("pickle extension registry codes are not supported")
            case UInt8(ascii: "R"): // REDUCE
                let args = try pop()
                let callable = try pop()
                guard let items = args.sequence else { throw fail("REDUCE arguments are not a tuple") }
                stack.append(try call(callable, items))
            case 0x81: // NEWOBJ
                let args = try pop()
                let cls = try pop()
                guard let items = args.sequence else { throw fail("NEWOBJ arguments are not a tuple") }
                stack.append(try instantiate(cls, items))
            case 0x92: // NEWOBJ_EX
                _ = try pop() // kwargs
                let args = try pop()
                let cls = try pop()
                guard let items = args.sequence else { throw fail("NEWOBJ_EX arguments are not a tuple") }
                stack.append(try instantiate(cls, items))
            case UInt8(ascii: "i"): // INST
                let module = try textLine()
                let name = try textLine()
                stack.append(try instantiate(.global(module: module, name: name), try popMark()))
            case UInt8(ascii: "o"): // OBJ
                let items = try popMark()
                guard let cls = items.first else { throw fail("OBJ without a class") }
                stack.append(try instantiate(cls, Array(items.dropFirst())))
            case UInt8(ascii: "b"): // BUILD
                let state = try pop()
                try build(try top(), state)

            // Persistent ids
            case UInt8(ascii: "P"): stack.append(try persistentLoad(.string(try textLine())))
            case UInt8(ascii: "Q"): stack.append(try persistentLoad(try pop()))

            default:
                reader.position -= 1
                throw fail("unknown opcode 0x\(String(opcode, radix: 16))")
            }
        }
    }

    private func get(_ index: Int) throws {
        guard let value = memo[index] else { throw fail("memo index \(index) not defined") }
        stack.append(value)
    }

    private func append(_ items: [PyValue], to target: PyValue) throws {
        switch target {
        case .list(let list), .set(let list): list.items.append(contentsOf: items)
        case .object: break // items of a list subclass: no reader needs them
        default: throw fail("APPEND to \(target.kind)")
        }
    }

    private func setItems(_ pairs: [(PyValue, PyValue)], in target: PyValue) throws {
        switch target {
        case .dict(let dict): dict.entries.append(contentsOf: pairs.map { (key: $0.0, value: $0.1) })
        case .object: break // items of a dict subclass: no reader needs them
        default: throw fail("SETITEM on \(target.kind)")
        }
    }

    private func build(_ target: PyValue, _ state: PyValue) throws {
        // Only module objects' state is read; a dict's BUILD state (an OrderedDict's `_metadata`)
        // is attributes, not items, and like the state of tensors, lists and sets is dropped.
        if case .object(let object) = target { object.state = state }
    }

    /// NEWOBJ / INST / OBJ: a dict or list for the container classes, a placeholder otherwise.
    private func instantiate(_ cls: PyValue, _ args: [PyValue]) throws -> PyValue {
        guard case .global(let module, let name) = cls else { return .object(newObject("", cls.kind, args)) }
        switch (module, name) {
        case ("collections", "OrderedDict"), ("builtins", "dict"), ("__builtin__", "dict"): return .dict(newDict())
        case ("builtins", "list"), ("__builtin__", "list"): return newList()
        default: return .object(newObject(module, name, args))
        }
    }

    /// REDUCE: the few callables PyTorch pickles need, interpreted; anything else a placeholder.
    private func call(_ callable: PyValue, _ args: [PyValue]) throws -> PyValue {
        guard case .global(let module, let name) = callable else {
            return .object(newObject("", "call of \(callable.kind)", args))
        }
        switch (module, name) {
        case ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"):
            return try rebuildTensor(args)
        case ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"),
             ("torch.jit._pickle", "restore_type_tag"):
            guard let first = args.first else { throw fail("\(name) without arguments") }
            return first
        case ("torch._tensor", "_rebuild_from_type_v2"), ("torch.tensor", "_rebuild_from_type_v2"):
            // (func, new_type, args, state): a tensor subclass; rebuild the plain tensor.
            guard args.count >= 3, case .global = args[0], let inner = args[2].sequence else {
                throw fail("malformed _rebuild_from_type_v2 arguments")
            }
            if case .global(_, let innerName) = args[0], innerName == "_rebuild_from_type_v2" {
                throw fail("nested _rebuild_from_type_v2")
            }
            return try call(args[0], inner)
        case ("collections", "OrderedDict"), ("builtins", "dict"), ("__builtin__", "dict"):
            let dict = newDict()
            if let pairs = args.first?.sequence {
                try charge(pairs.count)
                for pair in pairs {
                    guard let kv = pair.sequence, kv.count == 2 else { throw fail("OrderedDict item is not a pair") }
                    dict.entries.append((kv[0], kv[1]))
                }
            }
            return .dict(dict)
        case ("torch.jit._pickle", _) where name.hasPrefix("build_"):
            // build_intlist / build_tensorlist / …: the list itself.
            return args.first ?? newList()
        case ("torch", "Size"):
            return args.first ?? newTuple([])
        case ("_codecs", "encode"):
            // Protocol-2 bytes: encode(text, 'latin1').
            guard let text = args.first?.string else { return .object(newObject(module, name, args)) }
            try charge(text.utf8.count)
            return .bytes(text.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) })
        default:
            return .object(newObject(module, name, args))
        }
    }

    private func rebuildTensor(_ args: [PyValue]) throws -> PyValue {
        guard args.count >= 4, case .storage(let storage) = args[0], let offset = args[1].int,
              let sizeItems = args[2].sequence, let strideItems = args[3].sequence else {
            throw fail("malformed _rebuild_tensor arguments")
        }
        guard sizeItems.count <= maxRank, strideItems.count == sizeItems.count else {
            throw fail("tensor with \(sizeItems.count) sizes and \(strideItems.count) strides")
        }
        let shape = try sizeItems.map { item -> Int in
            guard let v = item.int else { throw fail("tensor size is \(item.kind), not an int") }
            return v
        }
        let strides = try strideItems.map { item -> Int in
            guard let v = item.int else { throw fail("tensor stride is \(item.kind), not an int") }
            return v
        }
        return .tensor(TensorRef(storage: storage, offset: offset, shape: shape, strides: strides))
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}

/// Interprets a PyTorch persistent id `('storage', StorageType, key, location, numel[, view])`.
/// The legacy format's optional view metadata `(view_key, offset, size)` selects a slice of the
/// root storage.
func torchStorageRef(_ pid: PyValue) throws -> StorageRef {
    guard let items = pid.sequence, items.count >= 5, items[0].string == "storage" else {
        throw FormatError("unexpected persistent id (\(pid.kind)); expected a ('storage', …) tuple")
    }
    guard case .global(let module, let typeName) = items[1] else {
        throw FormatError("persistent id storage type is \(items[1].kind)")
    }
    guard let key = items[2].string ?? items[2].int.map(String.init) else { throw FormatError("persistent id storage key is \(items[2].kind)") }
    guard let numel = items[4].int, numel >= 0 else { throw FormatError("persistent id for storage '\(key)' has an invalid element count") }
    let dtype = module.hasPrefix("torch") ? storageDTypes[typeName] : nil
    let qualified = "\(module).\(typeName)"
    if items.count >= 6, let view = items[5].sequence, view.count >= 3 {
        guard let offset = view[1].int, let size = view[2].int, offset >= 0, size >= 0,
              offset <= numel, size <= numel - offset else {
            throw FormatError("storage view of '\(key)' lies outside its root storage")
        }
        return StorageRef(key: key, typeName: qualified, dtype: dtype, count: size, viewOffset: offset)
    }
    return StorageRef(key: key, typeName: qualified, dtype: dtype, count: numel)
}
