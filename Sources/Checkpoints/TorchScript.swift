// Recovering parameter names from a module object graph. A TorchScript archive pickles each
// module as an instance of a (mangled) `__torch__.…` class whose BUILD state is a dict of its
// attributes: tensors (parameters and buffers), submodules, and plain values (`training`, ints).
// Walking those dicts depth first yields exactly the `state_dict()` names
// (`visual.transformer.resblocks.0.attn.in_proj_weight`). A module pickled by `torch.save(model)`
// instead keeps its tensors in `_parameters` / `_buffers` and its children in `_modules`.
// The TorchScript code (`code/`) is never read, let alone run.

enum TorchScript {
    /// Module nesting deeper than this is not followed (CLIP nests 5 levels).
    static let maxDepth = 128

    /// Adds every tensor reachable from `root` through module attributes, named by path.
    static func walk(_ root: PyObject, into listing: inout TensorListing) {
        var visited = Set<ObjectIdentifier>()
        walk(root, prefix: "", depth: 0, visited: &visited, into: &listing)
    }

    private static func walk(_ object: PyObject, prefix: String, depth: Int,
                             visited: inout Set<ObjectIdentifier>, into listing: inout TensorListing) {
        guard depth < maxDepth, visited.insert(ObjectIdentifier(object)).inserted else { return }
        let state: PyDict
        switch object.state {
        case .dict(let dict)?: state = dict
        case .tuple(let pair)? where pair.items.count == 2:
            // (dict_state, slot_state) from classes with __slots__.
            guard case .dict(let dict) = pair.items[0] else { return }
            state = dict
        default: return
        }

        if state["_modules"] != nil || state["_parameters"] != nil {
            // A pickled nn.Module: parameters, then persistent buffers, then children.
            var nonPersistent = Set<String>()
            if let names = state["_non_persistent_buffers_set"] {
                switch names {
                case .set(let list), .list(let list): nonPersistent = Set(list.items.compactMap(\.string))
                case .object(let set):
                    // Protocol < 4 pickles a set as REDUCE(builtins.set, ([names],)).
                    nonPersistent = Set((set.args.first?.sequence ?? []).compactMap(\.string))
                default: break
                }
            }
            for group in ["_parameters", "_buffers"] {
                guard case .dict(let tensors)? = state[group] else { continue }
                for (key, value) in tensors.entries {
                    guard let name = key.string, case .tensor(let tensor) = value else { continue }
                    if group == "_buffers", nonPersistent.contains(name) { continue }
                    listing.add(prefix + name, tensor)
                }
            }
            if case .dict(let children)? = state["_modules"] {
                for (key, value) in children.entries {
                    guard let name = key.string, case .object(let child) = value else { continue }
                    walk(child, prefix: prefix + name + ".", depth: depth + 1, visited: &visited, into: &listing)
                }
            }
            return
        }

        for (key, value) in state.entries {
            guard let name = key.string else { continue }
            switch value {
            case .tensor(let tensor): listing.add(prefix + name, tensor)
            case .object(let child):
                walk(child, prefix: prefix + name + ".", depth: depth + 1, visited: &visited, into: &listing)
            default: continue
            }
        }
    }
}
