import Foundation
import Testing
@testable import Checkpoints

/// Python-like rendering of an unpickled value (sets in any protocol render alike).
func pyRepr(_ value: PyValue) -> String {
    switch value {
    case .none: return "None"
    case .bool(let b): return b ? "True" : "False"
    case .int(let i): return String(i)
    case .bigInt: return "<bigint>"
    case .float(let d): return String(d)
    case .string(let s): return "'\(s)'"
    case .bytes(let b): return "b'" + b.map { String(format: "%02x", $0) }.joined() + "'"
    case .tuple(let t): return "(" + t.items.map(pyRepr).joined(separator: ", ") + (t.items.count == 1 ? ",)" : ")")
    case .list(let l): return "[" + l.items.map(pyRepr).joined(separator: ", ") + "]"
    case .set(let l): return "{" + l.items.map(pyRepr).joined(separator: ", ") + "}"
    case .dict(let d): return "{" + d.entries.map { pyRepr($0.key) + ": " + pyRepr($0.value) }.joined(separator: ", ") + "}"
    case .global(let m, let n): return "<global \(m).\(n)>"
    case .object(let o):
        if o.name == "set", let items = o.args.first?.sequence { return "{" + items.map(pyRepr).joined(separator: ", ") + "}" }
        return "<\(o.qualifiedName)(\(o.args.map(pyRepr).joined(separator: ", ")))>"
    case .storage(let s): return "<storage \(s.key)>"
    case .tensor(let t): return "<tensor \(t.shape)>"
    }
}

func hexBytes(_ hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var i = hex.startIndex
    while i < hex.endIndex {
        let j = hex.index(i, offsetBy: 2)
        out.append(UInt8(hex[i ..< j], radix: 16)!)
        i = j
    }
    return out
}

func unpickle(_ bytes: [UInt8]) throws -> String {
    let source = ByteSource(copying: bytes)
    return try Unpickler.run(source.bytes, what: "test", body: pyRepr).result
}

@Suite struct PickleTests {
    /// pickle.dumps of the same object with protocols 0–5 (Python 3.11).
    static let dumps: [(String, String)] = [
        ("0", "286470300a56696e74730a70310a286c70320a49310a61492d320a614c313138303539313632303731373431313330333432344c0a614930310a614930300a61493330300a614937303030300a617356666c6f6174730a70330a286c70340a46322e350a61462d302e3132350a617356746578740a70350a286c70360a566162630a70370a6156fc6eef0a70380a61635f636f646563730a656e636f64650a70390a28565c7530303030ff0a7031300a566c6174696e310a7031310a747031320a527031330a6173566e65737465640a7031340a282849310a747031350a28647031360a747031370a73566f640a7031380a63636f6c6c656374696f6e730a4f726465726564446963740a7031390a2874527032300a566b0a7032310a49310a7373566e6f6e650a7032320a4e73567365740a7032330a635f5f6275696c74696e5f5f0a7365740a7032340a28286c7032350a49330a61747032360a527032370a732e"),
        ("1", "7d7100285804000000696e747371015d7102284b014afeffffff4c313138303539313632303731373431313330333432344c0a4930310a4930300a4d2c014a70110100655806000000666c6f61747371035d71042847400400000000000047bfc00000000000006558040000007465787471055d710628580300000061626371075805000000c3bc6ec3af7108635f636f646563730a656e636f64650a710928580300000000c3bf710a58060000006c6174696e31710b74710c52710d6558060000006e6573746564710e28284b0174710f7d711074711158020000006f64711263636f6c6c656374696f6e730a4f726465726564446963740a71132952711458010000006b71154b017358040000006e6f6e6571164e58030000007365747117635f5f6275696c74696e5f5f0a7365740a7118285d71194b036174711a52711b752e"),
        ("2", "80027d7100285804000000696e747371015d7102284b014afeffffff8a0900000000000000004088894d2c014a70110100655806000000666c6f61747371035d71042847400400000000000047bfc00000000000006558040000007465787471055d710628580300000061626371075805000000c3bc6ec3af7108635f636f646563730a656e636f64650a7109580300000000c3bf710a58060000006c6174696e31710b86710c52710d6558060000006e6573746564710e4b0185710f7d711086711158020000006f64711263636f6c6c656374696f6e730a4f726465726564446963740a71132952711458010000006b71154b017358040000006e6f6e6571164e58030000007365747117635f5f6275696c74696e5f5f0a7365740a71185d71194b036185711a52711b752e"),
        ("3", "80037d7100285804000000696e747371015d7102284b014afeffffff8a0900000000000000004088894d2c014a70110100655806000000666c6f61747371035d71042847400400000000000047bfc00000000000006558040000007465787471055d710628580300000061626371075805000000c3bc6ec3af7108430200ff71096558060000006e6573746564710a4b0185710b7d710c86710d58020000006f64710e63636f6c6c656374696f6e730a4f726465726564446963740a710f2952711058010000006b71114b017358040000006e6f6e6571124e58030000007365747113636275696c74696e730a7365740a71145d71154b0361857116527117752e"),
        ("4", "800495bb000000000000007d94288c04696e7473945d94284b014afeffffff8a0900000000000000004088894d2c014a70110100658c06666c6f617473945d942847400400000000000047bfc0000000000000658c0474657874945d94288c03616263948c05c3bc6ec3af94430200ff94658c066e6573746564944b0185947d9486948c026f64948c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942952948c016b944b01738c046e6f6e65944e8c03736574948f94284b0390752e"),
        ("5", "800595bb000000000000007d94288c04696e7473945d94284b014afeffffff8a0900000000000000004088894d2c014a70110100658c06666c6f617473945d942847400400000000000047bfc0000000000000658c0474657874945d94288c03616263948c05c3bc6ec3af94430200ff94658c066e6573746564944b0185947d9486948c026f64948c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942952948c016b944b01738c046e6f6e65944e8c03736574948f94284b0390752e"),
    ]

    @Test(arguments: dumps)
    func everyProtocolGivesTheSameGraph(_ protocolVersion: String, _ hex: String) throws {
        let expected = "{'ints': [1, -2, <bigint>, True, False, 300, 70000], 'floats': [2.5, -0.125], "
            + "'text': ['abc', 'ünï', b'00ff'], 'nested': ((1,), {}), 'od': {'k': 1}, 'none': None, 'set': {3}}"
        #expect(try unpickle(hexBytes(hex)) == expected, "protocol \(protocolVersion)")
    }

    @Test func pythonTwoOpcodes() throws {
        // STRING with escapes, PUT/GET as text, FLOAT as text, LIST/DICT to a mark, INST, OBJ.
        let text = #"(S'it\'s\n'"# + "\np0\nF1.5\n(lp1\nI7\naI01\nag0\na(dp2\nS'k'\nNs(I1\ni__main__\nOld\n(c__main__\nNew\nI2\not."
        #expect(try unpickle(Array(text.utf8)) == "('it's\n', 1.5, [7, True, 'it's\n'], {'k': None}, <__main__.Old(1)>, <__main__.New(2)>)")
    }

    @Test func longIntegersAreSignExtended() throws {
        // LONG1 with 1, 2 and 9 bytes: -1, 255 (0xff 0x00), and 2^64 (does not fit Int64).
        #expect(try unpickle([0x80, 2, 0x8A, 1, 0xFF, 0x2E]) == "-1")
        #expect(try unpickle([0x80, 2, 0x8A, 2, 0xFF, 0x00, 0x2E]) == "255")
        #expect(try unpickle([0x80, 2, 0x8A, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x2E]) == "<bigint>")
        // 9 bytes that are only sign extension still fit: -2.
        #expect(try unpickle([0x80, 2, 0x8A, 9, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x2E]) == "-2")
        // BINFLOAT is big-endian.
        #expect(try unpickle([0x80, 2, 0x47, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0, 0x2E]) == "1.5")
    }

    @Test func memoAliasesContainersAndBuildAttachesToDicts() throws {
        // d = {}; l = [d]; d['x'] = 1 after l was built: the list must see the filled dict.
        // Then BUILD on the dict (attribute state) must not add items.
        let bytes: [UInt8] = [0x80, 2, 0x7D, 0x71, 0, 0x5D, 0x71, 1, 0x68, 0, 0x61, 0x30,
                              0x58, 1, 0, 0, 0, 0x78, 0x4B, 1, 0x73,
                              0x7D, 0x58, 1, 0, 0, 0, 0x6D, 0x4B, 2, 0x73, 0x62, 0x30, 0x68, 1, 0x2E]
        #expect(try unpickle(bytes) == "[{'x': 1}]")
    }
}
