import Foundation
import Synchronization

/// A thread of its own that runs jobs in order: as a `TaskExecutor` for services whose every step must not wait
/// for a thread of Swift's cooperative pool (one per core, busy with telemetry under load), and for CPU-heavy
/// work that should not hold one of those threads (`run`). With a nice level above the process's, the kernel
/// lets the rest of the process run first when the cores are busy (Linux: the nice level is a thread's own).
public final class ThreadExecutor: TaskExecutor, Sendable {
    private final class Jobs: Sendable {
        let pending = Mutex<(jobs: [UnownedJob], closures: [@Sendable () -> Void], stopped: Bool)>(([], [], false))
        let signal = DispatchSemaphore(value: 0)
    }
    private let jobs = Jobs()

    /// - Parameter nice: added to the thread's nice level (0: the process's own).
    public init(name: String, nice: Int32 = 0) {
        let jobs = self.jobs
        // The thread does not keep the executor alive (it would never end): a job only runs while its task or
        // caller holds the executor, and after `deinit` the thread only sees `stopped`.
        nonisolated(unsafe) var executor: UnownedTaskExecutor?
        let thread = Thread {
            #if os(Linux)
            // For ps and top -H, best effort: set before the start the name never reaches the kernel's thread,
            // and from inside Foundation can still miss it while the thread is new (seen once in CI).
            Thread.current.name = name
            if nice != 0 {
                // `who` 0 names the calling thread on Linux.
                let which = __priority_which_t(PRIO_PROCESS.rawValue)
                _ = setpriority(which, 0, getpriority(which, 0) + nice)
            }
            #endif
            while true {
                jobs.signal.wait()
                let (job, closure, stopped) = jobs.pending.withLock { state -> (UnownedJob?, (@Sendable () -> Void)?, Bool) in
                    if !state.jobs.isEmpty { return (state.jobs.removeFirst(), nil, false) }
                    if !state.closures.isEmpty { return (nil, state.closures.removeFirst(), false) }
                    return (nil, nil, state.stopped)
                }
                if let job {
                    job.runSynchronously(on: executor!)
                } else if let closure {
                    closure()
                } else if stopped {
                    return
                }
            }
        }
        executor = UnownedTaskExecutor(ordinary: self)
        thread.name = name
        thread.start()
    }

    deinit {
        jobs.pending.withLock { $0.stopped = true }
        jobs.signal.signal()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        jobs.pending.withLock { $0.jobs.append(unowned) }
        jobs.signal.signal()
    }

    /// Runs `body` on the thread and returns its result.
    public func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            jobs.pending.withLock { $0.closures.append { continuation.resume(returning: body()) } }
            jobs.signal.signal()
        }
    }
}
