// `vqclip-bench step`: one whole VQGAN+CLIP step at the real architectures (f16_16384 +
// ViT-B/32, random weights): the median of K steps after a warm-up step, the peak RSS of the
// process, the time per phase, and the GEMM rate of the same process for scale. The step is the
// renderer's (straight-through quantisation, decode, clamp, "original" cutouts, CLIP, spherical
// loss, Adam, codebook clamp); the graph is cut at the image so that CLIP's and the decoder's
// backward passes are timed apart, with the same gradients as one backward pass.

import CLIP
import COpenBLAS
import Dispatch
import Foundation
import Generation
import Layers
import Optimizers
import Tensors
import VQGAN

struct StepBenchmark {
    var size = 256
    var threads = Parallel.maxThreads
    var steps = 3
    var cutn = 32
    var json = false

    init(arguments: [String]) throws {
        var rest = arguments[...]
        func value(_ name: String) throws -> Int {
            guard let text = rest.popFirst(), let v = Int(text), v > 0 else { throw BenchError("\(name) needs a positive integer") }
            return v
        }
        while let word = rest.popFirst() {
            switch word {
            case "--size": size = try value(word)
            case "--threads": threads = try value(word)
            case "--steps": steps = try value(word)
            case "--cutn": cutn = try value(word)
            case "--json": json = true
            default: throw BenchError("unknown option \(word) (step takes --size N --threads T --steps K --cutn N --json)")
            }
        }
    }

    static let phases = ["quantize", "decoder_forward", "cutouts", "clip_forward", "clip_backward", "decoder_backward", "optimizer"]

    func run() {
        Parallel.maxThreads = threads
        let gemm = gemmGFLOPs()
        let config = VQGANConfig.f16_16384
        guard let vqgan = try? VQModel(config: config, weights: WeightLoader(randomSeed: 7)) else {
            print("cannot build the VQGAN"); return
        }
        let clip = CLIPModel.random(.vitB32, seed: 11)
        let f = config.ddconfig.downsamplingFactor
        let z = Tensor.randn([1, config.embedDim, size / f, size / f], std: 0.05, seed: 3, requiresGrad: true)
        let target = PromptTarget(label: "prompt", embeddings: Tensor.randn([1, clip.configuration.embedDim], seed: 4), weight: 1, stop: -.infinity)
        let adam = Adam(parameters: [z], learningRate: 0.1)
        var rng = SeededGenerator(seed: 5)

        var times: [[String: Double]] = [], cpuTimes: [[String: Double]] = []
        for _ in 0...steps {
            var t: [String: Double] = [:], cpu: [String: Double] = [:]
            func timed<T>(_ phase: String, _ body: () -> T) -> T {
                let start = DispatchTime.now().uptimeNanoseconds, startCPU = cpuSeconds()
                let result = body()
                t[phase, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
                cpu[phase, default: 0] += cpuSeconds() - startCPU
                return result
            }
            adam.zeroGrad()
            let quantized = timed("quantize") { vqgan.quantize(z).quantized }
            let image = timed("decoder_forward") { ((vqgan.decode(quantized) + 1) * 0.5).clampedWithGradient(min: 0, max: 1) }
            let leaf = Tensor(shape: image.shape, data: image.data, requiresGrad: true)
            let views = timed("cutouts") {
                CutoutBatch.random(count: cutn, cutSize: clip.configuration.imageResolution, height: size, width: size,
                                   filter: .lanczosBicubic, using: &rng).apply(leaf).clampedWithGradient(min: 0, max: 1)
            }
            let loss = timed("clip_forward") { target.loss(clip.encodeImage(CLIPPreprocess.normalize(views))) }
            timed("clip_backward") { loss.backward() }
            let imageGrad = leaf.gradData!
            timed("decoder_backward") { image.backward(seed: imageGrad) }
            timed("optimizer") {
                adam.step()
                Renderer.clampToCodebook(z, quantizer: vqgan.quantizer)
            }
            times.append(t)
            cpuTimes.append(cpu)
        }
        // The first step warms caches and allocators; the median of the rest is reported.
        let measured = Array(times.dropFirst())
        func median(_ values: [Double]) -> Double {
            let s = values.sorted()
            return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
        let stepSeconds = median(measured.map { $0.values.reduce(0, +) })
        let breakdown = Self.phases.map { phase in (phase, median(measured.map { t in t[phase] ?? 0 })) }
        // CPU seconds of all threads per phase: steadier than wall time when other processes share
        // the cores (on a quiet machine, about threads × the wall time of the parallel phases).
        let cpuBreakdown = Self.phases.map { phase in (phase, median(cpuTimes.dropFirst().map { t in t[phase] ?? 0 })) }
        let peak = peakRSSBytes()
        if json {
            let parts = breakdown.map { "\"\($0.0)\":\(rounded($0.1))" }.joined(separator: ",")
            let cpuParts = cpuBreakdown.map { "\"\($0.0)\":\(rounded($0.1))" }.joined(separator: ",")
            print("{\"tool\":\"vqclip\",\"size\":\(size),\"threads\":\(threads),\"cutn\":\(cutn),\"steps\":\(steps),"
                  + "\"step_s\":\(rounded(stepSeconds)),\"peak_rss_bytes\":\(peak),\"breakdown\":{\(parts)},\"cpu_breakdown\":{\(cpuParts)},"
                  + "\"gemm_gflops\":\(rounded(gemm))}")
        } else {
            print("vqclip step at \(size)x\(size), \(cutn) cutouts, \(threads) threads: \(String(format: "%.3f", stepSeconds)) s "
                  + "(median of \(steps)), peak RSS \(String(format: "%.2f", Double(peak) / 1e9)) GB, sgemm \(String(format: "%.1f", gemm)) GFLOP/s")
            print("  phase               wall s    cpu s")
            for ((phase, seconds), (_, cpuSeconds)) in zip(breakdown, cpuBreakdown) {
                print("  \(phase.padding(toLength: 18, withPad: " ", startingAt: 0)) \(String(format: "%7.3f", seconds))  \(String(format: "%7.3f", cpuSeconds))")
            }
        }
    }

    private func rounded(_ v: Double) -> Double { (v * 10000).rounded() / 10000 }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// sgemm 2048³ with OpenBLAS's own threading on `Parallel.maxThreads` threads, best of three, in
/// GFLOP/s: the machine's ceiling. OpenBLAS goes back to one thread after, as the library keeps it.
func gemmGFLOPs(size: Int = 2048) -> Double {
    openblas_set_num_threads(Int32(Parallel.maxThreads))
    defer { openblas_set_num_threads(1) }
    let a = Tensor.randn([size, size], seed: 1).data, b = Tensor.randn([size, size], seed: 2).data
    var c = [Float](repeating: 0, count: size * size)
    let seconds = bestSeconds(repeats: 3) {
        a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(size), Int32(size), Int32(size), 1,
                        pa.baseAddress!, Int32(size), pb.baseAddress!, Int32(size), 0, pc.baseAddress!, Int32(size))
        } } }
    }
    return 2 * Double(size * size * size) / seconds * 1e-9
}

/// The process's peak resident set size (getrusage's ru_maxrss, kilobytes on Linux).
func peakRSSBytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss * 1024
}
