import Foundation
import Logging
import Models
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

    /// Keeps up to `concurrency` deliveries going: a slot that frees is filled at once, so a slow endpoint holds
    /// one slot (its own subscription's), never the others' turn.
    public func run() async throws {
        await withTaskGroup(of: Bool.self) { group in
            var inFlight = 0
            var ticking = false
            var failures = 0
            while !Task.isShuttingDownGracefully {
                if inFlight < configuration.concurrency {
                    do {
                        for due in try await store.due(limit: configuration.concurrency - inFlight, nowMicros: Self.now()) {
                            inFlight += 1
                            group.addTask { await self.deliver(due); return true }
                        }
                        failures = 0
                    } catch {
                        failures += 1
                        if failures == 1 { logger.warning("notifications: the outbox cannot be read; retrying", metadata: ["error": "\(error)"]) }
                    }
                }
                if !ticking {
                    // Look again after a while even when nothing finishes (new notifications, backoffs that end).
                    let wait = failures > 0 ? Duration.seconds(min(30, 1 << min(failures, 5))) : configuration.idle
                    ticking = true
                    group.addTask { try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }; return false }
                }
                guard let delivered = await group.next() else { continue }
                if delivered { inFlight -= 1 } else { ticking = false }
            }
        }
    }

    /// Sends what is due now, at most `concurrency` at once, and waits for them; returns how many it tried.
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
                    let status = try await http.post(endpoint.uri, body: Array(due.payload.utf8), headers: headers,
                                                     publicOnly: endpoints.needsPublicAddress(endpoint))
                    if !(200..<300).contains(status) { failure = "the endpoint answered \(status)" }
                case .mqtt:
                    guard let publish, let topic = endpoint.topic else { failure = "no broker to publish to"; break }
                    try await publish(topic, Self.mqttMessage(due))
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

    /// The MQTT binding's message (GS CIM 009 annex on MQTT notifications): the HTTP headers as `metadata` beside
    /// the notification as `body`.
    static func mqttMessage(_ due: PostgresSubscriptions.Due) -> [UInt8] {
        var metadata: [String: JSON] = ["Content-Type": .string(due.subscription.endpoint.accept)]
        if !due.subscription.endpoint.wantsLD, let context = due.subscription.contexts.last {
            metadata["Link"] = .string("<\(context)>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\"")
        }
        var out = Array("{\"body\":".utf8)
        out += due.payload.utf8
        out += Array(",\"metadata\":".utf8)
        JSON.object(metadata).write(to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }
}
