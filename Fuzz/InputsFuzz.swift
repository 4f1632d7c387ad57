// libFuzzer entry point for the other untrusted inputs. Compiled by scripts/fuzz.sh, once per
// target, together with the sources it exercises:
//   -D FUZZ_PNG      PNG decoding and text chunks, through ImageCodecs' wrappers (with the pixel
//                    limit and the size plausibility checks that stop decompression bombs)
//   -D FUZZ_JPEG     JPEG decoding (scaled decoding, CMYK) through the CJPEG shim
//   -D FUZZ_PROMPT   the render prompt syntax (`|`, `^`, `:weight:stop`)
// Not part of the Swift package: never built by `swift build` / `swift test`.

@_cdecl("LLVMFuzzerTestOneInput")
public func inputsFuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    #if FUZZ_PNG
    if let image = try? PNGCodec.decode(bytes, path: "fuzz") {
        precondition(image.pixels.count == image.width * image.height * 3)
    }
    _ = try? PNGCodec.readText(bytes, path: "fuzz")
    #elseif FUZZ_JPEG
    if let image = try? JPEGCodec.decode(bytes, path: "fuzz", maxPixels: 4_000_000) {
        precondition(image.pixels.count == image.width * image.height * 3 && image.width * image.height <= 4_000_000)
    }
    #else
    let text = String(decoding: bytes, as: UTF8.self)
    if let sets = try? PromptSyntax.parse(text) {
        precondition(!sets.isEmpty && sets.allSatisfy { !$0.isEmpty })
        for prompt in sets.joined() { precondition(!prompt.text.isEmpty && prompt.weight != 0) }
    }
    #endif
    return 0
}
