// taming's Decoder: conv_in from z_channels, the middle (ResnetBlock, AttnBlock, ResnetBlock), then
// the levels from the lowest resolution up (num_res_blocks+1 ResnetBlocks each, AttnBlocks at the
// attention resolutions, nearest ×2 Upsample between levels), GroupNorm, swish and conv_out.
// No tanh: the output is unbounded (about [−1, 1]).

import Layers
import Tensors

/// Latent [N, z_channels, h, w] → image [N, out_ch, h·f, w·f] (f = 2^(levels−1)).
/// Parameter names follow the checkpoint: `decoder.up.{i}` is stored by level index (up.0 is full
/// resolution) and executed from the last index down to 0.
public struct Decoder {
    /// One resolution level: `block.{j}`, `attn.{j}` (empty or one per block) and `upsample`.
    public struct Level {
        public let blocks: [ResnetBlock]
        public let attentions: [AttnBlock]
        public let upsample: Upsample?
    }

    public let convIn: Conv2d
    public let midBlock1: ResnetBlock
    public let midAttention: AttnBlock
    public let midBlock2: ResnetBlock
    /// Indexed like the checkpoint's `up.{i}`: `levels[0]` is the full-resolution level.
    public let levels: [Level]
    public let normOut: Normalize
    public let convOut: Conv2d

    /// Builds the decoder under the scope `w` (normally `decoder`).
    public init(_ w: WeightScope, config d: DDConfig) throws {
        let g = d.normGroups
        let count = d.chMult.count
        var blockIn = d.ch * d.chMult[count - 1]
        var res = d.resolution >> (count - 1)
        convIn = try Conv2d(w.scope("conv_in"), in: d.zChannels, out: blockIn, kernel: 3, padding: 1)
        midBlock1 = try ResnetBlock(w.scope("mid").scope("block_1"), in: blockIn, out: blockIn, groups: g)
        midAttention = try AttnBlock(w.scope("mid").scope("attn_1"), channels: blockIn, groups: g)
        midBlock2 = try ResnetBlock(w.scope("mid").scope("block_2"), in: blockIn, out: blockIn, groups: g)
        var levels = [Level?](repeating: nil, count: count)
        for i in stride(from: count - 1, through: 0, by: -1) {
            let level = w.scope("up").scope(String(i))
            let blockOut = d.ch * d.chMult[i]
            var blocks: [ResnetBlock] = []
            for j in 0...d.numResBlocks {
                blocks.append(try ResnetBlock(level.scope("block").scope(String(j)), in: blockIn, out: blockOut, groups: g))
                blockIn = blockOut
            }
            var attentions: [AttnBlock] = []
            if d.attnResolutions.contains(res) {
                for j in 0...d.numResBlocks {
                    attentions.append(try AttnBlock(level.scope("attn").scope(String(j)), channels: blockIn, groups: g))
                }
            }
            var upsample: Upsample?
            if i != 0 {
                upsample = try Upsample(level.scope("upsample"), channels: blockIn)
                res *= 2
            }
            levels[i] = Level(blocks: blocks, attentions: attentions, upsample: upsample)
        }
        self.levels = levels.map { $0! }
        normOut = try Normalize(w.scope("norm_out"), channels: blockIn, groups: g)
        convOut = try Conv2d(w.scope("conv_out"), in: blockIn, out: d.outCh, kernel: 3, padding: 1)
    }

    /// z [N, z_channels, h, w] → [N, out_ch, h·f, w·f].
    public func callAsFunction(_ z: Tensor) -> Tensor { convOut(consuming: features(z)) }

    /// Everything before `conv_out`: the normalised, activated features [N, C, h·f, w·f] that the
    /// last layer maps to pixels. Training needs them to measure gradients at `conv_out.weight`.
    public func features(_ z: Tensor) -> Tensor {
        var h = midBlock2(midAttention(midBlock1(convIn(z))))
        for level in levels.reversed() {
            for (j, block) in level.blocks.enumerated() {
                h = block(h)
                if !level.attentions.isEmpty { h = level.attentions[j](h) }
            }
            if let upsample = level.upsample { h = upsample(h) }
        }
        return normOut.withSiLU(h)
    }
}
