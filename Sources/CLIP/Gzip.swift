// gzip inflation with zlib, for the BPE vocabulary shipped as bpe_simple_vocab_16e6.txt.gz.

import CZlib
import Foundation

/// Inflates a gzip stream with zlib.
func gunzip(_ data: Data, name: String) throws -> [UInt8] {
    var stream = z_stream()
    // 15 window bits + 16: expect a gzip header.
    guard inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
        throw CLIPError("\(name): zlib initialisation failed")
    }
    defer { inflateEnd(&stream) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    var input = [UInt8](data)
    let status: Int32 = input.withUnsafeMutableBufferPointer { inp in
        stream.next_in = inp.baseAddress
        stream.avail_in = uInt(inp.count)
        var status: Int32 = Z_OK
        while status == Z_OK {
            status = chunk.withUnsafeMutableBufferPointer { buf in
                stream.next_out = buf.baseAddress
                stream.avail_out = uInt(buf.count)
                return inflate(&stream, Z_NO_FLUSH)
            }
            out += chunk[0..<(chunk.count - Int(stream.avail_out))]
            if status == Z_BUF_ERROR && stream.avail_in == 0 { break }
        }
        return status
    }
    guard status == Z_STREAM_END else { throw CLIPError("\(name): corrupt gzip data (zlib status \(status))") }
    return out
}
