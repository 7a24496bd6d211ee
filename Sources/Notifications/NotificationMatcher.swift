import Foundation
import Logging
import NGSILD
import ServiceLifecycle
import Storage

/// Turns changes of open values into notifications: each round takes the series that changed (noted by the
/// database in the same transaction as the change) and, in one transaction, stores a notification for each
/// subscription they satisfy in the outbox. A crash loses nothing: the changes stay until the round commits.
public final class NotificationMatcher: Service, Sendable {
    public struct Configuration: Sendable {
        /// Series taken per round.
        public var batch = 500
        /// Notifications waiting per subscription before the oldest are dropped (and counted).
        public var maxPending = 500
        /// Entities in one notification at most; more changes make several notifications.
        public var maxEntities = 100
        /// How long to wait when a round found nothing.
        public var idle: Duration = .milliseconds(250)

        public init() {}
    }

    let store: PostgresSubscriptions
    let matcher: SubscriptionMatcher
    let configuration: Configuration
    let logger: Logger

    public init(store: PostgresSubscriptions, vocabulary: OpenVocabulary, configuration: Configuration = .init(), logger: Logger) {
        self.store = store
        matcher = SubscriptionMatcher(vocabulary: vocabulary)
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        var failures = 0
        while !Task.isShuttingDownGracefully {
            let wait: Duration
            do {
                let taken = try await roundOnce()
                failures = 0
                wait = taken >= configuration.batch ? .zero : configuration.idle
            } catch {
                failures += 1
                if failures == 1 { logger.warning("notifications: matching failed; retrying", metadata: ["error": "\(error)"]) }
                wait = .seconds(min(30, 1 << min(failures, 5)))
            }
            if wait > .zero { try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) } }
        }
    }

    /// One round; returns how many changed series it took.
    @discardableResult
    public func roundOnce() async throws -> Int {
        let now = Int64(Date().timeIntervalSince1970 * 1e6)
        let matcher = self.matcher
        let maxEntities = configuration.maxEntities
        return try await store.match(limit: configuration.batch, maxPending: configuration.maxPending, nowMicros: now) { subscriptions, changes in
            subscriptions.flatMap { stored in
                let matching = changes.filter { matcher.matches(stored, $0) }
                return stride(from: 0, to: matching.count, by: maxEntities).compactMap { start in
                    let id = "urn:ngsi-ld:Notification:\(UUID().uuidString.lowercased())"
                    let part = Array(matching[start..<min(start + maxEntities, matching.count)])
                    return matcher.notification(stored, part, id: id, nowMicros: now).map { (stored.subscription.id, String(decoding: $0.bytes, as: UTF8.self)) }
                }
            }
        }
    }
}
