// `vqclip score`: CLIP similarity of images and texts — the cosine matrix and, per image, the
// softmax over the texts (zero-shot classification), or with --rank the images ordered by
// similarity to each text (retrieval).

import ArgumentParser
import CLIP
import FilePaths
import Foundation
import Generation
import ImageCodecs
import Tensors


struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score images against texts with CLIP.",
        discussion: """
            Prints the cosine similarity of every image with every --text and, per image, the \
            softmax over the texts of CLIP's scaled logits (zero-shot classification). With --rank, \
            prints the images ordered by similarity to each text instead (retrieval). Images are \
            resized (shorter side, bicubic) and centre-cropped to the model's input size as CLIP's \
            own preprocessing does.
            """)

    @Argument(help: ArgumentHelp("PNG or JPEG images to score.", valueName: "image"))
    var images: [String]

    @Option(name: .long, help: "A text to score against (repeat for several).")
    var text: [String]

    @Flag(name: .long, help: "Order the images by similarity to each text.")
    var rank = false

    @Option(name: .long, help: ArgumentHelp("CLIP checkpoint: OpenAI .pt, safetensors, or a Hugging Face folder.",
                                            valueName: "path"))
    var model: String

    @Flag(name: .long, help: "Cut prompts longer than CLIP's 77-token context instead of failing.")
    var truncate = false

    @Flag(name: .long, help: "Print one JSON object on stdout instead of tables.")
    var json = false

    func validate() throws {
        if images.isEmpty { throw ValidationError("give at least one image") }
    }

    func run() throws {
        let modelURL = Files.url(model)
        let (clip, tokenizer) = try ModelLocator.loadCLIP(modelURL)
        let size = clip.configuration.imageResolution

        var batch: [Float] = []
        batch.reserveCapacity(images.count * 3 * size * size)
        for path in images {
            let image = try ImageIO.read(contentsOf: Files.url(path))
            guard image.width > 0 && image.height > 0 else { throw BadInput("\(path): empty image") }
            batch += CLIPPreprocess.imageTensor(width: image.width, height: image.height, rgb: image.pixels, size: size).data
        }
        let tensor = Tensor(shape: [images.count, 3, size, size], data: batch)
        // Texts, unlike paths, have no use for bytes that are not UTF-8: replaced as a decoder does.
        let scores = try clip.score(images: tensor, prompts: text.map(PathBytes.repaired), tokenizer: tokenizer, truncate: truncate)

        if json {
            printJSON(scores)
        } else if rank {
            for (j, prompt) in text.enumerated() {
                print("\"\(prompt)\"")
                for (place, i) in scores.ranking(text: j).enumerated() {
                    print("  \(place + 1). \(format(scores.cosine[i][j]))  \(images[i])")
                }
            }
        } else {
            printTables(scores)
        }
    }

    private func format(_ v: Float, digits: Int = 4) -> String { String(format: "%.\(digits)f", v) }

    private func printTables(_ scores: CLIPScores) {
        let nameWidth = min(40, images.map(\.count).max() ?? 5)
        func cell(_ s: String) -> String { s.count >= 10 ? String(s.prefix(10)) : String(repeating: " ", count: 10 - s.count) + s }
        func name(_ s: String) -> String {
            s.count > nameWidth ? "…" + s.suffix(nameWidth - 1) : s + String(repeating: " ", count: nameWidth - s.count)
        }
        print("texts:")
        for (j, prompt) in text.enumerated() { print("  [\(j + 1)] \(prompt)") }
        let header = name("") + text.indices.map { cell("[\($0 + 1)]") }.joined()
        print("cosine similarity:")
        print(header)
        for (i, path) in images.enumerated() { print(name(path) + scores.cosine[i].map { cell(format($0)) }.joined()) }
        print("probability over texts (zero-shot):")
        print(header)
        for (i, path) in images.enumerated() { print(name(path) + scores.probabilities[i].map { cell(format($0)) }.joined()) }
    }

    private func printJSON(_ scores: CLIPScores) {
        func matrix(_ m: [[Float]]) -> JSONValue { .array(m.map { .array($0.map(JSONValue.float)) }) }
        var fields: [(String, JSONValue)] = [
            ("event", .string("score")),
            ("images", .array(images.map(JSONValue.string))),
            ("texts", .array(text.map(JSONValue.string))),
            ("cosine", matrix(scores.cosine)),
            ("probabilities", matrix(scores.probabilities)),
        ]
        if rank {
            fields.append(("ranking", .array(text.indices.map { j in .array(scores.ranking(text: j).map(JSONValue.int)) })))
        }
        JSONLine.write(fields)
    }
}
