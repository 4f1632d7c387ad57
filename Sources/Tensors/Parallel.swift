import Dispatch
import COpenBLAS
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Work splitting over the machine's cores. One level of parallelism only: work started inside a
/// worker (a nested `chunks`, a GEMM) runs on that worker's thread. OpenBLAS itself always runs on
/// one thread and large products are split here instead, because OpenBLAS's own threading gives
/// different bits for different thread counts and its count is one setting for the whole process:
/// splitting here makes every result depend on `maxThreads` alone, whatever else the process runs.
public enum Parallel {
    /// Number of worker chunks for the kernels and GEMMs; defaults to the active core count. Set it
    /// once, before any work, to use fewer cores.
    nonisolated(unsafe) public static var maxThreads: Int = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    /// Splits `0..<count` into at most `maxThreads` contiguous ranges and runs `body` on each,
    /// concurrently when there is enough work (`count * costPerItem >= 32768`) and the caller is
    /// not itself a worker.
    @inline(__always)
    public static func chunks(_ count: Int, costPerItem: Int = 1, _ body: @Sendable (Range<Int>) -> Void) {
        let n = min(maxThreads, count)
        if n <= 1 || count * costPerItem < 32768 || WorkerThread.isWorker {
            if count > 0 { body(0..<count) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: n) { i in
            let lo = count * i / n, hi = count * (i + 1) / n
            if lo < hi { WorkerThread.run { body(lo..<hi) } }
        }
    }
}

/// Marks the threads running `Parallel.chunks` ranges with a thread-specific flag, restored after
/// each range because `concurrentPerform` also runs ranges on the calling thread.
enum WorkerThread {
    static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    static var isWorker: Bool { pthread_getspecific(key) != nil }

    static func run(_ body: () -> Void) {
        let outer = pthread_getspecific(key)
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(key, outer) }
        body()
    }
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
