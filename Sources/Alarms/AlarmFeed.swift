import Dispatch
import Foundation
import Logging
import Postgres
import ServiceLifecycle
import Synchronization

/// The live side of the alarm stream, one per gateway process: listens for `NOTIFY cip_alarm_changes` (a
/// trigger on `alarm_changes`, whichever instance wrote the change), reads the new changes in id order once, and
/// hands them to every subscriber. Catching up after a reconnect (`Last-Event-ID`) reads the table itself.
public final class AlarmFeed: Service, Sendable {
    public enum Item: Sendable {
        case change(AlarmChange, Alarm)
        /// Nothing happened for a while; streams send a comment so that proxies keep the connection.
        case keepAlive
    }

    private struct State {
        /// The newest change id read; nil until the first read.
        var head: Int64?
        var subscribers: [UInt64: AsyncStream<Item>.Continuation] = [:]
        var nextSubscriber: UInt64 = 0
    }

    private let pool: PostgresPool
    private let subscription: PostgresListener.Subscription?
    private let logger: Logger
    private let keepAliveInterval: Duration
    private let subscriberBuffer: Int
    private let state = Mutex(State())

    /// `subscriberBuffer`: how many items a subscriber may fall behind before it is dropped (see `subscribe`).
    /// - Parameter listener: wakes the feed on new changes (subscribed at once: create the feed before the listener
    ///   runs); without one the feed only polls.
    public init(pool: PostgresPool, listener: PostgresListener?, logger: Logger, keepAliveInterval: Duration = .seconds(15),
                subscriberBuffer: Int = 1_000) {
        self.pool = pool
        self.subscription = listener?.subscribe("cip_alarm_changes")
        self.logger = logger
        self.keepAliveInterval = keepAliveInterval
        self.subscriberBuffer = max(1, subscriberBuffer)
    }

    /// How many streams are subscribed now.
    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    /// The newest change id known (nil before the feed has read the table).
    public var head: Int64? { state.withLock { $0.head } }

    /// Every change after `head` (returned with the stream), in order, as it is committed.
    ///
    /// The buffer is bounded: a subscriber that falls `subscriberBuffer` items behind (a slow or stalled client)
    /// is finished after the items it has, rather than buffered without limit, and never gets a later item, so
    /// what it received has no gap. Its client reconnects with `Last-Event-ID` and catches up from the table.
    public func subscribe() -> (head: Int64?, items: AsyncStream<Item>) {
        let (stream, continuation) = AsyncStream<Item>.makeStream(bufferingPolicy: .bufferingOldest(subscriberBuffer))
        let (id, head) = state.withLock { state -> (UInt64, Int64?) in
            let id = state.nextSubscriber
            state.nextSubscriber += 1
            state.subscribers[id] = continuation
            return (id, state.head)
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return (head, stream)
    }

    public func run() async throws {
        var quietSince = ContinuousClock.now
        var failures = 0
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                if head == nil {
                    let newest = try await pool.withConnection {
                        try $0.query("SELECT coalesce(max(id), 0) AS head FROM alarm_changes").single().decode("head", as: Int64.self)
                    }
                    state.withLock { $0.head = newest }
                }
                // Read until nothing is new: a notification may stand for many changes.
                while true {
                    let after = head ?? 0
                    let rows = try await pool.withConnection {
                        try PostgresAlarmRepository.changes(after: after, limit: 500, on: $0)
                    }
                    guard !rows.isEmpty else { break }
                    publish(rows)
                    quietSince = .now
                }
                if ContinuousClock.now - quietSince >= keepAliveInterval {
                    broadcast(.keepAlive)
                    quietSince = .now
                }
                failures = 0
                if let subscription {
                    _ = try? await cancelWhenGracefulShutdown { await subscription.next(timeout: .milliseconds(500)) }
                } else {
                    try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(500)) }
                }
            } catch {
                failures += 1
                if failures == 1 || failures % 30 == 0 {
                    logger.warning("alarm feed lost the database; retrying", metadata: ["error": "\(error)"])
                }
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            }
        }
        // Finished outside the lock: finishing runs the subscriber's termination handler, which takes it.
        let subscribers = state.withLock { state in
            defer { state.subscribers.removeAll() }
            return Array(state.subscribers.values)
        }
        for continuation in subscribers { continuation.finish() }
    }

    func publish(_ rows: [(change: AlarmChange, alarm: Alarm)]) {
        let subscribers = state.withLock { state -> [AsyncStream<Item>.Continuation] in
            state.head = rows[rows.count - 1].change.id
            return Array(state.subscribers.values)
        }
        for continuation in subscribers {
            for row in rows where !deliver(.change(row.change, row.alarm), to: continuation) { break }
        }
    }

    private func broadcast(_ item: Item) {
        for continuation in state.withLock({ Array($0.subscribers.values) }) { _ = deliver(item, to: continuation) }
    }

    /// False when the subscriber's buffer is full: it is finished (and removed by its termination handler).
    private func deliver(_ item: Item, to continuation: AsyncStream<Item>.Continuation) -> Bool {
        switch continuation.yield(item) {
        case .enqueued: return true
        case .terminated: return false
        case .dropped:
            continuation.finish()
            logger.notice("alarm stream subscriber too slow: disconnected, it resumes with Last-Event-ID")
            return false
        @unknown default: return false
        }
    }

}
