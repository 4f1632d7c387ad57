import Dispatch
import COpenBLAS
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Work splitting over the machine's cores. One level of parallelism only: a kernel that calls a
/// multi-threaded BLAS routine must not itself run inside `Parallel.chunks`.
public enum Parallel {
    /// Number of worker chunks for elementwise kernels; defaults to the active core count.
    public static let maxThreads: Int = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    /// Splits `0..<count` into at most `maxThreads` contiguous ranges and runs `body` on each,
    /// concurrently when there is enough work (`count * costPerItem >= 32768`).
    @inline(__always)
    public static func chunks(_ count: Int, costPerItem: Int = 1, _ body: @Sendable (Range<Int>) -> Void) {
        let n = min(maxThreads, count)
        if n <= 1 || count * costPerItem < 32768 {
            if count > 0 { body(0..<count) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: n) { i in
            let lo = count * i / n, hi = count * (i + 1) / n
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Sets the number of threads OpenBLAS uses for GEMM.
    public static func setBLASThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }
    /// The number of threads OpenBLAS uses for GEMM.
    public static var blasThreads: Int { Int(openblas_get_num_threads()) }
}

/// Wraps a raw pointer so that a `@Sendable` worker closure may capture it. The caller guarantees
/// that concurrent workers touch disjoint elements.
public struct SendablePointer<T>: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<T>
    public init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
    @inline(__always) public subscript(i: Int) -> T {
        get { pointer[i] }
        nonmutating set { pointer[i] = newValue }
    }
}

/// Read-only counterpart of ``SendablePointer``.
public struct SendableConstPointer<T>: @unchecked Sendable {
    public let pointer: UnsafePointer<T>
    public init(_ pointer: UnsafePointer<T>) { self.pointer = pointer }
    @inline(__always) public subscript(i: Int) -> T { pointer[i] }
}
