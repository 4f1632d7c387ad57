// A render's resumable state: z, where it started, the optimiser's buffers, the step count and
// the random stream, in one safetensors file (written atomically), with the settings as JSON
// metadata so that a state cannot be resumed under other settings.

import Checkpoints
import Foundation
import Optimizers
import Tensors

extension Renderer {
    /// Writes the state to `url` (temporary file + rename).
    public func saveState(to url: URL) throws {
        let optimizerState = loop.optimizer.state
        var tensors: [(name: String, shape: [Int], values: [Float])] = [("z", z.shape, z.data), ("z_initial", zInitial.shape, zInitial.data)]
        tensors += optimizerState.namedArrays(prefix: "optimizer").map { ($0.name, [$0.values.count], $0.values) }
        let settingsJSON = String(decoding: try JSONEncoder.sorted.encode(settings), as: UTF8.self)
        let metadata = optimizerState.metadata(prefix: "optimizer").merging([
            "format": "vqclip-render-state",
            "step": String(step),
            "rng": rng.state.map(String.init).joined(separator: ","),
            "settings": settingsJSON,
        ]) { $1 }
        try SafeTensors.write(tensors, metadata: metadata, to: url)
    }

    /// Continues from a state written by ``saveState(to:)`` for the same settings.
    public func restoreState(from url: URL) throws {
        let dict = try loadStateDict(contentsOf: url)
        let file = url.path
        guard dict.metadata["format"] == "vqclip-render-state" else { throw RenderError("\(file): not a vqclip render state") }
        guard let json = dict.metadata["settings"]?.data(using: .utf8),
              let saved = try? JSONDecoder().decode(RenderSettings.self, from: json) else {
            throw RenderError("\(file): the state has no readable settings")
        }
        guard saved == settings else {
            throw RenderError("\(file): the state was saved with other settings (prompt \"\(saved.prompt)\", seed \(saved.seed)); resume with the same options")
        }
        guard let stepText = dict.metadata["step"], let step = Int(stepText), (0...settings.iterations).contains(step),
              let words = dict.metadata["rng"]?.split(separator: ",").compactMap({ UInt64($0) }), words.count == 4 else {
            throw RenderError("\(file): the state's step or random stream is missing or corrupt")
        }
        func floats(_ name: String, count: Int) throws -> [Float] {
            guard let t = dict[name], t.count == count else { throw RenderError("\(file): tensor \(name) is missing or has the wrong size") }
            return try t.floats()
        }
        let zValues = try floats("z", count: z.count)
        let zStart = try floats("z_initial", count: zInitial.count)
        guard zStart == zInitial.data else { throw RenderError("\(file): the state starts from another latent (different models or init image)") }
        do {
            let state = try OptimizerState(prefix: "optimizer", metadata: dict.metadata, names: dict.names,
                                           array: { try floats($0, count: z.count) })
            try loop.optimizer.restore(state)
        } catch let error as OptimizerStateError {
            throw RenderError("\(file): \(error)")
        }
        z.data = zValues
        loop.step = step
        rng = SeededGenerator(state: words)
    }
}

/// Reading a state file without a renderer.
public enum RenderState {
    /// The settings a state file was saved with (a resumed run takes them from there).
    public static func settings(in url: URL) throws -> RenderSettings {
        let dict = try loadStateDict(contentsOf: url)
        guard dict.metadata["format"] == "vqclip-render-state" else { throw RenderError("\(url.path): not a vqclip render state") }
        guard let json = dict.metadata["settings"] else { throw RenderError("\(url.path): the state has no settings") }
        do { return try RenderSettings(json: json) } catch let error as RenderError {
            throw RenderError("\(url.path): \(error)")
        }
    }
}

extension JSONEncoder {
    /// Sorted keys, so the same settings always give the same bytes.
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

extension RenderSettings {
    /// The settings as sorted-key JSON (recorded in PNGs and state files).
    public func jsonString() -> String {
        (try? JSONEncoder.sorted.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// Settings read back from ``jsonString()``.
    public init(json: String) throws {
        guard let data = json.data(using: .utf8) else { throw RenderError("settings are not UTF-8") }
        do { self = try JSONDecoder().decode(RenderSettings.self, from: data) } catch {
            throw RenderError("settings JSON is not valid: \(error)")
        }
    }
}
