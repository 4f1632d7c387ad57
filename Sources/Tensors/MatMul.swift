// Matrix products on OpenBLAS sgemm: matmul (batched, optional transposes) and linear layers.

import COpenBLAS

/// OpenBLAS runs on one thread: set once, before the first product (see `Parallel`).
private let blasOnOneThread: Void = openblas_set_num_threads(1)

/// C[m,n] = alpha * op(A) op(B) + beta * C, row-major. op(A) is [m,k], op(B) is [k,n]. A large
/// product is split into bands of C rows (or columns, when there are few rows) shared out by
/// `Parallel.chunks`, so the bands, and the bits, depend only on `Parallel.maxThreads`.
func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
          _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
          beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int) {
    guard m > 0 && n > 0 else { return }
    if k == 0 {
        // BLAS leaves C untouched for k = 0 only when beta = 1; honour beta ourselves.
        if beta != 1 { for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } } }
        return
    }
    _ = blasOnOneThread
    @Sendable func product(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                           m: Int, n: Int) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
    // Bands of 16 rows or columns, a multiple of OpenBLAS's register blocks.
    let band = 16, splitRows = m >= n, length = splitRows ? m : n
    let bands = (length + band - 1) / band
    guard Parallel.maxThreads > 1, m * n * k >= 1 << 20, bands >= 2, !WorkerThread.isWorker else {
        product(a, b, c, m: m, n: n)
        return
    }
    let A = SendableConstPointer(a), B = SendableConstPointer(b), C = SendablePointer(c)
    Parallel.chunks(bands, costPerItem: 1 << 20) { range in
        let lo = range.lowerBound * band, hi = min(length, range.upperBound * band)
        if splitRows {
            product(A.pointer + (transA ? lo : lo * lda), B.pointer, C.pointer + lo * ldc, m: hi - lo, n: n)
        } else {
            product(A.pointer, B.pointer + (transB ? lo * ldb : lo), C.pointer + lo, m: m, n: hi - lo)
        }
    }
}

extension Tensor {
    /// Matrix product over the last two dimensions: `a` is [..., M, K] (or [..., K, M] with
    /// `transposeA`) and `b` is [..., K, N] (or [..., N, K] with `transposeB`). `b` either has the
    /// same leading (batch) dimensions as `a` or is 2-D and shared by every batch. Result [..., M, N].
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        precondition(a.rank >= 2 && b.rank >= 2, "matmul needs rank >= 2, got \(a.shape) and \(b.shape)")
        let m = transposeA ? a.shape[a.rank - 1] : a.shape[a.rank - 2]
        let k = transposeA ? a.shape[a.rank - 2] : a.shape[a.rank - 1]
        let kb = transposeB ? b.shape[b.rank - 1] : b.shape[b.rank - 2]
        let n = transposeB ? b.shape[b.rank - 2] : b.shape[b.rank - 1]
        precondition(k == kb, "matmul inner dimensions differ: \(a.shape) x \(b.shape)")
        let batchShape = Array(a.shape.dropLast(2))
        let batch = product(batchShape)
        let sharedB = b.rank == 2
        precondition(sharedB || Array(b.shape.dropLast(2)) == batchShape,
                     "matmul batch dimensions differ: \(a.shape) x \(b.shape)")
        let outShape = batchShape + [m, n]
        let (lda, ldb) = (transposeA ? m : k, transposeB ? k : n)
        let (strideA, strideB, strideC) = (m * k, sharedB ? 0 : k * n, m * n)
        // A shared right operand with an untransposed left one folds the batch into M: one GEMM.
        let fold = sharedB && !transposeA

        var out = [Float](repeating: 0, count: product(outShape))
        a.data.withUnsafeBufferPointer { pa in
            b.data.withUnsafeBufferPointer { pb in
                out.withUnsafeMutableBufferPointer { pc in
                    if fold {
                        gemm(transA: false, transB: transposeB, m: batch * m, n: n, k: k,
                             pa.baseAddress!, lda: lda, pb.baseAddress!, ldb: ldb, beta: 0, pc.baseAddress!, ldc: n)
                    } else {
                        for i in 0..<batch {
                            gemm(transA: transposeA, transB: transposeB, m: m, n: n, k: k,
                                 pa.baseAddress! + i * strideA, lda: lda, pb.baseAddress! + i * strideB, ldb: ldb,
                                 beta: 0, pc.baseAddress! + i * strideC, ldc: n)
                        }
                    }
                }
            }
        }

        return Tensor(shape: outShape, data: out, parents: [a, b]) { g in
            let G = g.baseAddress!
            if a.requiresGrad {
                // dA = dC op(B)^T, or for a transposed A: dA = op(B) dC^T.
                a.accumulateGrad { da in
                    b.data.withUnsafeBufferPointer { pb in
                        if fold {
                            gemm(transA: false, transB: !transposeB, m: batch * m, n: k, k: n,
                                 G, lda: n, pb.baseAddress!, ldb: ldb, beta: 1, da.baseAddress!, ldc: k)
                        } else {
                            for i in 0..<batch {
                                let B = pb.baseAddress! + i * strideB, C = G + i * strideC
                                let D = da.baseAddress! + i * strideA
                                if transposeA {
                                    gemm(transA: transposeB, transB: true, m: k, n: m, k: n,
                                         B, lda: ldb, C, ldb: n, beta: 1, D, ldc: m)
                                } else {
                                    gemm(transA: false, transB: !transposeB, m: m, n: k, k: n,
                                         C, lda: n, B, ldb: ldb, beta: 1, D, ldc: k)
                                }
                            }
                        }
                    }
                }
            }
            if b.requiresGrad {
                // dB = op(A)^T dC, or for a transposed B: dB = dC^T op(A). A shared B sums over batches.
                b.accumulateGrad { db in
                    a.data.withUnsafeBufferPointer { pa in
                        let batches = fold ? 1 : batch, rowsM = fold ? batch * m : m
                        for i in 0..<batches {
                            let A = pa.baseAddress! + i * strideA, C = G + i * strideC
                            let D = db.baseAddress! + i * strideB
                            if transposeB {
                                gemm(transA: true, transB: transposeA, m: n, n: k, k: rowsM,
                                     C, lda: n, A, ldb: lda, beta: 1, D, ldc: k)
                            } else {
                                gemm(transA: !transposeA, transB: false, m: k, n: n, k: rowsM,
                                     A, lda: lda, C, ldb: n, beta: 1, D, ldc: n)
                            }
                        }
                    }
                }
            }
        }
    }

    /// A fully connected layer: x [..., in] · weightᵀ [in, out] + bias [out] → [..., out].
    /// `weight` is [out, in] as in PyTorch's nn.Linear.
    ///
    /// One fused op over the rows of x (no reshape nodes): the bias is written into the output
    /// before a beta = 1 sgemm, and backward forms only the gradients that are required — with
    /// frozen weights (CLIP, VQGAN in rendering) that is a single sgemm for dX.
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
        precondition(weight.rank == 2 && x.rank >= 1 && x.shape.last == weight.shape[1],
                     "linear: input \(x.shape) does not match weight \(weight.shape)")
        let inFeatures = weight.shape[1], outFeatures = weight.shape[0]
        if let bias {
            precondition(bias.count == outFeatures, "linear: bias \(bias.shape) does not match weight \(weight.shape)")
        }
        let rows = inFeatures == 0 ? product(x.shape.dropLast()) : x.count / inFeatures
        // out: [rows, out], every element written (bias rows, or beta = 0)
        var out = bias == nil ? [Float](repeating: 0, count: rows * outFeatures) : uninitializedFloats(rows * outFeatures)
        if let bias, rows > 0 {
            out.withUnsafeMutableBufferPointer { po in
                bias.data.withUnsafeBufferPointer { pb in
                    for r in 0..<rows { (po.baseAddress! + r * outFeatures).update(from: pb.baseAddress!, count: outFeatures) }
                }
            }
        }
        if rows > 0 && outFeatures > 0 {
            x.data.withUnsafeBufferPointer { px in
                weight.data.withUnsafeBufferPointer { pw in
                    out.withUnsafeMutableBufferPointer { po in
                        gemm(transA: false, transB: true, m: rows, n: outFeatures, k: inFeatures,
                             px.baseAddress!, lda: inFeatures, pw.baseAddress!, ldb: inFeatures,
                             beta: bias == nil ? 0 : 1, po.baseAddress!, ldc: outFeatures)
                    }
                }
            }
        }
        let parents = bias.map { [x, weight, $0] } ?? [x, weight]
        return Tensor(shape: Array(x.shape.dropLast()) + [outFeatures], data: out, parents: parents) { g in
            guard rows > 0 && outFeatures > 0 && inFeatures > 0 else { return }
            let G = g.baseAddress!
            if x.requiresGrad {
                // dX [rows, in] = dY [rows, out] · W [out, in]
                x.writeOrAccumulateGrad { dx, beta in
                    weight.data.withUnsafeBufferPointer { pw in
                        gemm(transA: false, transB: false, m: rows, n: inFeatures, k: outFeatures,
                             G, lda: outFeatures, pw.baseAddress!, ldb: inFeatures, beta: beta, dx.baseAddress!, ldc: inFeatures)
                    }
                }
            }
            if weight.requiresGrad {
                // dW [out, in] = dYᵀ · X
                weight.writeOrAccumulateGrad { dw, beta in
                    x.data.withUnsafeBufferPointer { px in
                        gemm(transA: true, transB: false, m: outFeatures, n: inFeatures, k: rows,
                             G, lda: outFeatures, px.baseAddress!, ldb: inFeatures, beta: beta, dw.baseAddress!, ldc: inFeatures)
                    }
                }
            }
            if let bias, bias.requiresGrad {
                // dBias = column sums of dY
                bias.accumulateGrad { db in
                    for r in 0..<rows {
                        let row = G + r * outFeatures
                        for j in 0..<outFeatures { db[j] += row[j] }
                    }
                }
            }
        }
    }
}

extension Tensor {
    /// Gives `body` the gradient buffer and the sgemm beta to use: on the first gradient an
    /// uninitialised buffer and beta 0 (the kernel overwrites it), afterwards the existing
    /// buffer and beta 1 (accumulate).
    func writeOrAccumulateGrad(_ body: (UnsafeMutableBufferPointer<Float>, Float) -> Void) {
        accumulateGrad(overwritingFresh: { dst, fresh in body(dst, fresh ? 0 : 1) })
    }
}
