// The public face of the codecs: read PNG or JPEG (chosen by the file's signature), write PNG
// with text metadata or JPEG, atomically.

import Foundation

/// Reading and writing image files. Every failure is an ``ImageIOError`` naming the file.
public enum ImageIO {
    /// Images with more pixels than this are not decoded at full size: a JPEG is decoded at
    /// 1/2, 1/4 or 1/8 scale (libjpeg's scaled decoding), a PNG is refused. 50 megapixels is
    /// about 600 MB of RGBA while decoding: every command here works at far smaller sizes.
    public static let maxPixels = 50_000_000

    /// The container formats that can be read.
    public enum Format: String, Sendable {
        case png, jpeg
    }

    /// The format announced by the first bytes of a file, or nil when it is neither PNG nor JPEG.
    public static func detectFormat(_ header: some Collection<UInt8>) -> Format? {
        if header.starts(with: PNGCodec.signature) { return .png }
        if header.starts(with: JPEGCodec.signature) { return .jpeg }
        return nil
    }

    /// Reads a PNG or JPEG file as 8-bit RGB. The format comes from the file's signature, not its
    /// extension. Gray and gray+alpha become gray RGB, alpha is dropped, 16-bit PNG is reduced to 8 bits.
    public static func read(contentsOf url: URL) throws -> RGBImage {
        let path = url.path
        let bytes = try FileIO.readAll(path: path)
        guard !bytes.isEmpty else { throw ImageIOError(path: path, problem: "empty file") }
        switch detectFormat(bytes) {
        case .png: return try PNGCodec.decode(bytes, path: path)
        case .jpeg: return try JPEGCodec.decode(bytes, path: path)
        case nil: throw ImageIOError(path: path, problem: "not a PNG or JPEG file")
        }
    }

    /// Writes an 8-bit RGB PNG carrying `text` as metadata: each (keyword, value) pair becomes a
    /// tEXt chunk, or an iTXt chunk when the value is not Latin-1. Keywords must be 1-79
    /// printable Latin-1 characters. The file is replaced atomically.
    public static func writePNG(_ image: RGBImage, to url: URL, text: [(String, String)] = []) throws {
        let path = url.path
        let encoded = try PNGCodec.encode(image, text: text, path: path)
        try FileIO.replaceAtomically(path: path) { temporary in
            try FileIO.writeNew(encoded, temporaryPath: temporary, reportPath: path)
        }
    }

    /// Writes a baseline JPEG at `quality` (1-100). The file is replaced atomically.
    public static func writeJPEG(_ image: RGBImage, to url: URL, quality: Int = 92) throws {
        let path = url.path
        try FileIO.replaceAtomically(path: path) { temporary in
            try JPEGCodec.encode(image, quality: quality, temporaryPath: temporary, reportPath: path)
        }
    }

    /// The text metadata of an image file, in file order: tEXt and uncompressed iTXt entries of a
    /// PNG (chunk CRCs are verified). A JPEG has none and gives an empty list.
    public static func readText(contentsOf url: URL) throws -> [(keyword: String, text: String)] {
        let path = url.path
        let bytes = try FileIO.readAll(path: path)
        guard !bytes.isEmpty else { throw ImageIOError(path: path, problem: "empty file") }
        switch detectFormat(bytes) {
        case .png: return try PNGCodec.readText(bytes, path: path)
        case .jpeg: return []
        case nil: throw ImageIOError(path: path, problem: "not a PNG or JPEG file")
        }
    }
}
