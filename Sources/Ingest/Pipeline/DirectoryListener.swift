import Logging
import Postgres
import ServiceLifecycle

/// Keeps a `DeviceDirectory` coherent with the registry: wakes on `NOTIFY cip_devices` (sent by a trigger on
/// every change to `devices`, by any gateway instance or by hand) and re-reads the named devices. After the
/// shared listener (re)connects, and every `fullReloadInterval`, it reloads the whole directory, so a missed
/// notification heals.
public struct DirectoryListener: Service {
    let subscription: PostgresListener.Subscription
    let pool: PostgresPool
    let directory: DeviceDirectory
    let logger: Logger
    let fullReloadInterval: Duration

    /// Subscribes at once: create it before the listener runs.
    public init(listener: PostgresListener, pool: PostgresPool, directory: DeviceDirectory, logger: Logger,
                fullReloadInterval: Duration = .seconds(60)) {
        self.subscription = listener.subscribe("cip_devices")
        self.pool = pool
        self.directory = directory
        self.logger = logger
        self.fullReloadInterval = fullReloadInterval
    }

    public func run() async throws {
        var lastFullReload = ContinuousClock.now
        var reloadDue = false
        var failures = 0
        while !Task.isShuttingDownGracefully, !Task.isCancelled, !subscription.isFinished {
            let wake = await cancelWhenGracefulShutdownOrNil { await subscription.next(timeout: .seconds(1)) }
            do {
                switch wake {
                case .resynchronize?: reloadDue = true
                case .notified(let ids)?:
                    try await pool.withConnection { [directory] in try directory.refresh(Set(ids), from: $0) }
                case nil: break
                }
                if reloadDue || ContinuousClock.now - lastFullReload >= fullReloadInterval {
                    try await pool.withConnection { [directory] in try directory.reload(from: $0) }
                    lastFullReload = .now
                    reloadDue = false
                }
                if failures > 0 { logger.info("device directory listener reconnected") }
                failures = 0
            } catch {
                // What was missed is re-read in full once the database answers again.
                reloadDue = true
                failures += 1
                if failures == 1 || failures % 30 == 0 {
                    logger.warning("device directory listener lost the database; retrying", metadata: ["error": "\(error)"])
                }
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            }
        }
    }
}

/// `body`, or nil when a graceful shutdown begins first.
func cancelWhenGracefulShutdownOrNil<T: Sendable>(_ body: @escaping @Sendable () async -> T?) async -> T? {
    (try? await cancelWhenGracefulShutdown { await body() }) ?? nil
}
