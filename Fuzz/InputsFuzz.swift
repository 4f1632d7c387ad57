// libFuzzer entry point for the other untrusted inputs. Compiled by scripts/fuzz.sh, once per
// target, together with the sources it exercises:
//   -D FUZZ_PNG      PNG decoding and text chunks, through ImageCodecs' wrappers (with the pixel
//                    limit and the size plausibility checks that stop decompression bombs)
//   -D FUZZ_JPEG     JPEG decoding (scaled decoding, CMYK) through the CJPEG shim
//   -D FUZZ_PROMPT   the render prompt syntax (`|`, `^`, `:weight:stop`)
//   -D FUZZ_BATCHLINE a batch prompt file: bytes to lines (paths kept as bytes), each line split
//                    into prompt and option words, the prompt parsed
//   -D FUZZ_CAPTION   ShapeWorld's caption parser: any text, and the canonical caption round trip
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
    #elseif FUZZ_BATCHLINE
    fuzzBatchFile(bytes)
    #elseif FUZZ_CAPTION
    // Any text parses or is refused; a scene's canonical caption parses back to the same scene
    // with nothing left out.
    let text = String(decoding: bytes, as: UTF8.self)
    if let parsed = try? CaptionParser.parse(text) {
        let caption = parsed.spec.caption
        guard let again = try? CaptionParser.parse(caption) else { preconditionFailure("canonical caption refused: \(caption)") }
        precondition(again.spec == parsed.spec, "\(caption) parses to \(again.spec), not \(parsed.spec)")
        precondition(again.ignored.isEmpty, "\(caption) leaves out \(again.ignored)")
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

#if FUZZ_BATCHLINE
/// Invariants of the batch file syntax: the String form of the bytes gives the bytes back; lines
/// are trimmed, non-empty and not comments; a split line's words, written back with quotes,
/// split to the same prompt and words.
func fuzzBatchFile(_ bytes: [UInt8]) {
    precondition(PathBytes.bytes(of: PathBytes.string(decoding: bytes)) == bytes)
    var previous = 0
    for line in BatchLineSyntax.promptLines(bytes) {
        precondition(line.number > previous && !line.text.isEmpty && line.text.unicodeScalars.first != "#")
        precondition(same(BatchLineSyntax.trimmed(line.text), line.text))
        previous = line.number
        guard let (prompt, words) = try? BatchLineSyntax.split(line.text) else { continue }
        precondition(same(BatchLineSyntax.trimmed(prompt), prompt))
        guard let first = words.first else {
            precondition(same(prompt, line.text))
            continue
        }
        let firstScalars = Array(first.unicodeScalars)
        precondition(firstScalars.count >= 2 && firstScalars[0] == "-" && firstScalars[1] == "-")
        var rest = String.UnicodeScalarView()
        rest.append(contentsOf: firstScalars.dropFirst(2))
        let quoted = ["--" + quote(String(rest))] + words.dropFirst().map(quote)
        let again = try! BatchLineSyntax.split(prompt + " " + quoted.joined(separator: " "))
        precondition(same(again.prompt, prompt) && again.options.count == words.count
                     && zip(again.options, words).allSatisfy(same))
        if let sets = try? PromptSyntax.parse(prompt) {
            precondition(!sets.isEmpty && sets.allSatisfy { !$0.isEmpty })
        }
    }
}

/// Scalar-for-scalar equality (String's == would accept canonically equivalent text).
func same(_ a: String, _ b: String) -> Bool { a.unicodeScalars.elementsEqual(b.unicodeScalars) }

/// `word` in single quotes, each quote written as '\'' (shell style).
func quote(_ word: String) -> String {
    var out = String.UnicodeScalarView()
    out.append("'")
    for scalar in word.unicodeScalars {
        if scalar == "'" { out.append(contentsOf: "'\\''".unicodeScalars) } else { out.append(scalar) }
    }
    out.append("'")
    return String(out)
}
#endif
