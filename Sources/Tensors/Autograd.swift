// The reverse pass: topological order over the recorded graph, gradients accumulated with +=.

/// Global switches of the autodiff machinery.
public enum Autograd {
    /// When false, ops record no graph (inference, optimizer updates). Scoped per task.
    @TaskLocal public static var isEnabled: Bool = true

    /// Runs `body` with graph recording off.
    public static func withoutGrad<T>(_ body: () throws -> T) rethrows -> T {
        try $isEnabled.withValue(false) { try body() }
    }
}

extension Tensor {
    /// Back-propagates from this tensor. Without a seed the tensor must hold one element and the
    /// seed is 1. Gradients accumulate (+=) into every leaf that requires them; the graph is
    /// released as it is consumed, so backward runs once per forward.
    public func backward(seed: [Float]? = nil) {
        precondition(seed != nil || count == 1, "backward without a seed needs a scalar, shape is \(shape)")
        if let seed { precondition(seed.count == count, "seed has \(seed.count) elements, tensor \(count)") }
        guard requiresGrad else { return }

        // Post-order DFS without recursion (graphs of deep networks overflow a recursive walk).
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (node, expanded) = stack.popLast() {
            if expanded { order.append(node); continue }
            guard visited.insert(ObjectIdentifier(node)).inserted else { continue }
            stack.append((node, true))
            for parent in node.parents where !visited.contains(ObjectIdentifier(parent)) {
                stack.append((parent, false))
            }
        }

        accumulateGrad { g in
            if let seed { for i in 0..<g.count { g[i] += seed[i] } } else { g[0] += 1 }
        }
        for node in order.reversed() {
            guard let fn = node.backwardFn else { continue }
            if let g = node.gradData { g.withUnsafeBufferPointer { fn($0) } }
            node.backwardFn = nil
            node.parents = []
            if !node.retainsGrad { node.gradData = nil }
        }
    }
}
