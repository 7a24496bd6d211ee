import Foundation
import Logging
import NGSILD
import ServiceLifecycle
import Storage

/// Sends the outbox: the oldest waiting notification of each subscription, by HTTP POST or MQTT publish, several
/// subscriptions at once; a delivered one leaves the outbox, a failed one waits longer each time (1 s doubling to
/// 10 min) and keeps its place, so a subscription's notifications arrive in order and a dead endpoint delays only its
/// own. Delivery is at least once: a notification sent just before a crash is sent again (its id tells them apart).
public final class NotificationDelivery: Service, Sendable {
    public typealias Publish = @Sendable (_ topic: String, _ payload: [UInt8]) async throws -> Void

    public struct Configuration: Sendable {
        public var concurrency = 8
        public var idle: Duration = .milliseconds(250)
        public init() {}
    }

    let store: PostgresSubscriptions
    let endpoints: NotificationEndpoints
    let http: HTTPNotifier
    let publish: Publish?
    let configuration: Configuration
    let logger: Logger

    public init(store: PostgresSubscriptions, endpoints: NotificationEndpoints, http: HTTPNotifier = HTTPNotifier(), publish: Publish?,
                configuration: Configuration = .init(), logger: Logger) {
        self.store = store
        self.endpoints = endpoints
        self.http = http
        self.publish = publish
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        var failures = 0
        while !Task.isShuttingDownGracefully {
            let wait: Duration
            do {
                let sent = try await roundOnce()
                failures = 0
                wait = sent > 0 ? .zero : configuration.idle
            } catch {
                failures += 1
                if failures == 1 { logger.warning("notifications: the outbox cannot be read; retrying", metadata: ["error": "\(error)"]) }
                wait = .seconds(min(30, 1 << min(failures, 5)))
            }
            if wait > .zero { try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) } }
        }
    }

    /// Sends what is due now, at most `concurrency` at once; returns how many it tried.
    @discardableResult
    public func roundOnce() async throws -> Int {
        let due = try await store.due(limit: configuration.concurrency, nowMicros: Self.now())
        await withTaskGroup(of: Void.self) { group in
            for notification in due {
                group.addTask { await self.deliver(notification) }
            }
        }
        return due.count
    }

    func deliver(_ due: PostgresSubscriptions.Due) async {
        let endpoint = due.subscription.endpoint
        var failure: String?
        if let refusal = endpoints.refusal(endpoint) {
            failure = refusal
        } else {
            do {
                switch endpoint.scheme {
                case .http, .https:
                    var headers = [("Content-Type", endpoint.accept)]
                    if !endpoint.wantsLD, let context = due.subscription.contexts.last {
                        headers.append(("Link", "<\(context)>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\""))
                    }
                    let status = try await http.post(endpoint.uri, body: Array(due.payload.utf8), headers: headers)
                    if !(200..<300).contains(status) { failure = "the endpoint answered \(status)" }
                case .mqtt:
                    guard let publish, let topic = endpoint.topic else { failure = "no broker to publish to"; break }
                    try await publish(topic, Array(due.payload.utf8))
                }
            } catch {
                failure = "\(error)"
            }
        }
        let now = Self.now()
        do {
            if let failure {
                if due.attempts == 0 {
                    logger.notice("notifications: delivery failed; retrying with backoff",
                                  metadata: ["subscription": "\(due.subscription.id)", "error": "\(failure)"])
                }
                try await store.failed(due, error: failure, atMicros: now,
                                       retryAtMicros: now + NotificationBackoff.delayMicros(afterAttempts: due.attempts))
            } else {
                try await store.delivered(due, atMicros: now)
            }
        } catch {
            // Not noted: it stays due and is sent again (at least once).
            logger.warning("notifications: the outcome could not be stored", metadata: ["error": "\(error)"])
        }
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1e6) }
}
