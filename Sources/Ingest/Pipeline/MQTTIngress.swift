import Foundation
import Logging
import MQTT
import Metrics
import ServiceLifecycle

/// Receives device messages from the broker with a persistent session and journals each one before its
/// callback returns, which is before libmosquitto sends the PUBACK. Alarms (the events channel) are synced to
/// disk before the acknowledgement; status and telemetry within the journal's sync interval.
public final class MQTTIngress: Service, Sendable {
    public let client: MQTTClient
    /// Off: under load, PUBACKs share TCP segments instead of each crossing the network stack alone.
    public static let tcpNoDelay = false
    private let logger: Logger

    /// - Parameter fastPath: gets every message of the events channel right after it is journaled.
    /// - Parameter appendDelaySeconds: fault injection for the test that pins the PUBACK after the journal
    ///   (`CIP_TEST_JOURNAL_APPEND_DELAY_MS`): each message waits this long before it is journaled.
    public init(configuration: MQTTClient.Configuration, journal: Journal, logger: Logger,
                fastPath: EventFastPath? = nil, appendDelaySeconds: Double? = nil) throws {
        var configuration = configuration
        configuration.subscriptions = DeviceTopic.subscriptions.map { ($0, 1) }
        configuration.tcpNoDelay = Self.tcpNoDelay
        let received = Counter(label: "cip_mqtt_messages_total")
        let staleRetained = Counter(label: "cip_mqtt_retained_skipped_total")
        self.logger = logger
        client = try MQTTClient(configuration: configuration, logger: logger) { message in
            // The broker sets the retain flag only on a stored message it hands a (re)subscribing client; a live
            // message comes without it. Our persistent session received that message live when it was sent, so
            // a retained copy is a stale replay (a device's retained last will "offline" would otherwise undo
            // the "online" it sent since). The broker plugin keeps device messages from being retained at all;
            // a will is the one path it cannot see.
            if message.retained, message.topic.hasPrefix("devices/") {
                staleRetained.increment()
                return
            }
            let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
            // Alarms reach the disk before their PUBACK. Status (heartbeats, online/offline, last wills) and telemetry
            // within the journal's sync interval: a heartbeat synced alone cost a safety alarm fleet half the
            // gateway's rate (bench-fleet: 50,000 SCAIP heartbeats, one fdatasync each).
            let urgent = message.topic.hasSuffix("/events")
            if let appendDelaySeconds { Thread.sleep(forTimeInterval: appendDelaySeconds) }
            let sequence = journal.append(topic: message.topic, payload: message.payload, receivedAtMicros: now, urgent: urgent)
            if let fastPath, message.topic.hasSuffix("/events") {
                fastPath.submit(JournalRecord(sequence: sequence, receivedAtMicros: now, topic: message.topic,
                                              payload: message.payload))
            }
            received.increment()
        }
    }

    public var isConnected: Bool { client.isConnected }

    public func run() async throws {
        try client.start()
        logger.info("MQTT ingress started", metadata: ["broker": "\(client.configuration.url)",
                                                         "client": "\(client.configuration.clientID)"])
        try? await gracefulShutdown()
        // Stop receiving first; the broker keeps queueing for our persistent session.
        client.stop()
        logger.info("MQTT ingress stopped")
    }
}
