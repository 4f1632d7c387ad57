// SHA-256 against the FIPS 180-4 examples and coreutils' sha256sum.

import Foundation
import Testing
import Checkpoints

@Suite("SHA256")
struct SHA256Tests {
    func digest(_ s: String) -> String {
        var h = SHA256()
        h.update(Array(s.utf8))
        return h.hexDigest()
    }

    @Test func standardVectors() {
        #expect(digest("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func piecewiseUpdatesEqualOneUpdate() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        var whole = SHA256()
        whole.update(bytes)
        var pieces = SHA256()
        var i = 0
        for size in [1, 63, 64, 65, 7, 200, 600] { pieces.update(Array(bytes[i..<(i + size)])); i += size }
        #expect(i == 1000)
        #expect(whole.hexDigest() == pieces.hexDigest())
    }

    @Test func fileDigestMatchesSha256sum() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sha-\(getpid()).bin")
        defer { try? FileManager.default.removeItem(at: url) }
        // 1,000,000 × "a": the FIPS long-message vector.
        try Data(repeating: 0x61, count: 1_000_000).write(to: url)
        #expect(try SHA256.hexDigest(ofFile: url) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
