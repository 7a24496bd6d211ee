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

    private let url: String
    private let logger: Logger
    private let keepAliveInterval: Duration
    private let state = Mutex(State())

    public init(url: String, logger: Logger, keepAliveInterval: Duration = .seconds(15)) {
        self.url = url
        self.logger = logger
        self.keepAliveInterval = keepAliveInterval
    }

    /// The newest change id known (nil before the feed has read the table).
    public var head: Int64? { state.withLock { $0.head } }

    /// Every change after `head` (returned with the stream), in order, as it is committed.
    public func subscribe() -> (head: Int64?, items: AsyncStream<Item>) {
        let (stream, continuation) = AsyncStream<Item>.makeStream()
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
        let queue = DispatchQueue(label: "cip.alarm-feed")
        var connection: PostgresConnection?
        var quietSince = ContinuousClock.now
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                let live: PostgresConnection
                if let connection { live = connection } else {
                    live = try await runBlocking(on: queue) { [url] in
                        let opened = try PostgresConnection(url: url)
                        try opened.execute("LISTEN cip_alarm_changes")
                        return opened
                    }
                    connection = live
                    if head == nil {
                        let newest = try await runBlocking(on: queue) {
                            Int64(try live.query("SELECT coalesce(max(id), 0) AS head FROM alarm_changes")[0]["head"] ?? "0") ?? 0
                        }
                        state.withLock { $0.head = newest }
                    }
                }
                // Read until nothing is new: a notification may stand for many changes.
                while true {
                    let after = head ?? 0
                    let rows = try await runBlocking(on: queue) {
                        try PostgresAlarmRepository.changes(after: after, limit: 500, on: live)
                    }
                    guard !rows.isEmpty else { break }
                    publish(rows)
                    quietSince = .now
                }
                if ContinuousClock.now - quietSince >= keepAliveInterval {
                    broadcast(.keepAlive)
                    quietSince = .now
                }
                _ = try await runBlocking(on: queue) { try live.notifications(timeout: 0.5) }
            } catch {
                connection?.close()
                connection = nil
                logger.warning("alarm feed lost the database; retrying", metadata: ["error": "\(error)"])
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            }
        }
        connection?.close()
        state.withLock { state in
            for continuation in state.subscribers.values { continuation.finish() }
            state.subscribers.removeAll()
        }
    }

    private func publish(_ rows: [(change: AlarmChange, alarm: Alarm)]) {
        let subscribers = state.withLock { state -> [AsyncStream<Item>.Continuation] in
            state.head = rows[rows.count - 1].change.id
            return Array(state.subscribers.values)
        }
        for continuation in subscribers {
            for row in rows { continuation.yield(.change(row.change, row.alarm)) }
        }
    }

    private func broadcast(_ item: Item) {
        for continuation in state.withLock({ Array($0.subscribers.values) }) { continuation.yield(item) }
    }

}
