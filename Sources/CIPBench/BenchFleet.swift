import ArgumentParser
import Composition
import Foundation
import Ingest
import Logging
import MQTT
import ServiceLifecycle
import Synchronization

/// `cip-bench bench-fleet`: ingest of a mixed fleet with the real payload formats, the way the demo fleet speaks
/// (`Simulate`): Nordlock NL-200 locks (vendor JSON, state and unlock/lock events), GPS alarms (SenML positions,
/// SOS), safety alarms (SCAIP XML heartbeats and button alarms) and room sensors (SenML), every device registered
/// with its type and model, so every message takes the catalogue path. In one run, alternating: (a) the broker
/// alone, the same messages to a subscriber that discards them; (c) the gateway end to end (session, fast path,
/// pipeline), first publish to last message committed. Reports c/a.
struct BenchFleet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-fleet", abstract: "Measure ingest of a mixed fleet (locks, GPS alarms, safety alarms, sensors) against the broker alone.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var broker: BrokerOptions

    @Option(help: "Devices of each kind (lock, gps, safety, sensor).")
    var devicesPerKind: Int = 2_500

    @Option(help: "Rounds of messages: each device says what it says in a round of the demo fleet.")
    var messageRounds: Int = 20

    @Option(help: "Rounds of (a) and (c), alternating; medians reported.")
    var rounds: Int = 3

    @Option(help: "Database created (and dropped first) for the run.")
    var benchDatabase: String = "cip_bench_fleet"

    func validate() throws {
        guard devicesPerKind > 0, messageRounds > 0, rounds > 0 else {
            throw ValidationError("--devices-per-kind, --message-rounds and --rounds must be positive")
        }
    }

    func run() async throws {
        Observability.bootstrapLogging()
        var logger = Logger(label: "cip.bench-fleet")
        logger.logLevel = .error
        let fleet = DemoFleet.make(perKind: devicesPerKind)
        let start = 1_760_000_000.0
        var messages: [(device: String, channel: String, payload: [UInt8])] = []
        for round in 0..<messageRounds {
            for device in fleet {
                for message in device.messages(round: round, now: start + Double(round) * 60) {
                    messages.append((device.id, message.channel, Array(message.payload.utf8)))
                }
            }
        }
        let counts = Dictionary(grouping: messages, by: \.channel).mapValues(\.count)
        print("cip-bench bench-fleet: \(fleet.count) devices (\(devicesPerKind) locks, GPS alarms, safety alarms, sensors), "
              + "\(messages.count) QoS 1 messages (\(counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")))")

        let scratch = try await BenchDatabase.fresh(serverURL: database.url, name: benchDatabase, logger: logger)
        let registrations: [(DemoDevice.Kind, String, String?)] = [
            (.lock, "digital-lock", "nordlock-nl200"), (.gps, "gps-alarm", nil), (.safety, "safety-alarm", nil), (.sensor, "sensor", nil),
        ]
        for (kind, type, model) in registrations {
            try await scratch.registerDevices(fleet.filter { $0.kind == kind }.map(\.id), type: type, model: model)
        }
        let catalogue = try DataModelsLoader.normalizer(at: nil)

        var brokerRates: [Double] = [], gatewayRates: [Double] = []
        for round in 1...rounds {
            let brokerRate = try measureBroker(messages, logger: logger)
            print(String(format: "    round %d (a) broker:  %8.0f messages/s", round, brokerRate))
            try await scratch.execute("TRUNCATE observations, latest_observations, raw_messages, dead_letters, events")
            let gatewayRate = try await measureGateway(messages, url: scratch.url, catalogue: catalogue, logger: logger)
            print(String(format: "    round %d (c) gateway: %8.0f messages/s", round, gatewayRate))
            brokerRates.append(brokerRate)
            gatewayRates.append(gatewayRate)
        }
        let accepted = try await scratch.count("SELECT count(*) AS n FROM raw_messages WHERE outcome = 'accepted'")
        let stored = try await scratch.count("SELECT count(*) AS n FROM raw_messages")
        let deadLetters = try await scratch.count("SELECT count(*) AS n FROM dead_letters")
        let events = try await scratch.count("SELECT count(*) AS n FROM events")
        await scratch.close()
        let (a, c) = (Self.median(brokerRates), Self.median(gatewayRates))
        print(String(format: "(a) broker QoS 1 to a discarding subscriber: %8.0f messages/s (median of %d)", a, brokerRates.count))
        print(String(format: "(c) gateway end to end (publish → commit):  %8.0f messages/s (median of %d)", c, gatewayRates.count))
        print(String(format: "c/a = %.2f   last round: %d of %d messages stored, %d accepted on the catalogue path, %d dead letters, %d events",
                     c / a, stored, messages.count, accepted, deadLetters, events))
        guard stored == messages.count else { throw BenchFailure("the gateway stored \(stored) of \(messages.count) messages") }
    }

    static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    private func publishAll(_ messages: [(device: String, channel: String, payload: [UInt8])], prefix: String,
                            logger: Logger) throws {
        let publisher = try MQTTClient(configuration: try broker.bridgeConfiguration(clientID: "cip-bench-fleet-pub-\(getpid())"),
                                       logger: logger)
        try publisher.connect()
        for message in messages {
            try publisher.publish(topic: "\(prefix)/\(message.device)/\(message.channel)", payload: message.payload, qos: 1, window: 200)
        }
        _ = publisher.waitForAcknowledgements(timeout: 120)
        publisher.stop()
    }

    private func measureBroker(_ messages: [(device: String, channel: String, payload: [UInt8])], logger: Logger) throws -> Double {
        let received = Atomic<Int>(0)
        var configuration = try broker.bridgeConfiguration(clientID: "cip-bench-fleet-sub-\(getpid())")
        configuration.subscriptions = [("bench/#", 1)]
        configuration.tcpNoDelay = MQTTIngress.tcpNoDelay
        let subscriber = try MQTTClient(configuration: configuration, logger: logger) { _ in
            received.add(1, ordering: .relaxed)
        }
        try subscriber.connect()
        Thread.sleep(forTimeInterval: 0.5)
        let started = Date()
        try publishAll(messages, prefix: "bench", logger: logger)
        let deadline = Date().addingTimeInterval(120)
        while received.load(ordering: .relaxed) < messages.count, Date() < deadline { Thread.sleep(forTimeInterval: 0.001) }
        let elapsed = Date().timeIntervalSince(started)
        subscriber.stop()
        guard received.load(ordering: .relaxed) >= messages.count else {
            throw BenchFailure("the subscriber received \(received.load(ordering: .relaxed)) of \(messages.count) messages")
        }
        return Double(messages.count) / elapsed
    }

    private func measureGateway(_ messages: [(device: String, channel: String, payload: [UInt8])], url: String,
                                catalogue: CatalogueNormalizer, logger: Logger) async throws -> Double {
        let journalDirectory = NSTemporaryDirectory() + "cip-bench-fleet-journal-\(getpid())"
        try? FileManager.default.removeItem(atPath: journalDirectory)
        defer { try? FileManager.default.removeItem(atPath: journalDirectory) }
        let gateway = try GatewayServices(
            databaseURL: url, brokerConfiguration: try broker.configuration(clientID: "cip-bench-fleet-gw-\(getpid())", cleanSession: true),
            journalDirectory: journalDirectory, journalSync: .milliseconds(5), maxPayloadBytes: 256 << 10,
            maxBatchMessages: IngestPipeline.Configuration().maxBatchMessages, catalogue: catalogue, logger: logger)
        var services: [any Service] = [gateway.pipeline, gateway.ingress]
        if let fastPath = gateway.fastPath { services.append(fastPath) }
        let group = ServiceGroup(services: services, logger: logger)
        let running = Task { try await group.run() }
        while !gateway.ingress.isConnected { try await Task.sleep(for: .milliseconds(10)) }
        try await Task.sleep(for: .milliseconds(500))
        let started = Date()
        try publishAll(messages, prefix: "devices", logger: logger)
        let deadline = Date().addingTimeInterval(300)
        while gateway.pipeline.storedThrough < UInt64(messages.count), Date() < deadline {
            try await Task.sleep(for: .milliseconds(1))
        }
        let elapsed = Date().timeIntervalSince(started)
        await group.triggerGracefulShutdown()
        try await running.value
        guard gateway.journal.committedSequence >= UInt64(messages.count) else {
            throw BenchFailure("the gateway committed \(gateway.journal.committedSequence) of \(messages.count) messages")
        }
        return Double(messages.count) / elapsed
    }
}
