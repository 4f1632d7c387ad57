// swift-tools-version:6.0
import PackageDescription

// Numeric targets are compiled with -O even in debug builds: unoptimised Swift is 5-400x slower
// on the kernels, which would make `swift test` unusable.
let optimizeAlways: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "vqclip",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "FilePaths", targets: ["FilePaths"]),
        .library(name: "Tensors", targets: ["Tensors"]),
        .library(name: "ImageCodecs", targets: ["ImageCodecs"]),
        .library(name: "ImageTensors", targets: ["ImageTensors"]),
        .library(name: "Checkpoints", targets: ["Checkpoints"]),
        .library(name: "Layers", targets: ["Layers"]),
        .library(name: "VQGAN", targets: ["VQGAN"]),
        .library(name: "CLIP", targets: ["CLIP"]),
        .library(name: "Training", targets: ["Training"]),
        .executable(name: "vqclip", targets: ["vqclip"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // MARK: C boundary
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng16", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // libjpeg reports errors by longjmp, which Swift cannot host: a small C target owns the setjmp.
        .target(name: "CJPEG", linkerSettings: [.linkedLibrary("jpeg")]),
        .systemLibrary(name: "CGIF", providers: [.apt(["libgif-dev"])]),
        // glibc allocator thresholds (mallopt is not exported by Swift's Glibc module).
        .target(name: "CAllocator"),
        // Winograd's data transforms on 8-float vectors, compiled for AVX2 and the baseline and
        // chosen at run time (Swift compiles for one instruction set).
        .target(name: "CWinograd"),

        // MARK: Libraries
        /// Paths as bytes: a reversible String form for names that are not UTF-8, and the file
        /// operations that hand the exact bytes to the system.
        .target(name: "FilePaths"),
        /// Dense Float32 tensors, reverse-mode autodiff and the differentiable ops.
        .target(name: "Tensors", dependencies: ["COpenBLAS", "CAllocator", "CWinograd"], swiftSettings: optimizeAlways),
        /// PNG and JPEG reading and writing.
        .target(name: "ImageCodecs", dependencies: ["FilePaths", "CPNG", "CJPEG", "CZlib", "CGIF"], swiftSettings: optimizeAlways),
        /// Where images meet tensors: RGBImage ↔ [1, 3, H, W] Float tensors.
        .target(name: "ImageTensors", dependencies: ["ImageCodecs", "Tensors"], swiftSettings: optimizeAlways),
        /// The procedural world of captioned shapes: seeded scenes, captions, a prompt parser, a rasterizer.
        .target(name: "ShapeWorld", dependencies: ["Tensors"], swiftSettings: optimizeAlways),
        /// Gradient-based optimisers (Adam).
        .target(name: "Optimizers", dependencies: ["Tensors"], swiftSettings: optimizeAlways),
        /// The optimisation loop around an image parameterisation, cutouts and views, prompt losses,
        /// and VQGAN+CLIP rendering.
        .target(name: "Generation", dependencies: ["FilePaths", "Tensors", "Optimizers", "Checkpoints", "ImageCodecs", "ImageTensors",
                                                   "VQGAN", "CLIP"],
                swiftSettings: optimizeAlways),
        /// Trainers for the embedded models and what they share (resumable checkpoints).
        .target(name: "Training", dependencies: ["FilePaths", "Tensors", "Optimizers", "Checkpoints", "Layers", "ShapeWorld",
                                                 "ImageCodecs", "ImageTensors", "VQGAN", "CLIP"],
                swiftSettings: optimizeAlways),
        /// File formats: PyTorch zip/legacy/TorchScript checkpoints, safetensors, YAML configs.
        .target(name: "Checkpoints", dependencies: ["FilePaths", .product(name: "Yams", package: "Yams")],
                swiftSettings: optimizeAlways),
        /// OpenAI CLIP: tokenizer, vision and text transformers, checkpoint loading, preprocessing.
        /// Strict weight loading by checkpoint key and the layers built from it (Linear, LayerNorm, Conv2d).
        .target(name: "Layers", dependencies: ["Tensors", "Checkpoints"], swiftSettings: optimizeAlways),
        .target(name: "CLIP", dependencies: ["FilePaths", "Tensors", "Checkpoints", "Layers", "CZlib"],
                resources: [.copy("Resources/bpe_simple_vocab_16e6.txt.gz"), .copy("Resources/html5-entities.txt"),
                            .copy("Resources/LICENSE-CLIP-vocab")],
                swiftSettings: optimizeAlways),

        /// The small VQGAN and CLIP trained on ShapeWorld, shipped as resources (MODELS.md).
        .target(name: "EmbeddedModels", path: "EmbeddedModels",
                resources: [.copy("vqgan"), .copy("clip")]),

        /// taming-transformers VQGAN: encoder, quantizer, decoder, patch discriminator.
        .target(name: "VQGAN", dependencies: ["FilePaths", "Tensors", "Checkpoints", "Layers"], swiftSettings: optimizeAlways),

        // MARK: Executables
        .executableTarget(name: "vqclip", dependencies: [
            "FilePaths", "Tensors", "ImageCodecs", "ImageTensors", "Checkpoints", "ShapeWorld", "Generation", "VQGAN", "CLIP", "Training",
            "EmbeddedModels",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "vqclip-bench", dependencies: ["Tensors", "Layers", "Optimizers", "VQGAN", "CLIP", "Generation", "COpenBLAS", "CAllocator"],
                          swiftSettings: optimizeAlways),

        // MARK: Tests
        /// Shared comparisons (assertClose, the parity error) and builders for every test target.
        .target(name: "TestSupport", dependencies: ["Tensors", "Checkpoints"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorsTests", dependencies: ["TestSupport", "Tensors"], swiftSettings: optimizeAlways),
        .testTarget(name: "FilePathsTests", dependencies: ["FilePaths"]),
        .testTarget(name: "ImageCodecsTests", dependencies: ["ImageCodecs", "CJPEG", "CGIF", "CZlib"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ImageTensorsTests", dependencies: ["ImageTensors", "ImageCodecs", "Tensors"]),
        .testTarget(name: "ShapeWorldTests", dependencies: ["ShapeWorld", "ImageCodecs", "ImageTensors", "Tensors"]),
        .testTarget(name: "OptimizersTests", dependencies: ["TestSupport", "Optimizers", "Tensors"]),
        .testTarget(name: "GenerationTests", dependencies: ["TestSupport", "Generation", "Tensors", "VQGAN", "CLIP",
                                                         "Checkpoints", "ImageCodecs", "ImageTensors"],
                    resources: [.copy("Fixtures")], swiftSettings: optimizeAlways),
        .testTarget(name: "TrainingTests", dependencies: ["TestSupport", "Training", "Optimizers", "Tensors", "Checkpoints", "VQGAN", "ImageCodecs"],
                    swiftSettings: optimizeAlways),
        .testTarget(name: "CheckpointsTests", dependencies: ["TestSupport", "Checkpoints"], resources: [.copy("Fixtures")]),
        .testTarget(name: "VQGANTests", dependencies: ["TestSupport", "VQGAN", "Layers", "Tensors", "Checkpoints"],
                    resources: [.copy("Fixtures")], swiftSettings: optimizeAlways),
        .testTarget(name: "CLIPTests", dependencies: ["TestSupport", "CLIP", "Layers", "Tensors", "Checkpoints"], resources: [.copy("Fixtures")],
                    swiftSettings: optimizeAlways),
        // Runs the built `vqclip` binary; depending on the executable makes SwiftPM build it first.
        .testTarget(name: "CLITests", dependencies: ["vqclip", "FilePaths", "ImageCodecs", "CLIP", "Tensors"]),
    ]
)
