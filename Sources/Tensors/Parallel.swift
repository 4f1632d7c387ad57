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
    /// Number of worker chunks for the kernels; defaults to the active core count. Set it (with
    /// ``setBLASThreads(_:)``) once, before any work, to use fewer cores.
    nonisolated(unsafe) public static var maxThreads: Int = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))

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

/// A pthread mutex (the package supports macOS 13, which predates Synchronization.Mutex).
final class Lock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    init() { pthread_mutex_init(mutex, nil) }
    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }
    func withLock<R>(_ body: () -> R) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }
}

/// Keeps OpenBLAS on one thread while any caller is inside ``withSingleThreadedBLAS(_:)``: the
/// first to enter saves the thread count, the last to leave restores it, so overlapping callers
/// (tests run concurrently) never leave it at one or restore it under another's feet.
private final class SingleThreadedBLASScope: @unchecked Sendable {
    static let shared = SingleThreadedBLASScope()
    private let lock = Lock()
    private var depth = 0
    private var saved = 1

    func enter() {
        lock.withLock {
            if depth == 0 {
                saved = Parallel.blasThreads
                if saved > 1 { Parallel.setBLASThreads(1) }
            }
            depth += 1
        }
    }

    func leave() {
        lock.withLock {
            depth -= 1
            if depth == 0 && saved > 1 { Parallel.setBLASThreads(saved) }
        }
    }
}

/// Runs `body` with OpenBLAS on one thread, for GEMMs issued from worker threads.
func withSingleThreadedBLAS<R>(_ body: () -> R) -> R {
    SingleThreadedBLASScope.shared.enter()
    defer { SingleThreadedBLASScope.shared.leave() }
    return body()
}
