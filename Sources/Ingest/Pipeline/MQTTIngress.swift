import Foundation
import Logging
import MQTT
import Metrics
import ServiceLifecycle
import Synchronization

/// Receives device messages from the broker with a persistent session and journals each one before its
/// callback returns, which is before libmosquitto sends the PUBACK. Alarms and status messages are synced to
/// disk before the acknowledgement; telemetry within the journal's sync interval.
///
/// With an event fast path, a second connection subscribes to the events channel alone (clean session, its own
/// network thread): the broker queues telemetry for the session by the thousand under load, and an alarm on the
/// session would wait behind all of it. The first copy of an event, from either connection, goes to the fast
/// path; the session's copy is the durable one and is always journaled (see `EventPairing`).
public final class MQTTIngress: Service, Sendable {
    public let client: MQTTClient
    /// The events connection (nil without a fast path).
    public let eventsClient: MQTTClient?
    /// Off: under load, PUBACKs share TCP segments instead of each crossing the network stack alone.
    public static let tcpNoDelay = false
    /// What the events connection subscribes to; the session's copies of these topics are paired with its copies.
    public static let eventsFilter = "devices/+/events"
    private let logger: Logger

    /// - Parameters:
    ///   - fastPath: gets every message of the events channel, from whichever connection has it first.
    ///   - sessionDelayMicros: a test hook (`CIP_TEST_SESSION_DELAY_MICROS`): the session's callback sleeps this
    ///     long per message, so that the broker's queue for the session grows as under heavy load.
    public init(configuration: MQTTClient.Configuration, journal: Journal, logger: Logger,
                fastPath: EventFastPath? = nil, sessionDelayMicros: UInt32 = 0) throws {
        var configuration = configuration
        configuration.subscriptions = DeviceTopic.subscriptions.map { ($0, 1) }
        configuration.tcpNoDelay = Self.tcpNoDelay
        let received = Counter(label: "cip_mqtt_messages_total")
        let staleRetained = Counter(label: "cip_mqtt_retained_skipped_total")
        let earlyEvents = Counter(label: "cip_mqtt_events_first_on_event_connection_total")
        let pairing = Mutex(EventPairing())
        self.logger = logger
        client = try MQTTClient(configuration: configuration, logger: logger) { message in
            guard !Self.isStaleRetained(message, counter: staleRetained) else { return }
            if sessionDelayMicros > 0 { usleep(sessionDelayMicros) }
            let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
            let urgent = !message.topic.hasSuffix("/telemetry")
            guard let fastPath, Self.isEventTopic(message.topic) else {
                _ = journal.append(topic: message.topic, payload: message.payload, receivedAtMicros: now, urgent: urgent)
                received.increment()
                return
            }
            let key = MessageKey.compute(topic: message.topic, payload: message.payload, receivedAtMicros: nil)
            guard case .journal(let receivedAt, let first) = pairing.withLock({ $0.arrived(key, on: .session, nowMicros: now) })
            else { preconditionFailure("the session's copy is always journaled") }
            let sequence = journal.append(topic: message.topic, payload: message.payload, receivedAtMicros: receivedAt, urgent: true)
            if first {
                fastPath.submit(JournalRecord(sequence: sequence, receivedAtMicros: receivedAt, topic: message.topic,
                                              payload: message.payload))
            }
            received.increment()
        }
        eventsClient = try fastPath.map { fastPath in
            var events = configuration
            events.clientID = configuration.clientID + "/events"
            // Nothing queued at the broker while the gateway is away: the session has those, durably.
            events.cleanSession = true
            events.subscriptions = [(Self.eventsFilter, 1)]
            events.tcpNoDelay = true
            return try MQTTClient(configuration: events, logger: logger) { message in
                guard !Self.isStaleRetained(message, counter: staleRetained) else { return }
                let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
                let key = MessageKey.compute(topic: message.topic, payload: message.payload, receivedAtMicros: nil)
                guard case .fastPathOnly(let receivedAt) = pairing.withLock({ $0.arrived(key, on: .events, nowMicros: now) })
                else { return }
                earlyEvents.increment()
                // Not journaled (sequence 0): the session's copy is, under the same arrival time.
                fastPath.submit(JournalRecord(sequence: 0, receivedAtMicros: receivedAt, topic: message.topic,
                                              payload: message.payload))
            }
        }
    }

    /// Whether `topic` is one the events connection receives (`devices/<one level>/events`).
    static func isEventTopic(_ topic: String) -> Bool {
        let utf8 = topic.utf8
        guard utf8.starts(with: "devices/".utf8), topic.hasSuffix("/events") else { return false }
        let middle = utf8.dropFirst(8).dropLast(7)
        return !middle.contains(UInt8(ascii: "/")) && utf8.count >= 15
    }

    /// The broker sets the retain flag only on a stored message it hands a (re)subscribing client; a live message
    /// comes without it. Our persistent session received that message live when it was sent, so a retained copy
    /// is a stale replay (a device's retained last will "offline" would otherwise undo the "online" it sent
    /// since). The broker plugin keeps device messages from being retained at all; a will is the one path it
    /// cannot see.
    private static func isStaleRetained(_ message: MQTTMessage, counter: Counter) -> Bool {
        guard message.retained, message.topic.hasPrefix("devices/") else { return false }
        counter.increment()
        return true
    }

    public var isConnected: Bool { client.isConnected }

    public func run() async throws {
        // The events connection first: an event that arrives while the session connects is then seen at once.
        try eventsClient?.start()
        try client.start()
        logger.info("MQTT ingress started", metadata: ["broker": "\(client.configuration.url)",
                                                         "client": "\(client.configuration.clientID)",
                                                         "events connection": "\(eventsClient?.configuration.clientID ?? "none")"])
        try? await gracefulShutdown()
        // Stop receiving first; the broker keeps queueing for our persistent session.
        client.stop()
        eventsClient?.stop()
        logger.info("MQTT ingress stopped")
    }
}
