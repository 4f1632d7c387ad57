// Arithmetic with broadcasting (+ - * /), scalar arithmetic, and the helper that unary ops
// (activations, exp, pow...) are built on.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Kernels

/// out = f(a, b) over a broadcast of `a` and `b`.
@inline(__always)
func broadcastBinary(_ a: Tensor, _ b: Tensor, _ f: @escaping @Sendable (Float, Float) -> Float) -> (shape: [Int], data: [Float]) {
    let outShape = a.shape == b.shape ? a.shape : broadcastShape(a.shape, b.shape)
    let count = product(outShape)
    var out = uninitializedFloats(count)   // every element is written below
    a.data.withUnsafeBufferPointer { pa in
        b.data.withUnsafeBufferPointer { pb in
            out.withUnsafeMutableBufferPointer { po in
                let A = SendableConstPointer(pa.baseAddress!), B = SendableConstPointer(pb.baseAddress!)
                let O = SendablePointer(po.baseAddress!)
                if a.shape == b.shape {
                    Parallel.chunks(count) { r in for i in r { O[i] = f(A[i], B[i]) } }
                    return
                }
                let rows = BroadcastRows(out: outShape, a: a.shape, b: b.shape)
                let n = rows.rowLength, sa = rows.strideA, sb = rows.strideB
                Parallel.chunks(rows.rowCount, costPerItem: n) { range in
                    for r in range {
                        let (o, ia, ib) = rows.offsets(r)
                        for j in 0..<n { O[o + j] = f(A[ia + j * sa], B[ib + j * sb]) }
                    }
                }
            }
        }
    }
    return (outShape, out)
}

/// grad_x += reduce(g * d(a, b)) for one operand `x` of a broadcast binary op, where `d` is the
/// partial derivative evaluated at the broadcast operands.
@inline(__always)
func broadcastBinaryGrad(_ g: UnsafeBufferPointer<Float>, outShape: [Int], a: Tensor, b: Tensor,
                         into x: Tensor, _ d: (Float, Float) -> Float) {
    let count = g.count
    var full = [Float](repeating: 0, count: count)
    a.data.withUnsafeBufferPointer { pa in
        b.data.withUnsafeBufferPointer { pb in
            if a.shape == outShape && b.shape == outShape {
                for i in 0..<count { full[i] = g[i] * d(pa[i], pb[i]) }
            } else {
                let rows = BroadcastRows(out: outShape, a: a.shape, b: b.shape)
                let n = rows.rowLength, sa = rows.strideA, sb = rows.strideB
                for r in 0..<rows.rowCount {
                    let (o, ia, ib) = rows.offsets(r)
                    for j in 0..<n { full[o + j] = g[o + j] * d(pa[ia + j * sa], pb[ib + j * sb]) }
                }
            }
        }
    }
    x.accumulateGrad { dst in
        full.withUnsafeBufferPointer { accumulateBroadcastGrad($0, outShape: outShape, shape: x.shape, into: dst) }
    }
}

/// grad_x += g summed down to x's shape; a same-shape first gradient is a plain copy (residual
/// additions hand the same gradient to both branches).
func addGrad(_ g: UnsafeBufferPointer<Float>, outShape: [Int], to x: Tensor) {
    if x.shape == outShape && x.gradData == nil {
        x.gradData = Array(g)
    } else {
        x.accumulateGrad { accumulateBroadcastGrad(g, outShape: outShape, shape: x.shape, into: $0) }
    }
}

/// Builds a unary elementwise op. `derivative(x, y)` gives dy/dx from the input and the output.
@inline(__always)
public func unaryOp(_ x: Tensor, _ f: @escaping @Sendable (Float) -> Float,
                    derivative: @escaping @Sendable (_ x: Float, _ y: Float) -> Float) -> Tensor {
    let count = x.count
    var out = uninitializedFloats(count)
    x.data.withUnsafeBufferPointer { px in
        out.withUnsafeMutableBufferPointer { po in
            let X = SendableConstPointer(px.baseAddress!), O = SendablePointer(po.baseAddress!)
            Parallel.chunks(count, costPerItem: 4) { r in for i in r { O[i] = f(X[i]) } }
        }
    }
    // Backward reads the output through its own copy-on-write reference to the array rather than
    // through the result tensor, which would make a retain cycle.
    let y = out
    return Tensor(shape: x.shape, data: out, parents: [x]) { g in
        x.accumulateGrad { dst in
            x.data.withUnsafeBufferPointer { px in
                y.withUnsafeBufferPointer { py in
                    let X = SendableConstPointer(px.baseAddress!), Y = SendableConstPointer(py.baseAddress!)
                    let G = SendableConstPointer(g.baseAddress!), D = SendablePointer(dst.baseAddress!)
                    Parallel.chunks(count, costPerItem: 4) { r in
                        for i in r { D[i] += G[i] * derivative(X[i], Y[i]) }
                    }
                }
            }
        }
    }
}

// MARK: - Binary arithmetic

extension Tensor {
    /// Elementwise sum with broadcasting.
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        let (shape, data) = broadcastBinary(a, b) { $0 + $1 }
        return Tensor(shape: shape, data: data, parents: [a, b]) { g in
            if a.requiresGrad { addGrad(g, outShape: shape, to: a) }
            if b.requiresGrad { addGrad(g, outShape: shape, to: b) }
        }
    }

    /// Elementwise difference with broadcasting.
    public static func - (a: Tensor, b: Tensor) -> Tensor {
        let (shape, data) = broadcastBinary(a, b) { $0 - $1 }
        return Tensor(shape: shape, data: data, parents: [a, b]) { g in
            if a.requiresGrad { a.accumulateGrad { accumulateBroadcastGrad(g, outShape: shape, shape: a.shape, into: $0) } }
            if b.requiresGrad { broadcastBinaryGrad(g, outShape: shape, a: a, b: b, into: b) { _, _ in -1 } }
        }
    }

    /// Elementwise product with broadcasting.
    public static func * (a: Tensor, b: Tensor) -> Tensor {
        let (shape, data) = broadcastBinary(a, b) { $0 * $1 }
        return Tensor(shape: shape, data: data, parents: [a, b]) { g in
            if a.requiresGrad { broadcastBinaryGrad(g, outShape: shape, a: a, b: b, into: a) { _, y in y } }
            if b.requiresGrad { broadcastBinaryGrad(g, outShape: shape, a: a, b: b, into: b) { x, _ in x } }
        }
    }

    /// Elementwise quotient with broadcasting.
    public static func / (a: Tensor, b: Tensor) -> Tensor {
        let (shape, data) = broadcastBinary(a, b) { $0 / $1 }
        return Tensor(shape: shape, data: data, parents: [a, b]) { g in
            if a.requiresGrad { broadcastBinaryGrad(g, outShape: shape, a: a, b: b, into: a) { _, y in 1 / y } }
            if b.requiresGrad { broadcastBinaryGrad(g, outShape: shape, a: a, b: b, into: b) { x, y in -x / (y * y) } }
        }
    }

    /// Negation.
    public static prefix func - (x: Tensor) -> Tensor { x * -1 }

    /// Adds a constant.
    public static func + (x: Tensor, c: Float) -> Tensor { unaryOp(x, { $0 + c }, derivative: { _, _ in 1 }) }
    public static func + (c: Float, x: Tensor) -> Tensor { x + c }
    /// Subtracts a constant.
    public static func - (x: Tensor, c: Float) -> Tensor { x + (-c) }
    public static func - (c: Float, x: Tensor) -> Tensor { unaryOp(x, { c - $0 }, derivative: { _, _ in -1 }) }
    /// Multiplies by a constant.
    public static func * (x: Tensor, c: Float) -> Tensor { unaryOp(x, { $0 * c }, derivative: { _, _ in c }) }
    public static func * (c: Float, x: Tensor) -> Tensor { x * c }
    /// Divides by a constant.
    public static func / (x: Tensor, c: Float) -> Tensor { x * (1 / c) }

    /// e^x.
    public func exp() -> Tensor { unaryOp(self, { expf($0) }, derivative: { _, y in y }) }
    /// Natural logarithm.
    public func log() -> Tensor { unaryOp(self, { logf($0) }, derivative: { x, _ in 1 / x }) }
}
