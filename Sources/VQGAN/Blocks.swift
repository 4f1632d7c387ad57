// The building blocks of taming's encoder and decoder (taming/modules/diffusionmodules/model.py):
// GroupNorm (32 groups in taming, fewer for small models; eps 1e-6), ResnetBlock, single-head spatial AttnBlock, nearest-x2
// Upsample and the asymmetric-pad stride-2 Downsample. All NCHW, all differentiable.

import Layers
import Tensors

/// taming's `Normalize`: GroupNorm (32 groups in taming's models), eps 1e-6, per-channel affine.
public struct Normalize {
    /// Per-channel scale γ [C].
    public let weight: Tensor
    /// Per-channel shift β [C].
    public let bias: Tensor
    /// Number of channel groups (``DDConfig/normGroups``).
    public let groups: Int

    /// Reads `weight` and `bias` under `w`, e.g. `encoder.norm_out`.
    public init(_ w: WeightScope, channels: Int, groups: Int = 32) throws {
        weight = try w.tensor("weight", shape: [channels], initializer: .ones)
        bias = try w.tensor("bias", shape: [channels], initializer: .zeros)
        self.groups = groups
    }

    /// x [N, C, H, W] → same shape.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        Tensor.groupNorm(x, groups: groups, weight: weight, bias: bias, eps: 1e-6)
    }

    /// `callAsFunction(x).silu()` as one fused op (the normalised activation is not stored).
    public func withSiLU(_ x: Tensor) -> Tensor {
        Tensor.groupNormSiLU(x, groups: groups, weight: weight, bias: bias, eps: 1e-6)
    }
}

/// h = conv2(swish(norm2(conv1(swish(norm1(x)))))); out = shortcut(x) + h, where the shortcut is a
/// 1×1 convolution (`nin_shortcut`) when the channel count changes. No time embedding, no dropout.
public struct ResnetBlock {
    public let norm1: Normalize
    public let conv1: Conv2d
    public let norm2: Normalize
    public let conv2: Conv2d
    /// 1×1 convolution on the skip path, present when the channel count changes.
    public let ninShortcut: Conv2d?

    /// Reads `norm1`, `conv1`, `norm2`, `conv2` (and `nin_shortcut`) under `w`.
    public init(_ w: WeightScope, in inChannels: Int, out outChannels: Int, groups: Int = 32) throws {
        norm1 = try Normalize(w.scope("norm1"), channels: inChannels, groups: groups)
        conv1 = try Conv2d(w.scope("conv1"), in: inChannels, out: outChannels, kernel: 3, padding: 1)
        norm2 = try Normalize(w.scope("norm2"), channels: outChannels, groups: groups)
        conv2 = try Conv2d(w.scope("conv2"), in: outChannels, out: outChannels, kernel: 3, padding: 1)
        ninShortcut = inChannels == outChannels
            ? nil : try Conv2d(w.scope("nin_shortcut"), in: inChannels, out: outChannels, kernel: 1)
    }

    /// x [N, in, H, W] → [N, out, H, W].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        // The activations feed only convolutions and the sum, whose backward passes do not read
        // them when the weights are frozen: they are released as soon as they are used (conv1's
        // output stays, norm2's backward needs it).
        let h = conv1(consuming: norm1.withSiLU(x))
        let residual = conv2(consuming: norm2.withSiLU(h))
        let out = (ninShortcut?(x) ?? x) + residual
        release(residual, readBy: nil)
        return out
    }
}

/// Single-head self-attention over the H·W positions with the full channel count as head size:
/// scores = softmax(q kᵀ / √C), out = x + proj_out(scores v). q, k, v and proj_out are 1×1
/// convolutions, applied here as matrix products on the [N, HW, C] layout.
public struct AttnBlock {
    public let norm: Normalize
    public let q: Conv2d
    public let k: Conv2d
    public let v: Conv2d
    public let projOut: Conv2d
    let channels: Int

    /// Reads `norm`, `q`, `k`, `v` and `proj_out` under `w`.
    public init(_ w: WeightScope, channels: Int, groups: Int = 32) throws {
        self.channels = channels
        norm = try Normalize(w.scope("norm"), channels: channels, groups: groups)
        q = try Conv2d(w.scope("q"), in: channels, out: channels, kernel: 1)
        k = try Conv2d(w.scope("k"), in: channels, out: channels, kernel: 1)
        v = try Conv2d(w.scope("v"), in: channels, out: channels, kernel: 1)
        projOut = try Conv2d(w.scope("proj_out"), in: channels, out: channels, kernel: 1)
    }

    /// x [N, C, H, W] → same shape.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let hw = norm(x).reshaped([n, c, h * w])
        // [N, C, HW]ᵀ · Wᵀ = [N, HW, C]: the 1×1 convolution without materialising the transpose.
        func project(_ conv: Conv2d) -> Tensor {
            let y = Tensor.matmul(hw, conv.weight.reshaped([c, c]), transposeA: true, transposeB: true)
            return (y + conv.bias!).reshaped([n, 1, h * w, c])
        }
        let attended = Tensor.scaledDotProductAttention(project(q), project(k), project(v),
                                                        scale: 1 / Float(c).squareRoot())
        // [N, HW, C] · Wᵀ + b, back to [N, C, H, W].
        let out = Tensor.linear(attended.reshaped([n, h * w, c]), weight: projOut.weight.reshaped([c, c]),
                                bias: projOut.bias)
        return x + out.permuted([0, 2, 1]).reshaped([n, c, h, w])
    }
}

/// Nearest-neighbour ×2 upsampling followed by a 3×3 convolution.
public struct Upsample {
    public let conv: Conv2d

    /// Reads `conv` under `w` (an `upsample` module).
    public init(_ w: WeightScope, channels: Int) throws {
        conv = try Conv2d(w.scope("conv"), in: channels, out: channels, kernel: 3, padding: 1)
    }

    /// x [N, C, H, W] → [N, C, 2H, 2W].
    public func callAsFunction(_ x: Tensor) -> Tensor { conv(consuming: Tensor.upsampleNearest2x(x)) }
}

/// taming's downsampling: zero-pad one column on the right and one row at the bottom, then a 3×3
/// convolution with stride 2 and no padding (H → H/2 for even H).
public struct Downsample {
    public let conv: Conv2d

    /// Reads `conv` under `w` (a `downsample` module).
    public init(_ w: WeightScope, channels: Int) throws {
        conv = try Conv2d(w.scope("conv"), in: channels, out: channels, kernel: 3, stride: 2, padding: 0)
    }

    /// x [N, C, H, W] → [N, C, H/2, W/2].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        conv(Tensor.pad(x, left: 0, right: 1, top: 0, bottom: 1))
    }
}
