// The small layers both networks are built from, each reading PyTorch's parameter names under
// its own scope (`ln_1.weight`, `conv_in.bias`): Linear, LayerNorm and Conv2d. They hold plain
// tensors, so a model loaded with `requiresGrad: true` trains through them.

import Tensors

/// PyTorch's `nn.Linear`: y = x·Wᵀ + b with `weight` [out, in] and `bias` [out].
public struct Linear {
    /// [out, in]
    public let weight: Tensor
    /// [out], absent for `bias=False` layers.
    public let bias: Tensor?

    /// Reads `weight` (and `bias`) under `w`, e.g. `attn.out_proj`.
    public init(_ w: WeightScope, in inFeatures: Int, out outFeatures: Int, bias: Bool = true) throws {
        weight = try w.tensor("weight", shape: [outFeatures, inFeatures])
        self.bias = bias ? try w.tensor("bias", shape: [outFeatures], initializer: .zeros) : nil
    }

    /// x [..., in] → [..., out].
    public func callAsFunction(_ x: Tensor) -> Tensor { Tensor.linear(x, weight: weight, bias: bias) }

    /// The same, for an x that nothing else reads: released once used when the weight is frozen
    /// (see ``release(_:readBy:)``).
    public func callAsFunction(consuming x: Tensor) -> Tensor {
        let y = self(x)
        release(x, readBy: weight)
        return y
    }
}

/// Releases the values of `temporary`, an op result the caller drops, once its only reader has
/// used it, when that reader's backward pass does not need them: a product with `weight` needs its
/// input only for the weight's own gradient, so with a frozen weight the values can go (see
/// ``Tensor/discardValues()``). Pass nil for a reader that never needs them (a sum).
public func release(_ temporary: Tensor, readBy weight: Tensor?) {
    guard !temporary.isLeaf, weight?.requiresGrad != true else { return }
    temporary.discardValues()
}

/// PyTorch's `nn.LayerNorm` over the last dimension, with per-feature affine `weight` and `bias`.
public struct LayerNorm {
    /// Scale γ [D].
    public let weight: Tensor
    /// Shift β [D].
    public let bias: Tensor
    public let eps: Float

    /// Reads `weight` and `bias` under `w`, e.g. `ln_1`.
    public init(_ w: WeightScope, features: Int, eps: Float = 1e-5) throws {
        weight = try w.tensor("weight", shape: [features], initializer: .ones)
        bias = try w.tensor("bias", shape: [features], initializer: .zeros)
        self.eps = eps
    }

    /// x [..., D] → same shape.
    public func callAsFunction(_ x: Tensor) -> Tensor { Tensor.layerNorm(x, weight: weight, bias: bias, eps: eps) }
}

/// PyTorch's `nn.Conv2d` with square kernels (`weight` [out, in, k, k], `bias` [out]), NCHW.
public struct Conv2d {
    /// [out, in, k, k]
    public let weight: Tensor
    /// [out], absent for `bias=False` convolutions (those followed by a norm, CLIP's patch embedding).
    public let bias: Tensor?
    public let stride: Int
    /// Zero padding on every side.
    public let padding: Int

    /// Reads `weight` (and `bias`) under `w`, e.g. `decoder.conv_in`.
    public init(_ w: WeightScope, in inChannels: Int, out outChannels: Int, kernel: Int,
                stride: Int = 1, padding: Int = 0, bias: Bool = true) throws {
        weight = try w.tensor("weight", shape: [outChannels, inChannels, kernel, kernel])
        self.bias = bias ? try w.tensor("bias", shape: [outChannels], initializer: .zeros) : nil
        self.stride = stride
        self.padding = padding
    }

    /// x [N, in, H, W] → [N, out, H', W'].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        Tensor.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding)
    }

    /// The same, for an x that nothing else reads: released once used when the weight is frozen
    /// (see ``release(_:readBy:)``).
    public func callAsFunction(consuming x: Tensor) -> Tensor {
        let y = self(x)
        release(x, readBy: weight)
        return y
    }
}
