// The options that decide a render's pixels, shared by `render` and `batch`. Every one is
// optional so that a batch line's options can be laid over the batch's own (line ?? batch ??
// default); the defaults live in RenderSettings.

import ArgumentParser
import FilePaths
import Foundation
import Generation

struct SettingsOptions: ParsableArguments {
    @Option(name: .customLong("image-prompt"), help: ArgumentHelp("An image to steer towards, PATH[:weight[:stop]] (repeatable).", valueName: "path"))
    var imagePrompts: [String] = []

    @Option(name: .long, help: ArgumentHelp("Image size WxH (or N for a square), rounded down to a multiple of the VQGAN's factor (default 256x256).", valueName: "WxH"))
    var size: String?

    @Option(name: .long, help: "Optimisation steps (default 500).")
    var iterations: Int?

    @Option(name: .long, help: "Learning rate (default 0.1).")
    var lr: Float?

    @Option(name: .long, help: ArgumentHelp("Optimiser: adam (default), adamw or adagrad.", valueName: "name"))
    var optimizer: String?

    @Option(name: .long, help: "Views scored by CLIP per step (default 32).")
    var cutn: Int?

    @Option(name: .customLong("cut-pow"), help: "Cutout size exponent of the original method (default 1).")
    var cutPow: Float?

    @Option(name: .customLong("cut-method"), help: ArgumentHelp("latest (default: whole image pooled and augmented) or original (random squares).", valueName: "method"))
    var cutMethod: String?

    @Option(name: .long, help: ArgumentHelp("Augmentations of the latest method: comma-separated from Af,Pe,Ji,Er (default all), Sh (small zoom and shift) and Bl (half the views blurred), or none.", valueName: "list"))
    var augments: String?

    @Option(name: .long, help: "Seed: an integer or any string (render default: random, printed and recorded; batch default: 0).")
    var seed: String?

    @Option(name: .customLong("init-image"), help: ArgumentHelp("Start from this PNG or JPEG.", valueName: "path"))
    var initImage: String?

    @Option(name: .customLong("init-noise"), help: ArgumentHelp("Start without an image from codes (default), pixels, gradient or flat (gray; the embedded models' default).", valueName: "kind"))
    var initNoise: String?

    @Option(name: .customLong("init-weight"), help: "Weight of the term that keeps z near its start (default 0).")
    var initWeight: Float?

    @Option(name: .customLong("init-search"), help: ArgumentHelp("Without --init-image: score N scenes of the embedded models' world with CLIP and start from the best (default 0: off).", valueName: "N"))
    var initSearch: Int?

    @Option(name: .customLong("tv-weight"), help: "Weight of the image's total variation, which favours flat regions with sharp edges (default 0).")
    var tvWeight: Float?

    @Option(name: .customLong("change-prompt-every"), help: ArgumentHelp("Switch to the next `^` prompt set every N steps.", valueName: "N"))
    var changePromptEvery: Int?

    /// What the embedded models render best with, where the options do not say (see MODELS.md):
    /// their native 64x64 size; a start from the scene of their world that the CLIP scores best
    /// among 4096, then 20 gentle steps (learning rate 0.005), because the small CLIP's gradient
    /// takes a clean start towards blobs it scores higher than any clean scene (longer or faster
    /// optimisation lowers the share of renders that satisfy their prompt); views with the small
    /// zoom, shift and colour changes the CLIP was trained with, half of them blurred. With
    /// `--init-search 0` the start is flat gray (random codes leave confetti the CLIP tolerates).
    static let embeddedDefaults = try! SettingsOptions.parse(["--size", "64x64", "--init-noise", "flat", "--augments", "Sh,Ji,Bl",
                                                              "--init-search", "4096", "--iterations", "20", "--lr", "0.005"])

    /// These options with `base`'s where these are not given.
    func laid(over base: SettingsOptions) -> SettingsOptions {
        var m = self
        if imagePrompts.isEmpty { m.imagePrompts = base.imagePrompts }
        m.size = size ?? base.size
        m.iterations = iterations ?? base.iterations
        m.lr = lr ?? base.lr
        m.optimizer = optimizer ?? base.optimizer
        m.cutn = cutn ?? base.cutn
        m.cutPow = cutPow ?? base.cutPow
        m.cutMethod = cutMethod ?? base.cutMethod
        m.augments = augments ?? base.augments
        m.seed = seed ?? base.seed
        m.initImage = initImage ?? base.initImage
        m.initNoise = initNoise ?? base.initNoise
        m.initWeight = initWeight ?? base.initWeight
        m.tvWeight = tvWeight ?? base.tvWeight
        m.initSearch = initSearch ?? base.initSearch
        m.changePromptEvery = changePromptEvery ?? base.changePromptEvery
        return m
    }

    /// The settings for `prompt`; `defaultSeed` when no --seed was given. Bad values throw
    /// ValidationError with the option's name.
    func settings(prompt: String, defaultSeed: @autoclosure () -> String) throws -> RenderSettings {
        // The prompt is text, not a path: bytes that are not UTF-8 mean nothing in it and are
        // replaced, as a UTF-8 decoder does.
        var s = RenderSettings(prompt: PathBytes.repaired(prompt), seed: seed ?? defaultSeed())
        if let size {
            let parts = size.lowercased().split(separator: "x", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), let w = Int(parts[0]), let h = Int(parts.last!), (1...8192).contains(w), (1...8192).contains(h) else {
                throw ValidationError("--size must be WxH or N with sides from 1 to 8192, got \(size)")
            }
            (s.width, s.height) = (w, h)
        }
        s.imagePrompts = imagePrompts
        if let iterations { try requireRange(iterations, 1...1_000_000, "iterations"); s.iterations = iterations }
        if let lr {
            guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be a positive number, got \(lr)") }
            s.learningRate = lr
        }
        if let optimizer {
            guard let kind = OptimizerKind(rawValue: optimizer.lowercased()) else {
                throw ValidationError("--optimizer must be one of \(OptimizerKind.allCases.map(\.rawValue).joined(separator: ", ")), got \(optimizer)")
            }
            s.optimizer = kind
        }
        if let cutn { try requireRange(cutn, 1...1024, "cutn"); s.cutn = cutn }
        if let cutPow {
            guard cutPow > 0, cutPow.isFinite else { throw ValidationError("--cut-pow must be a positive number, got \(cutPow)") }
            s.cutPow = cutPow
        }
        if let cutMethod {
            guard let method = CutMethod(rawValue: cutMethod.lowercased()) else {
                throw ValidationError("--cut-method must be original or latest, got \(cutMethod)")
            }
            s.cutMethod = method
        }
        if let augments {
            s.augments = augments.lowercased() == "none" ? [] : try augments.split(separator: ",").map { name in
                guard let a = Augmentation(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--augments takes Af, Pe, Ji, Er, Sh, Bl or none, got \(name)")
                }
                return a
            }
        }
        s.initImage = initImage
        if let initNoise {
            guard let noise = InitNoise(rawValue: initNoise.lowercased()) else {
                throw ValidationError("--init-noise must be codes, pixels, gradient or flat, got \(initNoise)")
            }
            s.initNoise = noise
        }
        if let initWeight {
            guard initWeight.isFinite, initWeight >= 0 else { throw ValidationError("--init-weight must be 0 or more, got \(initWeight)") }
            s.initWeight = initWeight
        }
        if let initSearch {
            try requireRange(initSearch, 0...100_000, "init-search")
            s.initSearch = initSearch == 0 ? nil : initSearch
        }
        if let tvWeight {
            guard tvWeight.isFinite, tvWeight >= 0 else { throw ValidationError("--tv-weight must be 0 or more, got \(tvWeight)") }
            s.tvWeight = tvWeight == 0 ? nil : tvWeight
        }
        if let changePromptEvery { try requireRange(changePromptEvery, 0...1_000_000, "change-prompt-every"); s.changePromptEvery = changePromptEvery }
        _ = try PromptSyntax.parse(prompt)
        for spec in imagePrompts { _ = try PromptSyntax.parseOne(spec) }
        return s
    }
}

/// Which models, how many threads, and whether to start past the memory estimate.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("VQGAN: path or known name.", valueName: "model"))
    var vqgan: String?

    @Option(name: .long, help: ArgumentHelp("CLIP: path or known name.", valueName: "model"))
    var clip: String?

    @Option(name: .long, help: "Threads (default: all cores).")
    var threads: Int?

    @Flag(name: .long, help: "Start even when the memory estimate exceeds the available memory.")
    var force = false

    func validate() throws {
        if let threads { try requireRange(threads, 1...1024, "threads") }
    }
}

/// Progress files of one render: frames, periodic saves and the resumable state.
struct ProgressOptions: ParsableArguments {
    @Option(name: .customLong("save-every"), help: ArgumentHelp("Overwrite the result with the current image every K steps.", valueName: "K"))
    var saveEvery: Int = 0

    @Option(name: .long, help: ArgumentHelp("Folder for numbered progress frames.", valueName: "dir"))
    var frames: String?

    @Option(name: .customLong("frame-every"), help: ArgumentHelp("Write a frame every K steps (with --frames).", valueName: "K"))
    var frameEvery: Int = 10

    @Option(name: .customLong("state-every"), help: ArgumentHelp("Save the resumable state every K steps (with --state, or in a batch).", valueName: "K"))
    var stateEvery: Int = 25

    /// No frames, no periodic saves (a value made by parsing, as the property wrappers need).
    static let none = try! ProgressOptions.parse([])

    func validate() throws {
        try requireRange(saveEvery, 0...1_000_000, "save-every")
        try requireRange(frameEvery, 1...1_000_000, "frame-every")
        try requireRange(stateEvery, 1...1_000_000, "state-every")
    }
}

extension RenderSettings {
    /// The `vqclip render` command line that makes this image (recorded in every PNG as
    /// `command`): every setting spelled out, so it does not depend on the defaults of a version.
    func commandLine(vqgan: String, clip: String, threads: Int) -> String {
        var words = ["vqclip", "render", shellQuoted(prompt), "--seed", shellQuoted(seed), "--size", "\(width)x\(height)",
                     "--iterations", "\(iterations)", "--lr", "\(learningRate)", "--optimizer", optimizer.rawValue,
                     "--cutn", "\(cutn)", "--cut-pow", "\(cutPow)", "--cut-method", cutMethod.rawValue,
                     "--augments", augments.isEmpty ? "none" : augments.map(\.rawValue).joined(separator: ",")]
        for spec in imagePrompts { words += ["--image-prompt", shellQuoted(spec)] }
        if let initImage { words += ["--init-image", shellQuoted(initImage)] } else { words += ["--init-noise", initNoise.rawValue] }
        if initWeight != 0 { words += ["--init-weight", "\(initWeight)"] }
        if let tvWeight, tvWeight != 0 { words += ["--tv-weight", "\(tvWeight)"] }
        if initImage == nil { words += ["--init-search", "\(initSearch ?? 0)"] }
        if changePromptEvery != 0 { words += ["--change-prompt-every", "\(changePromptEvery)"] }
        words += ["--vqgan", shellQuoted(vqgan), "--clip", shellQuoted(clip), "--threads", "\(threads)"]
        return words.joined(separator: " ")
    }
}

/// `text` as one shell word: bare when it is plainly safe, else in single quotes; a path with
/// bytes that are not UTF-8 in bash's `$'…'` form, where `\xFF` stands for the byte.
func shellQuoted(_ text: String) -> String {
    if PathBytes.hasEscapes(text) {
        var out = "$'"
        for scalar in PathBytes.display(text.replacingOccurrences(of: "\\", with: "\\\\")).unicodeScalars {
            out += scalar == "'" ? "\\'" : String(scalar)
        }
        return out + "'"
    }
    let safe = !text.isEmpty && text.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_./,:=+@%".unicodeScalars.contains($0)) }
    return safe ? text : "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
