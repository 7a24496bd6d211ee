import Logging
import Postgres
import ServiceLifecycle

/// The loop of a service that follows `events` from a cursor of its own (the alarm engine, the lock monitor):
/// a round on a pooled connection, woken by `NOTIFY cip_events` or after `idle`; while the database is away, a
/// round every second with a warning now and then (the first, then every 30th). Ends on graceful shutdown.
public enum EventFollowing {
    public static func run(_ name: String, pool: PostgresPool, subscription: PostgresListener.Subscription, idle: Duration,
                           logger: Logger, round: @escaping @Sendable (PostgresConnection) throws -> Void) async {
        var failures = 0
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                try await pool.withConnection { connection in try round(connection) }
                if failures > 0 { logger.info("\(name) reached the database again") }
                failures = 0
                _ = try? await cancelWhenGracefulShutdown { await subscription.next(timeout: idle) }
            } catch {
                failures += 1
                if failures == 1 || failures % 30 == 0 {
                    logger.warning("\(name) lost the database; retrying", metadata: ["error": "\(error)"])
                }
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            }
        }
    }
}
