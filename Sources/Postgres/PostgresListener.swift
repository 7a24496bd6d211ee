import Dispatch
import Logging
import ServiceLifecycle
import Synchronization

/// One LISTEN connection for the whole process, as a `Service`: the services that wake on `NOTIFY` (the device
/// directory, the alarm engine, the alarm feed) subscribe to their channel here instead of each keeping a
/// connection and a reconnect loop of its own. They do their work on a pool; this connection only listens.
///
/// After every (re)connect, once `LISTEN` is in place, each subscription is told to resynchronize (re-read what it
/// keeps), so that nothing that happened while the connection was down is missed; notifications in between
/// are coalesced per subscription, so a slow subscriber costs memory bounded by `maxPending` payloads (beyond
/// that it is told to resynchronize instead).
public final class PostgresListener: Service, Sendable {
    public enum Wake: Sendable, Equatable {
        /// Connected (again): re-read everything; notifications may have been missed.
        case resynchronize
        /// The payloads notified since the last wake, each once, in order.
        case notified([String])
    }

    /// What one service listens to. Subscribe before the listener runs.
    public final class Subscription: Sendable {
        public let channel: String
        fileprivate struct Pending {
            var resynchronize = false
            var payloads: [String] = []
            var seen = Set<String>()
            var waiter: CheckedContinuation<Void, Never>?
            var finished = false
        }
        private let pending = Mutex(Pending())
        private let maxPending: Int

        init(channel: String, maxPending: Int) {
            self.channel = channel
            self.maxPending = maxPending
        }

        /// What happened since the last call, waiting at most `timeout` for something; nil when nothing did, or
        /// when the listener has stopped (`isFinished`).
        public func next(timeout: Duration) async -> Wake? {
            if let wake = take() { return wake }
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.waitForSignal() }
                group.addTask { try? await Task.sleep(for: timeout) }
                await group.next()
                group.cancelAll()
            }
            return take()
        }

        public var isFinished: Bool { pending.withLock { $0.finished } }

        private func take() -> Wake? {
            pending.withLock { state in
                if state.resynchronize {
                    state.resynchronize = false
                    state.payloads.removeAll()
                    state.seen.removeAll()
                    return .resynchronize
                }
                guard !state.payloads.isEmpty else { return nil }
                defer {
                    state.payloads.removeAll()
                    state.seen.removeAll()
                }
                return .notified(state.payloads)
            }
        }

        private func waitForSignal() async {
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let now = pending.withLock { state -> Bool in
                        if state.finished || state.resynchronize || !state.payloads.isEmpty || Task.isCancelled { return true }
                        state.waiter = continuation
                        return false
                    }
                    if now { continuation.resume() }
                }
            } onCancel: {
                pending.withLock { state -> CheckedContinuation<Void, Never>? in
                    defer { state.waiter = nil }
                    return state.waiter
                }?.resume()
            }
        }

        fileprivate func signal(_ change: (inout Pending) -> Void) {
            pending.withLock { state -> CheckedContinuation<Void, Never>? in
                change(&state)
                defer { state.waiter = nil }
                return state.waiter
            }?.resume()
        }

        func resynchronize() { signal { $0.resynchronize = true } }

        func deliver(_ payloads: [String]) {
            let limit = maxPending
            signal { state in
                for payload in payloads where state.seen.insert(payload).inserted { state.payloads.append(payload) }
                if state.payloads.count > limit { state.resynchronize = true }
            }
        }

        func finish() { signal { $0.finished = true } }
    }

    private let url: String
    private let logger: Logger
    private let subscriptions = Mutex<[Subscription]>([])
    private let maxPending: Int

    public init(url: String, logger: Logger, maxPending: Int = 10_000) {
        self.url = url
        self.logger = logger
        self.maxPending = maxPending
    }

    /// A subscription to `channel` (an SQL identifier of ours, such as `cip_devices`).
    public func subscribe(_ channel: String) -> Subscription {
        precondition(channel.utf8.allSatisfy { $0 == UInt8(ascii: "_") || (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) },
                     "channel names are lower-case identifiers")
        let subscription = Subscription(channel: channel, maxPending: maxPending)
        subscriptions.withLock { $0.append(subscription) }
        return subscription
    }

    public func run() async throws {
        let queue = DispatchQueue(label: "cip.postgres-listener")
        var connection: PostgresConnection?
        var failures = 0
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                let live: PostgresConnection
                if let connection { live = connection } else {
                    let channels = Set(subscriptions.withLock { $0.map(\.channel) })
                    live = try await runBlocking(on: queue) { [url] in
                        let opened = try PostgresConnection(url: url)
                        for channel in channels.sorted() { try opened.execute("LISTEN \(channel)") }
                        return opened
                    }
                    connection = live
                    if failures > 0 { logger.info("database listener reconnected") }
                    failures = 0
                    for subscription in subscriptions.withLock({ $0 }) { subscription.resynchronize() }
                }
                let notifications = try await runBlocking(on: queue) { try live.notifications(timeout: 0.25) }
                guard !notifications.isEmpty else { continue }
                for subscription in subscriptions.withLock({ $0 }) {
                    let payloads = notifications.filter { $0.channel == subscription.channel }.map(\.payload)
                    if !payloads.isEmpty { subscription.deliver(payloads) }
                }
            } catch {
                connection?.close()
                connection = nil
                failures += 1
                if failures == 1 || failures % 30 == 0 {
                    logger.warning("database listener lost the database; retrying", metadata: ["error": "\(error)"])
                }
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            }
        }
        connection?.close()
        for subscription in subscriptions.withLock({ $0 }) { subscription.finish() }
    }
}
