import Logging
import Metrics
import ServiceLifecycle

/// Keeps each active lock's grant list published: every `interval` it builds the lists, and publishes (retained,
/// QoS 1, on the lock's command topic) those whose content changed since the version the lock was last sent, with
/// the version raised. Retained, so a lock that was offline finds the newest list when it connects; stored only
/// after the broker acknowledged it, so a failed publish is tried again at the next round.
public final class GrantListPublisher: Service, Sendable {
    /// Publishes retained to the broker and returns once the broker acknowledged (or throws).
    public typealias Publish = @Sendable (_ topic: String, _ payload: [UInt8]) async throws -> Void

    public struct Configuration: Sendable {
        /// How far ahead a list reaches.
        public var horizonSeconds: Int64 = 7 * 86_400
        /// How often the lists are rebuilt.
        public var interval: Duration = .seconds(60)
        public init() {}
    }

    let lists: any GrantListRepository
    let publish: Publish
    let lockTypes: [String]
    let configuration: Configuration
    let clock: @Sendable () -> Int64
    let logger: Logger
    let published = Counter(label: "cip_lock_grant_lists_published_total")

    public init(lists: any GrantListRepository, publish: @escaping Publish, lockTypes: [String], configuration: Configuration,
                clock: @escaping @Sendable () -> Int64 = systemMicros, logger: Logger) {
        self.lists = lists
        self.publish = publish
        self.lockTypes = lockTypes
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            await round()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.configuration.interval) }
        }
    }

    /// One round; the number of lists published.
    @discardableResult
    public func round() async -> Int {
        var count = 0
        let states: [String: GrantListState]
        let due: [GrantList]
        let retired: [String]
        do {
            let now = clock()
            states = try await lists.states()
            due = try await lists.listsToPublish(lockTypes: lockTypes, nowMicros: now,
                                                  untilMicros: now + configuration.horizonSeconds * 1_000_000)
            retired = try await lists.retired()
        } catch {
            logger.warning("grant lists could not be read; will retry", metadata: ["error": "\(error)"])
            return 0
        }
        // Each lock on its own: one that fails waits for the next round, the others go on.
        for list in due {
            let hash = list.contentHash
            guard states[list.deviceId]?.contentHash != hash else { continue }
            do {
                let version = try await lists.reserveVersion(list.deviceId)
                try await publish(list.topic, list.payload(version: version))
                try await lists.recordPublished(GrantListState(deviceId: list.deviceId, version: version, contentHash: hash,
                                                               grantCount: list.entries.count, publishedAtMicros: clock()))
                published.increment()
                count += 1
            } catch {
                logger.warning("a grant list could not be published; will retry", metadata: [
                    "device": "\(list.deviceId)", "error": "\(error)"])
            }
        }
        // A decommissioned lock's list leaves the broker (an empty retained message clears it) and the table.
        for deviceId in retired {
            do {
                try await publish(GrantList.topic(deviceId), [])
                try await lists.forget(deviceId)
            } catch {
                logger.warning("a retired lock's grant list could not be cleared; will retry", metadata: [
                    "device": "\(deviceId)", "error": "\(error)"])
            }
        }
        return count
    }
}
