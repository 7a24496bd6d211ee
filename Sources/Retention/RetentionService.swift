import Foundation
import Logging
import Metrics
import Models
import ServiceLifecycle
import Synchronization

/// Deletes what the gateway may no longer keep, every `interval`, in small steps that give way to ingest.
public final class RetentionService: Service, Sendable {
    public struct Configuration: Sendable {
        /// Between the end of one run and the start of the next.
        public var interval: Duration = .seconds(3_600)
        /// Before the first run after a start (let ingest catch up first).
        public var firstRunDelay: Duration = .seconds(60)
        /// Between two steps: room for ingest's transactions, at least.
        public var pause: Duration = .milliseconds(10)
        /// The share of time the purge may work: after a step that took `d`, it waits `d × (1 − share) / share`
        /// (a tenth: nine times as long as it worked), so that a long purge never takes the database from ingest.
        public var share: Double = 0.1
        /// While ingest is behind, steps wait this long and ask again.
        public var busyWait: Duration = .milliseconds(500)
        public var limits = RetentionLimits()
        /// Each gateway's name for the lease (one purges at a time).
        public var holder = "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)"

        public init() {}
    }

    /// What `/readyz` shows of retention.
    public struct Status: Sendable, Equatable {
        public var running: Bool = false
        public var lastRun: RetentionRun?
        /// Another gateway held the lease at the last attempt.
        public var heldElsewhere: Bool = false
    }

    let plan: RetentionPlan
    let store: any RetentionStore
    let configuration: Configuration
    let ingestIsBehind: @Sendable () -> Bool
    let logger: Logger
    private let state = Mutex(Status())

    public init(plan: RetentionPlan, store: any RetentionStore, configuration: Configuration = .init(),
                ingestIsBehind: @escaping @Sendable () -> Bool = { false }, logger: Logger) {
        self.plan = plan
        self.store = store
        self.configuration = configuration
        self.ingestIsBehind = ingestIsBehind
        self.logger = logger
    }

    public var status: Status { state.withLock { $0 } }

    /// The status as `/readyz` shows it.
    public var report: RetentionReport {
        let status = self.status
        return RetentionReport(running: status.running, heldByAnotherGateway: status.heldElsewhere,
                               lastRunStartedAt: status.lastRun.map { RFC3339.format(micros: $0.startedAtMicros, fractionDigits: 3) },
                               lastRunFinishedAt: status.lastRun.map { RFC3339.format(micros: $0.finishedAtMicros, fractionDigits: 3) },
                               lastRunDeleted: status.lastRun?.deleted ?? [:], lastRunError: status.lastRun?.error)
    }

    public func run() async throws {
        if let last = try? await store.lastRun() { state.withLock { $0.lastRun = last } }
        var delay = configuration.firstRunDelay
        while !Task.isShuttingDownGracefully {
            let wait = delay
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
            if Task.isShuttingDownGracefully { break }
            let ran = await runOnce() != nil || status.heldElsewhere
            // A run that could not start (the database away, the schema not yet migrated) is tried again soon.
            delay = ran ? configuration.interval : min(configuration.interval, .seconds(30))
        }
    }

    /// One run now; nil when another gateway holds the lease or shutdown began before it started.
    @discardableResult
    public func runOnce(now: Date = Date()) async -> RetentionRun? {
        let leaseSeconds = 600
        do {
            guard try await store.acquireLease(holder: configuration.holder, seconds: leaseSeconds) else {
                state.withLock { $0.heldElsewhere = true }
                logger.debug("retention: another gateway holds the lease")
                return nil
            }
        } catch {
            logger.warning("retention: could not take the lease; next run will try", metadata: ["error": "\(error)"])
            return nil
        }
        state.withLock { $0.running = true; $0.heldElsewhere = false }
        let started = Self.micros(Date())
        var deleted: [String: Int64] = [:]
        var failure: String?
        do {
            let tasks = plan.tasks(now: Int64(now.timeIntervalSince1970), partitions: try await store.partitions(),
                                   purged: try await store.purgedPartitions())
            var dropsWait = false
            // Renewed by time across the whole run, not per task: a run of many short tasks outlasts the lease too.
            var lastRenewal = ContinuousClock.now
            for task in tasks {
                if Task.isShuttingDownGracefully || Task.isCancelled { failure = "stopped by shutdown"; break }
                // A drop that could not get its lock in time (readers on the table) is not tried again this run:
                // each try makes ingest queue behind it for up to the lock timeout.
                if dropsWait, case .dropPartition = task { continue }
                do {
                    let count = try await perform(task, leaseSeconds: leaseSeconds, lastRenewal: &lastRenewal)
                    if count > 0 {
                        deleted[task.table, default: 0] += count
                        Counter(label: "cip_retention_deleted_total", dimensions: [("table", task.table)]).increment(by: Int(count))
                    }
                } catch let lost as LeaseLost {
                    failure = lost.description
                    break
                } catch {
                    // One task's failure (a lock not granted in time, a floor refused) does not stop the others.
                    logger.warning("retention task failed; the next run tries again",
                                   metadata: ["task": "\(task)", "error": "\(error)"])
                    failure = "\(task.table): \(error)"
                    if case .dropPartition = task { dropsWait = true }
                }
            }
        } catch {
            failure = "\(error)"
            logger.warning("retention run failed; the next run tries again", metadata: ["error": "\(error)"])
        }
        let run = RetentionRun(startedAtMicros: started, finishedAtMicros: Self.micros(Date()), deleted: deleted, error: failure)
        try? await store.record(run)
        try? await store.releaseLease(holder: configuration.holder)
        state.withLock { $0.running = false; $0.lastRun = run }
        Gauge(label: "cip_retention_last_run_finished_seconds").record(Double(run.finishedAtMicros) / 1e6)
        logger.info("retention run finished", metadata: ["deleted": "\(deleted)", "error": "\(failure ?? "none")"])
        return run
    }

    /// Runs one task to its end, step by step, pausing between steps and while ingest is behind.
    private func perform(_ task: RetentionTask, leaseSeconds: Int, lastRenewal: inout ContinuousClock.Instant) async throws -> Int64 {
        var cursor: Int64 = 0
        var total: Int64 = 0
        while true {
            while ingestIsBehind(), !Task.isShuttingDownGracefully {
                try? await Task.sleep(for: configuration.busyWait)
            }
            if ContinuousClock.now - lastRenewal > .seconds(leaseSeconds / 4) {
                guard try await store.acquireLease(holder: configuration.holder, seconds: leaseSeconds) else { throw LeaseLost() }
                lastRenewal = .now
            }
            let started = ContinuousClock.now
            let step = try await store.step(task, cursor: cursor, limits: configuration.limits)
            let worked = ContinuousClock.now - started
            total += step.deleted
            guard let next = step.next else { break }
            cursor = next
            if Task.isShuttingDownGracefully { throw CancellationError() }
            let share = min(max(configuration.share, 0.01), 1)
            try? await Task.sleep(for: max(configuration.pause, worked * ((1 - share) / share)))
        }
        if case .purgePartition(let partition, let days, let quantities) = task {
            try await store.markPurged(PurgedPartition(partition, retentionDays: days, quantities: quantities), rowsDeleted: total)
        }
        return total
    }

    static func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1e6).rounded()) }
}

struct LeaseLost: Error, CustomStringConvertible {
    var description: String { "the retention lease passed to another gateway" }
}
