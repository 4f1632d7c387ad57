// The tensor type: dense contiguous row-major Float32 storage, an explicit shape, and the
// bookkeeping that reverse-mode autodiff needs (parents, a backward closure, an accumulated grad).

import CAllocator

/// Tuned once, on the first op: keeps freed large tensors in the heap for reuse (see allocator_shim.h).
private let allocatorTuned: Void = vqclip_keep_large_allocations()

/// A dense, contiguous, row-major Float32 tensor (images are NCHW) that can take part in
/// reverse-mode automatic differentiation.
///
/// Leaves are created with ``init(shape:data:requiresGrad:)``. Every op on tensors returns a new
/// tensor; when any input requires a gradient (and ``Autograd/isEnabled`` is true) the result
/// remembers how to push its gradient back. Calling ``backward(seed:)`` on a scalar result fills
/// ``grad`` on every leaf that asked for one. Inputs that do not require gradients (frozen model
/// weights) are never given a gradient, so their backward work is skipped entirely.
public final class Tensor {
    /// Extent of each dimension, outermost first.
    public let shape: [Int]
    /// The elements in row-major order; `data.count == shape.product` (empty once
    /// ``discardValues()`` released them).
    public var data: [Float] { didSet { version &+= 1 } }
    /// Counts changes of ``data`` (every write, in place or whole), so that values derived from a
    /// tensor's contents (a frozen kernel's Winograd transform) can tell when they are stale.
    private(set) var version = 0
    /// Number of elements.
    public let count: Int
    /// Whether backward computes a gradient for this tensor.
    public let requiresGrad: Bool
    /// Accumulated gradient, same layout as `data`. Filled by ``backward(seed:)`` for leaves that
    /// require gradients (and for non-leaves that called ``retainGrad()``).
    public internal(set) var gradData: [Float]?

    /// Inputs that require gradients; only they are visited by backward.
    var parents: [Tensor]
    /// Pushes this tensor's gradient (`gradData`) into the parents' gradients.
    var backwardFn: ((UnsafeBufferPointer<Float>) -> Void)?
    var retainsGrad = false

    /// Creates a leaf tensor. `data.count` must equal the product of `shape`.
    public init(shape: [Int], data: [Float], requiresGrad: Bool = false) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        precondition(data.count == shape.reduce(1, *),
                     "data has \(data.count) elements but shape \(shape) needs \(shape.reduce(1, *))")
        self.shape = shape
        self.data = data
        self.count = data.count
        self.requiresGrad = requiresGrad
        self.parents = []
    }

    /// Creates an op result. The backward closure is kept only when some parent requires a gradient
    /// and autodiff is enabled; otherwise the result is a constant and nothing is retained.
    init(shape: [Int], data: [Float], parents: [Tensor],
         backward: @escaping (UnsafeBufferPointer<Float>) -> Void) {
        _ = allocatorTuned
        self.shape = shape
        self.data = data
        self.count = data.count
        let tracked = Autograd.isEnabled ? parents.filter { $0.requiresGrad } : []
        self.requiresGrad = !tracked.isEmpty
        self.parents = tracked
        self.backwardFn = tracked.isEmpty ? nil : backward
    }

    /// A tensor filled with `value`.
    public convenience init(repeating value: Float, shape: [Int], requiresGrad: Bool = false) {
        self.init(shape: shape, data: [Float](repeating: value, count: shape.reduce(1, *)),
                  requiresGrad: requiresGrad)
    }

    /// A 0-dimensional tensor holding one value.
    public convenience init(scalar: Float, requiresGrad: Bool = false) {
        self.init(shape: [], data: [scalar], requiresGrad: requiresGrad)
    }

    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// True when this tensor was created by the user rather than by an op.
    public var isLeaf: Bool { backwardFn == nil && parents.isEmpty }
    /// The single value of a one-element tensor.
    public var item: Float {
        precondition(count == 1, "item needs a one-element tensor, shape is \(shape)")
        return data[0]
    }

    /// The accumulated gradient as a tensor of the same shape, or nil if none was computed.
    public var grad: Tensor? { gradData.map { Tensor(shape: shape, data: $0) } }

    /// Keeps this (non-leaf) tensor's gradient after backward, for inspection.
    public func retainGrad() { retainsGrad = true }

    /// Drops the accumulated gradient (use between optimizer steps).
    public func zeroGrad() { gradData = nil }

    /// Releases the values of an op result that nothing will read again, keeping its place in the
    /// graph: for a temporary whose consumers' backward passes do not read it (a convolution with
    /// frozen weights, a sum) and that the caller drops. Between a network's layers this frees most
    /// of the activation memory a backward pass would otherwise hold. Reading the values
    /// afterwards is a programming error.
    public func discardValues() {
        precondition(!isLeaf, "discardValues is for op results, not for leaves")
        data = []
    }

    /// A copy that shares no graph history: a constant with the same values.
    public func detached() -> Tensor { Tensor(shape: shape, data: data) }

    /// Adds into the gradient buffer, allocating it (zero-filled) on first use.
    func accumulateGrad(_ body: (UnsafeMutableBufferPointer<Float>) -> Void) {
        if gradData == nil { gradData = [Float](repeating: 0, count: count) }
        gradData!.withUnsafeMutableBufferPointer { body($0) }
    }

    /// Like ``accumulateGrad(_:)``, but on first use the buffer is left uninitialised and `body` is
    /// told so (`fresh == true`): it must then write every element instead of adding, which saves a
    /// zero-fill and a read of the buffer per op on the large decoder activations.
    func accumulateGrad(overwritingFresh body: (_ dst: UnsafeMutableBufferPointer<Float>, _ fresh: Bool) -> Void) {
        if gradData == nil {
            var fresh = uninitializedFloats(count)
            fresh.withUnsafeMutableBufferPointer { body($0, true) }
            gradData = fresh
        } else {
            gradData!.withUnsafeMutableBufferPointer { body($0, false) }
        }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let preview = data.prefix(8).map { String($0) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), data: [\(preview)\(count > 8 ? ", ..." : "")])"
    }
}

/// Product of the dimensions.
@inline(__always) func product(_ dims: some Collection<Int>) -> Int { dims.reduce(1, *) }

/// Row-major strides of a shape.
func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i] = s
        s *= shape[i]
    }
    return strides
}

/// Normalises a possibly negative axis against a rank.
func normalizeAxis(_ axis: Int, rank: Int) -> Int {
    let a = axis < 0 ? axis + rank : axis
    precondition(a >= 0 && a < rank, "axis \(axis) out of range for rank \(rank)")
    return a
}

/// A Float array whose contents the caller overwrites completely: skips the zero-fill, which on
/// large feature maps costs as much as the kernel itself.
@inline(__always)
func uninitializedFloats(_ count: Int) -> [Float] {
    [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
}
