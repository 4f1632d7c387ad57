// vqclip-bench: op-level throughput on this machine, printed as one table. The GEMM rate measured
// first is the reference every other row is compared with ("fraction of GEMM").

import Foundation
import Dispatch
import Tensors
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Best wall time of `repeats` runs of `body`, in seconds (one untimed warm-up run first).
func bestSeconds(repeats: Int, _ body: () -> Void) -> Double {
    body()
    var best = Double.infinity
    for _ in 0..<max(1, repeats) {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
    }
    return best
}

struct Row {
    var name: String
    var shape: String
    var seconds: Double
    var gflops: Double
}

// `vqclip-bench step [--size N] [--threads T] [--steps K] [--cutn N] [--json]`: the whole step.
if CommandLine.arguments.dropFirst().first == "step" {
    do { try StepBenchmark(arguments: Array(CommandLine.arguments.dropFirst(2))).run() } catch {
        FileHandle.standardError.write(Data("vqclip-bench: \(error)\n".utf8))
        exit(2)
    }
    exit(0)
}

// `vqclip-bench vqgan`: only the GroupNorm+SiLU rows and the decoder timings, a quicker loop.
if CommandLine.arguments.dropFirst().first == "vqgan" {
    for r in conv3x3Benchmarks() {
        print(r.name, String(format: "direct %.1f ms, winograd %.1f ms (%.2fx)", r.direct * 1000, r.winograd * 1000, r.direct / r.winograd))
    }
    for r in groupNormBenchmarks(repeats: 3) { print(r.name, r.seconds * 1000, "ms") }
    for r in vqganBenchmarks() { print(r.name, r.seconds, "s") }
    exit(0)
}
var rows: [Row] = []

// Reference: C = A·B at 2048³ with OpenBLAS on all cores. Timed before and after the other rows,
// best of both, so that a burst of load from other processes skews the fractions less.
let size = 2048
let gemmBefore = gemmGFLOPs(size: size)

// The VQGAN decoder's 3x3 convolutions (batch 1, padding 1). Forward+backward counts three
// convolution-sized products (output, input gradient, weight gradient); "frozen" is the rendering
// case where only the input gradient is formed.
for (channels, side, repeats) in [(128, 256, 2), (256, 64, 5), (512, 16, 10)] {
    let shape = "[1,\(channels),\(side),\(side)] 3x3 ->\(channels)"
    let flops = 2 * Double(channels * channels * 9) * Double(side * side)
    let x = Tensor.randn([1, channels, side, side], seed: 3, requiresGrad: true)
    let w = Tensor.randn([channels, channels, 3, 3], std: 0.02, seed: 4, requiresGrad: true)
    let frozen = Tensor(shape: w.shape, data: w.data)
    let bias = Tensor.randn([channels], seed: 5)
    let seed = [Float](repeating: 1, count: x.count)
    let forward = bestSeconds(repeats: repeats) {
        _ = Autograd.withoutGrad { Tensor.conv2d(x, weight: w, bias: bias, padding: 1) }
    }
    rows.append(Row(name: "conv2d fwd", shape: shape, seconds: forward, gflops: flops / forward * 1e-9))
    let both = bestSeconds(repeats: repeats) {
        x.zeroGrad(); w.zeroGrad()
        Tensor.conv2d(x, weight: w, bias: bias, padding: 1).backward(seed: seed)
    }
    rows.append(Row(name: "conv2d fwd+bwd (dX, dW)", shape: shape, seconds: both, gflops: 3 * flops / both * 1e-9))
    let inputOnly = bestSeconds(repeats: repeats) {
        x.zeroGrad()
        Tensor.conv2d(x, weight: frozen, bias: bias, padding: 1).backward(seed: seed)
    }
    rows.append(Row(name: "conv2d fwd+bwd (dX, frozen W)", shape: shape, seconds: inputOnly,
                    gflops: 2 * flops / inputOnly * 1e-9))
}

for r in attentionBenchmarks(repeats: 3) {
    rows.append(Row(name: r.name, shape: "", seconds: r.seconds, gflops: r.gflops))
}

let gemmRate = max(gemmBefore, gemmGFLOPs(size: size))
let gemmSeconds = 2 * Double(size * size * size) / gemmRate * 1e-9
rows.insert(Row(name: "sgemm \(Parallel.maxThreads) threads", shape: "\(size)x\(size)x\(size)",
                seconds: gemmSeconds, gflops: gemmRate), at: 0)

func padded(_ s: String, _ width: Int, right: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - s.count))
    return right ? fill + s : s + fill
}
func fixed(_ v: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let r = (v * scale).rounded() / scale
    var s = String(r)
    if let dot = s.firstIndex(of: ".") {
        let decimals = s.distance(from: dot, to: s.endIndex) - 1
        if decimals < digits { s += String(repeating: "0", count: digits - decimals) }
    }
    return s
}

let nameWidth = max(4, rows.map(\.name.count).max()!), shapeWidth = max(5, rows.map(\.shape.count).max()!)
print(padded("name", nameWidth) + "  " + padded("shape", shapeWidth) + "  " + padded("ms", 9, right: true)
      + "  " + padded("GFLOP/s", 8, right: true) + "  " + padded("of GEMM", 8, right: true))
print(String(repeating: "-", count: nameWidth + shapeWidth + 37))
for r in rows {
    print(padded(r.name, nameWidth) + "  " + padded(r.shape, shapeWidth) + "  "
          + padded(fixed(r.seconds * 1000, 2), 9, right: true) + "  " + padded(fixed(r.gflops, 1), 8, right: true)
          + "  " + padded(fixed(r.gflops / gemmRate, 2), 8, right: true))
}
print("(attention FLOPs count the matrix products; groupnorm+silu rows are a nominal throughput index)")
// Whole-model timings: the pieces of one VQGAN+CLIP step at the real architectures' shapes.
let modelRows = vqganBenchmarks() + clipBenchmarks()
if !modelRows.isEmpty {
    let width = modelRows.map(\.name.count).max()!
    print("\nmodel timings (best run after a warm-up run)")
    for r in modelRows { print(padded(r.name, width) + "  " + padded(fixed(r.seconds, 3), 8, right: true) + " s") }
}

var load = [Double](repeating: 0, count: 1)
if getloadavg(&load, 1) == 1 {
    let busy = load[0] > Double(Parallel.maxThreads) + 0.5
    print("load average \(fixed(load[0], 2)) on \(Parallel.maxThreads) cores"
          + (busy ? ": other processes were running, so the times are pessimistic" : ""))
}
