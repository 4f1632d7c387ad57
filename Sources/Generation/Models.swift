// Finding and loading the two models a render needs. A model is named on the command line by a
// path (a taming `.ckpt` with its `.yaml`, an OpenAI `.pt`, a Hugging Face or vqclip folder) or
// by a known name looked up in the models folder (VQCLIP_MODELS, default ~/.cache/vqclip), so
// that `--vqgan vqgan_imagenet_f16_16384 --clip ViT-B-32` work once the files are there.

import Checkpoints
import CLIP
import FilePaths
import Foundation
import VQGAN

/// Which weights a render used: recorded in every PNG so that a replay can refuse other weights.
public struct ModelIdentity: Codable, Equatable, Sendable {
    /// What the user named (a path or a known name), as given.
    public var name: String
    /// SHA-256 of the weights file, hex.
    public var sha256: String
    /// The weights file that was read.
    public var path: String
}

/// Where the files of a VQGAN are.
public struct VQGANFiles: Sendable {
    public var checkpoint: URL
    /// taming's model.yaml or vqclip's config.json.
    public var config: URL
}

/// A model that cannot be found or read.
public struct ModelError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public enum ModelLocator {
    /// Loads the CLIP model at `url` with the tokenizer that goes with it (weights frozen). A file
    /// of another kind is named as what it is ("a taming VQGAN …, not a CLIP model"), and a model
    /// whose text tower cannot take the tokenizer's ids is refused here rather than at the first
    /// prompt.
    public static func loadCLIP(_ url: URL) throws -> (model: CLIPModel, tokenizer: Tokenizer) {
        let model: CLIPModel
        do { model = try CLIPModel(contentsOf: url) } catch {
            let file = Files.isDirectory(url.path) ? url.appendingPathComponent("model.safetensors") : url
            if let sd = try? loadStateDict(contentsOf: file), let other = VQModel.recognize(sd) {
                throw ModelError("\(url.path): a \(other.model), not a CLIP model")
            }
            throw error
        }
        let tokenizer = try CLIPModel.tokenizer(for: url)
        let vocabulary = model.configuration.vocabSize
        guard max(tokenizer.startID, tokenizer.endID) < vocabulary else {
            throw ModelError("\(url.path): its text tower has \(vocabulary) tokens, but the tokenizer's ids go up to "
                             + "\(max(tokenizer.startID, tokenizer.endID)) (a model for another vocabulary)")
        }
        return (model, tokenizer)
    }

    /// The folder searched for models named without a path: `VQCLIP_MODELS`, or ~/.cache/vqclip.
    public static func modelsFolder(environment: [String: String] = PathBytes.environment()) -> URL {
        if let folder = environment["VQCLIP_MODELS"], !folder.isEmpty { return Files.url(folder) }
        let home = environment["HOME"].map { Files.url($0) } ?? FileManager.default.homeDirectoryForCurrentUser
        return home.appendingPathComponent(".cache/vqclip")
    }

    private static func exists(_ url: URL) -> (exists: Bool, isDirectory: Bool) {
        (Files.exists(url.path), Files.isDirectory(url.path))
    }

    /// Resolves `--vqgan`: a `.ckpt` (its `.yaml` beside it with the same stem, a lone `.yaml`
    /// beside it, or taming's `configs/*.yaml` next to its `checkpoints/` folder), a vqclip
    /// folder (`model.safetensors` + `config.json`) or `.safetensors` file with `config.json`
    /// beside it, a taming log folder (`checkpoints/last.ckpt` + `configs/`), or a name in the
    /// models folder.
    public static func vqgan(_ spec: String, modelsFolder: URL = modelsFolder()) throws -> VQGANFiles {
        let url = Files.url(spec)
        let (found, isDirectory) = exists(url)
        if found { return try vqganFiles(at: url, isDirectory: isDirectory, spec: spec) }
        guard !spec.contains("/") else { throw ModelError("\(spec): no such file or folder") }
        for candidate in [modelsFolder.appendingPathComponent(spec + ".ckpt"), modelsFolder.appendingPathComponent(spec)] {
            let (found, isDirectory) = exists(candidate)
            if found { return try vqganFiles(at: candidate, isDirectory: isDirectory, spec: spec) }
        }
        throw ModelError("VQGAN \"\(spec)\" not found: put \(spec).ckpt and \(spec).yaml (taming-transformers) "
                         + "in \(modelsFolder.path) (set VQCLIP_MODELS to use another folder), or pass a path")
    }

    private static func vqganFiles(at url: URL, isDirectory: Bool, spec: String) throws -> VQGANFiles {
        if isDirectory {
            let weights = url.appendingPathComponent("model.safetensors"), config = url.appendingPathComponent("config.json")
            if exists(weights).exists {
                guard exists(config).exists else { throw ModelError("\(url.path): folder has model.safetensors but no config.json") }
                return VQGANFiles(checkpoint: weights, config: config)
            }
            let last = url.appendingPathComponent("checkpoints/last.ckpt")
            if exists(last).exists { return try vqganFiles(at: last, isDirectory: false, spec: spec) }
            throw ModelError("\(url.path): not a VQGAN folder (no model.safetensors + config.json, no checkpoints/last.ckpt)")
        }
        switch url.pathExtension.lowercased() {
        case "safetensors":
            let config = url.deletingLastPathComponent().appendingPathComponent("config.json")
            guard exists(config).exists else { throw ModelError("\(url.path): no config.json beside it") }
            return VQGANFiles(checkpoint: url, config: config)
        case "ckpt", "pt", "pth":
            let folder = url.deletingLastPathComponent()
            let stem = url.deletingPathExtension().lastPathComponent
            for ext in ["yaml", "yml"] {
                let beside = folder.appendingPathComponent("\(stem).\(ext)")
                if exists(beside).exists { return VQGANFiles(checkpoint: url, config: beside) }
            }
            func yamls(_ dir: URL) -> [URL] {
                ((try? Files.contentsOfDirectory(dir.path)) ?? []).sorted()
                    .map { dir.appendingPathComponent($0) }
                    .filter { ["yaml", "yml"].contains($0.pathExtension.lowercased()) }
            }
            let besides = yamls(folder)
            if besides.count == 1 { return VQGANFiles(checkpoint: url, config: besides[0]) }
            // taming's logs: NAME/checkpoints/last.ckpt with NAME/configs/*-project.yaml.
            let configs = yamls(folder.deletingLastPathComponent().appendingPathComponent("configs"))
            if let project = configs.first(where: { $0.lastPathComponent.hasSuffix("-project.yaml") }) ?? (configs.count == 1 ? configs[0] : nil) {
                return VQGANFiles(checkpoint: url, config: project)
            }
            throw ModelError("\(url.path): no config found: put \(stem).yaml (taming's model.yaml) beside it")
        default:
            throw ModelError("\(url.path): not a VQGAN checkpoint (expected .ckpt with its .yaml, or a vqclip folder)")
        }
    }

    /// Resolves `--clip`: an OpenAI `.pt`, a `.safetensors` file, a Hugging Face or vqclip folder
    /// holding `model.safetensors`, or a name in the models folder (`ViT-B/32` is read as
    /// `ViT-B-32`, as OpenAI names the file).
    public static func clip(_ spec: String, modelsFolder: URL = modelsFolder()) throws -> URL {
        let url = Files.url(spec)
        if exists(url).exists { return url }
        let name = spec.replacingOccurrences(of: "/", with: "-")
        guard !spec.hasPrefix("/"), !spec.hasPrefix("."), spec.filter({ $0 == "/" }).count <= 1 else {
            throw ModelError("\(spec): no such file or folder")
        }
        for candidate in [name + ".pt", name, name + ".safetensors"] {
            let url = modelsFolder.appendingPathComponent(candidate)
            if exists(url).exists { return url }
        }
        throw ModelError("CLIP \"\(spec)\" not found: put \(name).pt (OpenAI) or a Hugging Face folder \(name)/ "
                         + "in \(modelsFolder.path) (set VQCLIP_MODELS to use another folder), or pass a path")
    }

    /// The identity of the weights at `url` (for a folder, its model.safetensors).
    public static func identity(name: String, weights url: URL) throws -> ModelIdentity {
        var file = url
        if exists(url).isDirectory { file = url.appendingPathComponent("model.safetensors") }
        do {
            return ModelIdentity(name: name, sha256: try SHA256.hexDigest(ofFile: file), path: file.path)
        } catch {
            throw ModelError("\(file.path): cannot read: \(error)")
        }
    }
}

/// The loaded pair, with what identifies them.
public struct RenderModels {
    public let vqgan: VQModel
    public let clip: CLIPModel
    public let tokenizer: Tokenizer
    public let vqganIdentity: ModelIdentity
    public let clipIdentity: ModelIdentity

    public init(vqgan: VQModel, clip: CLIPModel, tokenizer: Tokenizer, vqganIdentity: ModelIdentity, clipIdentity: ModelIdentity) {
        self.vqgan = vqgan
        self.clip = clip
        self.tokenizer = tokenizer
        self.vqganIdentity = vqganIdentity
        self.clipIdentity = clipIdentity
    }

    /// Finds and loads both models (weights frozen: a render needs no weight gradients).
    public static func load(vqgan vqganSpec: String, clip clipSpec: String,
                            modelsFolder: URL = ModelLocator.modelsFolder()) throws -> RenderModels {
        let files = try ModelLocator.vqgan(vqganSpec, modelsFolder: modelsFolder)
        let clipURL = try ModelLocator.clip(clipSpec, modelsFolder: modelsFolder)
        let vqgan = try VQModel.load(checkpoint: files.checkpoint, config: files.config)
        let (clip, tokenizer) = try ModelLocator.loadCLIP(clipURL)
        return RenderModels(vqgan: vqgan, clip: clip, tokenizer: tokenizer,
                            vqganIdentity: try ModelLocator.identity(name: vqganSpec, weights: files.checkpoint),
                            clipIdentity: try ModelLocator.identity(name: clipSpec, weights: clipURL))
    }
}
