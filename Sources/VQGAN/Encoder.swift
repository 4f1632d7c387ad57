// taming's Encoder: conv_in, one level per ch_mult entry (ResnetBlocks, AttnBlocks where the
// feature map has an attention resolution, a Downsample between levels), the middle
// (ResnetBlock, AttnBlock, ResnetBlock), then GroupNorm, swish and conv_out to z_channels.

import Layers
import Tensors

/// Image [N, in_channels, H, W] → latent [N, z_channels, H/f, W/f] (f = 2^(levels−1)).
/// Parameter names follow the checkpoint: `encoder.down.{i}.block.{j}`, `.attn.{j}`, `.downsample`.
public struct Encoder {
    /// One resolution level: `block.{j}`, `attn.{j}` (empty or one per block) and `downsample`.
    public struct Level {
        public let blocks: [ResnetBlock]
        public let attentions: [AttnBlock]
        public let downsample: Downsample?
    }

    public let convIn: Conv2d
    public let levels: [Level]
    public let midBlock1: ResnetBlock
    public let midAttention: AttnBlock
    public let midBlock2: ResnetBlock
    public let normOut: Normalize
    public let convOut: Conv2d

    /// Builds the encoder under the scope `w` (normally `encoder`).
    public init(_ w: WeightScope, config d: DDConfig) throws {
        let g = d.normGroups
        convIn = try Conv2d(w.scope("conv_in"), in: d.inChannels, out: d.ch, kernel: 3, padding: 1)
        let inMult = [1] + d.chMult
        var res = d.resolution
        var levels: [Level] = []
        var blockIn = d.ch
        for i in d.chMult.indices {
            let level = w.scope("down").scope(String(i))
            blockIn = d.ch * inMult[i]
            let blockOut = d.ch * d.chMult[i]
            var blocks: [ResnetBlock] = []
            for j in 0..<d.numResBlocks {
                blocks.append(try ResnetBlock(level.scope("block").scope(String(j)), in: blockIn, out: blockOut, groups: g))
                blockIn = blockOut
            }
            // Attention modules are registered after all blocks of the level (checkpoint order).
            var attentions: [AttnBlock] = []
            if d.attnResolutions.contains(res) {
                for j in 0..<d.numResBlocks {
                    attentions.append(try AttnBlock(level.scope("attn").scope(String(j)), channels: blockIn, groups: g))
                }
            }
            var downsample: Downsample?
            if i != d.chMult.count - 1 {
                downsample = try Downsample(level.scope("downsample"), channels: blockIn)
                res /= 2
            }
            levels.append(Level(blocks: blocks, attentions: attentions, downsample: downsample))
        }
        self.levels = levels
        midBlock1 = try ResnetBlock(w.scope("mid").scope("block_1"), in: blockIn, out: blockIn, groups: g)
        midAttention = try AttnBlock(w.scope("mid").scope("attn_1"), channels: blockIn, groups: g)
        midBlock2 = try ResnetBlock(w.scope("mid").scope("block_2"), in: blockIn, out: blockIn, groups: g)
        normOut = try Normalize(w.scope("norm_out"), channels: blockIn, groups: g)
        convOut = try Conv2d(w.scope("conv_out"), in: blockIn, out: d.doubleZ ? 2 * d.zChannels : d.zChannels,
                             kernel: 3, padding: 1)
    }

    /// x [N, in_channels, H, W] (H, W divisible by f) → [N, z_channels, H/f, W/f].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = convIn(x)
        for level in levels {
            for (j, block) in level.blocks.enumerated() {
                h = block(h)
                if !level.attentions.isEmpty { h = level.attentions[j](h) }
            }
            if let downsample = level.downsample { h = downsample(h) }
        }
        h = midBlock2(midAttention(midBlock1(h)))
        return convOut(normOut.withSiLU(h))
    }
}
