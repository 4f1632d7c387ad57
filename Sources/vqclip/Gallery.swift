// `vqclip gallery DIR`: DIR/index.html rebuilt from the PNGs' own metadata, so it also merges
// what several batch shards wrote into one shared folder. A static page with no external
// assets (inline CSS, relative links) that works from file://.

import ArgumentParser
import FilePaths
import Foundation
import ImageCodecs

struct GalleryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gallery",
        abstract: "Write DIR/index.html: every render in DIR with its prompt, seed, loss and settings.")

    @Argument(help: "A folder of rendered PNGs (a batch's output folder).")
    var folder: String

    @OptionGroup var reporting: ReportingOptions

    func run() throws {
        let page = try Gallery.write(folder: Files.url(folder))
        if reporting.json {
            JSONLine.write([("event", .string("saved")), ("path", .string(page.path)), ("kind", .string("gallery"))])
        } else {
            Terminal.writeOutput(page.path + "\n")
        }
    }
}

enum Gallery {
    /// One image's entry, from its text chunks.
    struct Entry {
        let file: String
        let fields: [String: String]
        let animation: String?
    }

    /// Reads the folder's renders and writes index.html atomically; returns its URL.
    static func write(folder: URL) throws -> URL {
        guard Files.isDirectory(folder.path) else {
            throw BadInput("\(folder.path): no such folder")
        }
        let names: [String]
        do { names = try Files.contentsOfDirectory(folder.path) } catch let error as FileError {
            throw BadInput(error.description)
        }
        var entries: [Entry] = []
        for name in names.sorted() where name.lowercased().hasSuffix(".png") && !name.hasPrefix(".") {
            // Files that are not vqclip renders (no settings) are left out.
            guard let text = try? ImageIO.readText(contentsOf: folder.appendingPathComponent(name)) else { continue }
            let fields = Dictionary(text.map { ($0.keyword, $0.text) }, uniquingKeysWith: { $1 })
            guard fields["vqclip_settings"] != nil else { continue }
            let stem = String(name.dropLast(4))
            let gif = "\(stem)-frames/animation.gif"
            entries.append(Entry(file: name, fields: fields,
                                 animation: Files.exists(folder.appendingPathComponent(gif).path) ? gif : nil))
        }
        let page = folder.appendingPathComponent("index.html")
        try writeAtomically(html(entries, title: folder.lastPathComponent), to: page)
        return page
    }

    static func html(_ entries: [Entry], title: String) -> String {
        var rows = ""
        for entry in entries {
            let f = entry.fields
            let loss = f["loss"].flatMap(Float.init).map { String(format: "%.4f", $0) } ?? "–"
            let settings = prettySettings(f["vqclip_settings"] ?? "{}")
            let link = entry.animation.map { #" · <a href="\#(escape(url: $0))">frames</a>"# } ?? ""
            rows += """
                <figure>
                <a href="\(escape(url: entry.file))"><img src="\(escape(url: entry.file))" alt="\(escape(f["prompt"] ?? entry.file))" loading="lazy"></a>
                <figcaption><span class="prompt">\(escape(f["prompt"] ?? ""))</span>
                <span class="meta">seed \(escape(f["seed"] ?? "?")) · loss \(loss) · step \(escape(f["step"] ?? "?"))\(link)</span>
                <details><summary>settings</summary><pre>\(escape(settings))
                vqgan: \(escape(f["vqgan"] ?? "?")) (\(escape(String((f["vqgan_sha256"] ?? "").prefix(12)))))
                clip: \(escape(f["clip"] ?? "?")) (\(escape(String((f["clip_sha256"] ?? "").prefix(12)))))
                threads: \(escape(f["threads"] ?? "?")) · \(escape(f["Software"] ?? ""))</pre></details>
                </figcaption></figure>

                """
        }
        if entries.isEmpty { rows = "<p class=\"empty\">No renders in this folder yet.</p>\n" }
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title)) · vqclip gallery</title>
            <style>
            body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; background: #f6f6f4; color: #222; }
            h1 { font-size: 20px; margin: 0 0 16px; }
            .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); gap: 18px; }
            figure { margin: 0; background: #fff; border-radius: 6px; box-shadow: 0 1px 3px rgba(0,0,0,.15); overflow: hidden; }
            figure img { display: block; width: 100%; aspect-ratio: 1; object-fit: contain; background: #ddd; image-rendering: pixelated; }
            figcaption { padding: 8px 10px 10px; }
            .prompt { display: block; font-weight: 600; word-break: break-word; }
            .meta { display: block; color: #666; font-size: 12px; margin-top: 2px; }
            details { margin-top: 6px; font-size: 12px; }
            pre { white-space: pre-wrap; word-break: break-all; background: #f0f0ee; padding: 6px; margin: 4px 0 0; }
            .empty { color: #666; }
            </style></head>
            <body><h1>\(escape(title)) <small>(\(entries.count) image\(entries.count == 1 ? "" : "s"))</small></h1>
            <div class="grid">
            \(rows)</div></body></html>

            """
    }

    /// The settings JSON one key per line, for the details row.
    static func prettySettings(_ json: String) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return json }
        return object.keys.sorted().map { key in
            let value = object[key]!
            let text = (try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .withoutEscapingSlashes]))
                .map { String(decoding: $0, as: UTF8.self) } ?? "\(value)"
            return "\(key): \(text)"
        }.joined(separator: "\n")
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    /// A relative link: the name's bytes (exactly, when they are not UTF-8) percent-encoded
    /// outside the characters a path allows, then HTML-escaped.
    static func escape(url: String) -> String {
        var out = ""
        for byte in PathBytes.bytes(of: url) {
            if byte < 0x80, CharacterSet.urlPathAllowed.contains(Unicode.Scalar(byte)) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += String(format: "%%%02X", byte)
            }
        }
        return escape(out)
    }
}

/// Writes `text` to `url` through a temporary file in the same folder and a rename.
func writeAtomically(_ text: String, to url: URL) throws {
    do { try Files.write(Array(text.utf8), to: url.path) } catch let error as FileError { throw BadInput(error.description) }
}
