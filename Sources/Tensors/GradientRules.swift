// Ops whose backward is a chosen rule rather than the derivative of the forward: the guidance
// tricks of the VQGAN+CLIP notebooks. A plain clamp kills the gradient of every saturated pixel
// and a plain threshold stops a prompt's pull for good; these keep what guidance needs.

extension Tensor {
    /// Clamps to [min, max] (the notebooks' `ClampWithGrad`). Backward passes the incoming
    /// gradient g where g·(x − clamp(x)) ≥ 0: everywhere inside the range, and outside it only
    /// where a descent step (which moves against g) brings x back toward the range.
    public func clampedWithGradient(min lo: Float, max hi: Float) -> Tensor {
        precondition(lo <= hi, "clampedWithGradient: min \(lo) > max \(hi)")
        let x = self
        let out = data.map { $0 < lo ? lo : ($0 > hi ? hi : $0) }
        return Tensor(shape: shape, data: out, parents: [x]) { g in
            x.accumulateGrad { dst in
                x.data.withUnsafeBufferPointer { px in
                    for i in 0..<dst.count {
                        let v = px[i]
                        let outside = v - (v < lo ? lo : (v > hi ? hi : v))
                        if g[i] * outside >= 0 { dst[i] += g[i] }
                    }
                }
            }
        }
    }

    /// Identity forward; backward flows as if the value were max(x, threshold) (the notebooks'
    /// `replace_grad(d, maximum(d, stop))`): the gradient passes where x > threshold, half of it
    /// where x == threshold (PyTorch's tie rule for maximum), and none below. With threshold −∞
    /// this is the identity.
    public func gradientGated(above threshold: Float) -> Tensor {
        if threshold == -.infinity { return self }
        let x = self
        return Tensor(shape: shape, data: data, parents: [x]) { g in
            x.accumulateGrad { dst in
                x.data.withUnsafeBufferPointer { px in
                    for i in 0..<dst.count {
                        if px[i] > threshold { dst[i] += g[i] } else if px[i] == threshold { dst[i] += 0.5 * g[i] }
                    }
                }
            }
        }
    }
}

// MARK: - Projective warp

extension Tensor {
    /// Warps images x [N, C, H, W] by one 3×3 projective map per image, sampling bilinearly with
    /// zeros outside (kornia's `warp_perspective` with zero padding). `maps[n]` is row-major and
    /// takes an output pixel centre (u, v, 1) to source coordinates (x, y, w) in pixels, read at
    /// (x/w, y/w); pixel centres are integers. Output [N, C, outHeight, outWidth]; differentiable
    /// with respect to x (the maps are constants).
    public static func warpPerspective(_ x: Tensor, maps: [[Float]], outHeight: Int, outWidth: Int) -> Tensor {
        precondition(x.rank == 4 && maps.count == x.shape[0] && maps.allSatisfy { $0.count == 9 },
                     "warpPerspective: need one 3x3 map per image of \(x.shape)")
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let plane = outHeight * outWidth
        // Per image and output pixel: the four source taps (flat index into one input plane, or −1)
        // and their weights. Shared by every channel and by backward.
        var taps = [Int32](repeating: -1, count: n * plane * 4)
        var weights = [Float](repeating: 0, count: n * plane * 4)
        for b in 0..<n {
            let m = maps[b]
            for v in 0..<outHeight {
                for u in 0..<outWidth {
                    let (fu, fv) = (Float(u), Float(v))
                    let zw = m[6] * fu + m[7] * fv + m[8]
                    guard zw.magnitude > 1e-8 else { continue }
                    let sx = (m[0] * fu + m[1] * fv + m[2]) / zw
                    let sy = (m[3] * fu + m[4] * fv + m[5]) / zw
                    guard sx.isFinite, sy.isFinite, sx > -1, sy > -1, sx < Float(w), sy < Float(h) else { continue }
                    let x0 = Int(sx.rounded(.down)), y0 = Int(sy.rounded(.down))
                    let ax = sx - Float(x0), ay = sy - Float(y0)
                    let base = ((b * plane) + v * outWidth + u) * 4
                    let corners = [(y0, x0, (1 - ay) * (1 - ax)), (y0, x0 + 1, (1 - ay) * ax),
                                   (y0 + 1, x0, ay * (1 - ax)), (y0 + 1, x0 + 1, ay * ax)]
                    for (k, (yy, xx, wt)) in corners.enumerated() where yy >= 0 && yy < h && xx >= 0 && xx < w {
                        taps[base + k] = Int32(yy * w + xx)
                        weights[base + k] = wt
                    }
                }
            }
        }
        let (tapIndex, tapWeight) = (taps, weights)
        // out[b, ch, p] = Σ_k weights[b, p, k] · x[b, ch, taps[b, p, k]]
        var out = [Float](repeating: 0, count: n * c * plane)
        x.data.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                taps.withUnsafeBufferPointer { pt in
                    weights.withUnsafeBufferPointer { pw in
                        let X = SendableConstPointer(px.baseAddress!), O = SendablePointer(po.baseAddress!)
                        let T = SendableConstPointer(pt.baseAddress!), W = SendableConstPointer(pw.baseAddress!)
                        Parallel.chunks(n * c, costPerItem: plane * 8) { range in
                            for bc in range {
                                let b = bc / c
                                let src = X.pointer + bc * h * w, dst = O.pointer + bc * plane
                                for p in 0..<plane {
                                    let base = (b * plane + p) * 4
                                    var s: Float = 0
                                    for k in 0..<4 where T[base + k] >= 0 { s += W[base + k] * src[Int(T[base + k])] }
                                    dst[p] = s
                                }
                            }
                        }
                    }
                }
            }
        }
        return Tensor(shape: [n, c, outHeight, outWidth], data: out, parents: [x]) { g in
            // dx[b, ch, taps[b, p, k]] += weights[b, p, k] · g[b, ch, p]; each (b, ch) plane is
            // owned by one worker, so the scatter needs no locking.
            x.accumulateGrad { dst in
                tapIndex.withUnsafeBufferPointer { pt in
                    tapWeight.withUnsafeBufferPointer { pw in
                        let D = SendablePointer(dst.baseAddress!), G = SendableConstPointer(g.baseAddress!)
                        let T = SendableConstPointer(pt.baseAddress!), W = SendableConstPointer(pw.baseAddress!)
                        Parallel.chunks(n * c, costPerItem: plane * 8) { range in
                            for bc in range {
                                let b = bc / c
                                let dx = D.pointer + bc * h * w, gy = G.pointer + bc * plane
                                for p in 0..<plane {
                                    let base = (b * plane + p) * 4
                                    for k in 0..<4 where T[base + k] >= 0 { dx[Int(T[base + k])] += W[base + k] * gy[p] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
