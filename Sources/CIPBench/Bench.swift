import ArgumentParser
import Composition
import Foundation
import Ingest
import Logging
import MQTT
import Postgres
import ServiceLifecycle
import Storage
import Synchronization
import Telemetry

/// `cip-bench bench`: measures, in one run on the local stack, (a) the broker's QoS 1 rate to a subscriber
/// that discards, (b) PostgreSQL's COPY rate for the same rows, (c) the gateway end to end (first publish to
/// last row committed), and prints c/a and c/b.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure broker, database and gateway throughput in one run.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var broker: BrokerOptions

    @Option(help: "QoS 1 messages per measurement.")
    var messages: Int = 200_000

    @Option(help: "Simulated devices the messages are spread over.")
    var devices: Int = 10_000

    @Option(help: "Unacknowledged publishes the load generator allows (keep it in the hundreds).")
    var window: Int = 200

    @Option(help: "Database created (and dropped first) for the run.")
    var benchDatabase: String = "cip_bench"

    @Option(help: "Rounds of (a) and (c), alternating; the medians are reported (the machine is shared and noisy).")
    var rounds: Int = 3

    @Option(help: "Also measure (t): the gateway end to end with the publisher and the gateway on this mqtts:// listener, in each round beside (c) (env MQTTS_URL of .stack/env).")
    var tlsURL: String?

    @Option(help: "The CA of the broker's certificate for --tls-url (the stack's TLS_CA_FILE).")
    var tlsCAFile: String?

    func run() async throws {
        Observability.bootstrapLogging()
        var logger = Logger(label: "cip.bench")
        logger.logLevel = .warning
        let brokerURL = try broker.parsedURL()

        let payloads = (0..<messages).map { Self.payload($0) }
        let deviceIDs = (0..<devices).map { String(format: "bench-%05d", $0) }
        print("cip-bench bench: \(messages) QoS 1 SenML messages (3 values each) from \(devices) devices, window \(window)")

        // Fresh database with the gateway's schema.
        let scratch = try await BenchDatabase.fresh(serverURL: database.url, name: benchDatabase, logger: logger)
        try await scratch.registerDevices(deviceIDs, type: "sensor")
        let catalogue = try DataModelsLoader.normalizer(at: nil)

        // (b) COPY of the rows the gateway would write, in the gateway's batch size.
        let copyRate = try await scratch.pool.withConnection { connection in
            try Self.measureCopy(connection: connection, payloads: payloads, devices: deviceIDs, catalogue: catalogue)
        }
        print(String(format: "(b) PostgreSQL COPY of the same rows:        %8.0f messages/s (%.0f rows/s)", copyRate, copyRate * 3))

        // (a) the broker alone and (c) the gateway end to end, alternating, so that both see the same machine.
        var brokerRates: [Double] = []
        var gatewayRates: [Double] = []
        var tlsRates: [Double] = []
        var tlsBrokerRates: [Double] = []
        // (t) the same as (c), publisher and gateway over TLS: the broker options with the TLS listener.
        let overTLS: Bench? = try tlsURL.map { url in
            var bench = self
            bench.broker.url = url
            bench.broker.caFile = tlsCAFile
            _ = try bench.broker.parsedURL()
            return bench
        }
        for round in 1...max(1, rounds) {
            let brokerRate = try measureBroker(url: brokerURL, payloads: payloads, devices: deviceIDs, logger: logger)
            print(String(format: "    round %d (a) broker:  %8.0f messages/s", round, brokerRate))
            try await scratch.execute("TRUNCATE observations, latest_observations, raw_messages, dead_letters")
            let gatewayRate = try await measureGateway(url: scratch.url, brokerURL: brokerURL, payloads: payloads,
                                                       devices: deviceIDs, catalogue: catalogue, logger: logger)
            print(String(format: "    round %d (c) gateway: %8.0f messages/s", round, gatewayRate))
            brokerRates.append(brokerRate)
            gatewayRates.append(gatewayRate)
            if let overTLS {
                let tlsBrokerRate = try overTLS.measureBroker(url: try overTLS.broker.parsedURL(), payloads: payloads, devices: deviceIDs, logger: logger)
                print(String(format: "    round %d (a') broker over TLS:   %8.0f messages/s (a'/a %.2f)", round, tlsBrokerRate, tlsBrokerRate / brokerRate))
                tlsBrokerRates.append(tlsBrokerRate)
                try await scratch.execute("TRUNCATE observations, latest_observations, raw_messages, dead_letters")
                let tlsRate = try await overTLS.measureGateway(url: scratch.url, brokerURL: try overTLS.broker.parsedURL(), payloads: payloads,
                                                               devices: deviceIDs, catalogue: catalogue, logger: logger)
                print(String(format: "    round %d (t) gateway over TLS: %8.0f messages/s (t/c %.2f)", round, tlsRate, tlsRate / gatewayRate))
                tlsRates.append(tlsRate)
            }
        }
        let brokerRate = median(brokerRates)
        let gatewayRate = median(gatewayRates)
        print(String(format: "(a) broker QoS 1 to a discarding subscriber: %8.0f messages/s (median of %d)", brokerRate, brokerRates.count))
        let stored = try await scratch.count("SELECT count(*) AS n FROM observations")
        print(String(format: "(c) gateway end to end (publish → commit):  %8.0f messages/s (%.0f values/s, median of %d)", gatewayRate, gatewayRate * 3, gatewayRates.count))
        print(String(format: "c/a = %.2f   c/b = %.2f   observations stored: %d of %d", gatewayRate / brokerRate,
                     gatewayRate / copyRate, stored, messages * 3))
        if !tlsRates.isEmpty {
            let tlsRate = median(tlsRates)
            print(String(format: "(t) gateway end to end over TLS (publisher and gateway on %@): %8.0f messages/s (median of %d)",
                         tlsURL ?? "", tlsRate, tlsRates.count))
            print(String(format: "(a') broker over TLS to a discarding subscriber over TLS: %8.0f messages/s (median of %d)",
                         median(tlsBrokerRates), tlsBrokerRates.count))
            print(String(format: "t/c = %.2f (the gateway end to end, TLS against plain TCP, same run)   a'/a = %.2f (the broker alone)",
                         tlsRate / gatewayRate, median(tlsBrokerRates) / brokerRate))
        }
        await scratch.close()
        if stored != messages * 3 { throw ValidationError("the gateway stored \(stored) observations, expected \(messages * 3)") }
    }

    private func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    static func payload(_ index: Int) -> [UInt8] {
        let time = 1_760_000_000.0 + Double(index) / 1000
        return Array(String(format: "[{\"bt\":%.3f,\"n\":\"temperature\",\"u\":\"Cel\",\"v\":%.2f},{\"n\":\"humidity\",\"u\":\"%%RH\",\"v\":%.1f},{\"n\":\"battery\",\"u\":\"%%\",\"v\":%d}]",
                            time, 18 + Double(index % 700) / 100, 30 + Double(index % 400) / 10, 100 - index % 90).utf8)
    }

    /// Publishes every payload with a bounded window; returns when all are acknowledged.
    private func publishAll(url: MQTTURL, topicPrefix: String, payloads: [[UInt8]], devices: [String],
                            logger: Logger) throws {
        let publisher = try MQTTClient(configuration: try broker.bridgeConfiguration(clientID: "cip-bench-publisher-\(getpid())"),
                                       logger: logger)
        try publisher.connect()
        for (index, payload) in payloads.enumerated() {
            try publisher.publish(topic: "\(topicPrefix)/\(devices[index % devices.count])/telemetry", payload: payload,
                                  qos: 1, window: window)
        }
        publisher.waitForAcknowledgements(timeout: 120)
        publisher.stop()
    }

    private func measureBroker(url: MQTTURL, payloads: [[UInt8]], devices: [String], logger: Logger) throws -> Double {
        let received = ReceivedCounter()
        var configuration = try broker.bridgeConfiguration(clientID: "cip-bench-subscriber-\(getpid())")
        configuration.subscriptions = [("bench/+/telemetry", 1)]
        configuration.tcpNoDelay = MQTTIngress.tcpNoDelay  // the same socket as the gateway's, for a fair baseline
        let subscriber = try MQTTClient(configuration: configuration, logger: logger) { _ in received.add() }
        try subscriber.connect()
        Thread.sleep(forTimeInterval: 0.5)  // let the subscription settle
        let started = Date()
        try publishAll(url: url, topicPrefix: "bench", payloads: payloads, devices: devices, logger: logger)
        let deadline = Date().addingTimeInterval(120)
        while received.value < payloads.count, Date() < deadline { Thread.sleep(forTimeInterval: 0.001) }
        let elapsed = Date().timeIntervalSince(started)
        subscriber.stop()
        guard received.value >= payloads.count else {
            throw ValidationError("the subscriber received \(received.value) of \(payloads.count) messages")
        }
        return Double(payloads.count) / elapsed
    }

    /// COPYs the rows the gateway would write into the observations table itself, in the gateway's batch size,
    /// then empties it again.
    private static func measureCopy(connection: PostgresConnection, payloads: [[UInt8]], devices: [String],
                             catalogue: CatalogueNormalizer) throws -> Double {
        let normalizer = Normalizer(catalogue: catalogue)
        let profiles = Dictionary(uniqueKeysWithValues: devices.map { ($0, DeviceProfile(type: "sensor", model: nil, state: "active")) })
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        var batches: [[UInt8]] = []
        let batchSize = IngestPipeline.Configuration().maxBatchMessages
        for start in stride(from: 0, to: payloads.count, by: batchSize) {
            var rows: [Observation] = []
            for index in start..<min(start + batchSize, payloads.count) {
                let record = JournalRecord(sequence: UInt64(index + 1), receivedAtMicros: now,
                                           topic: "devices/\(devices[index % devices.count])/telemetry", payload: payloads[index])
                rows.append(contentsOf: normalizer.normalize(record, devices: profiles).observations)
            }
            batches.append(IngestStore.copyData(rows))
        }
        let started = Date()
        for batch in batches {
            try connection.transaction {
                try $0.copyIn("COPY observations (\(IngestStore.observationColumns)) FROM STDIN BINARY", data: batch)
            }
        }
        let rate = Double(payloads.count) / Date().timeIntervalSince(started)
        try connection.execute("TRUNCATE observations")
        return rate
    }

    /// (c): a gateway (pipeline and ingress, and `extra` of its services) ingesting every payload; messages/s from the
    /// first publish to the last commit.
    /// For benchmarks that run a gateway in their process: logging at warnings, and a `Bench` for `measureGateway`
    /// with their database and broker.
    static func inProcess(database: DatabaseOptions, broker: BrokerOptions) throws -> (Bench, Logger) {
        Observability.bootstrapLogging()
        var logger = Logger(label: "cip.bench")
        logger.logLevel = .warning
        var bench = try Bench.parse([])
        bench.database = database
        bench.broker = broker
        return (bench, logger)
    }

    func measureGateway(url: String, brokerURL: MQTTURL, payloads: [[UInt8]], devices: [String],
                        catalogue: CatalogueNormalizer, logger: Logger,
                        extra: (GatewayServices) -> [any Service] = { _ in [] }, settle: Duration = .milliseconds(500)) async throws -> Double {
        let journalDirectory = NSTemporaryDirectory() + "cip-bench-journal-\(getpid())"
        try? FileManager.default.removeItem(atPath: journalDirectory)
        defer { try? FileManager.default.removeItem(atPath: journalDirectory) }
        let gateway = try GatewayServices(
            databaseURL: url,
            brokerConfiguration: try broker.configuration(clientID: "cip-bench-gateway-\(getpid())", cleanSession: true),
            journalDirectory: journalDirectory, journalSync: .milliseconds(5), maxPayloadBytes: 256 << 10,
            maxBatchMessages: IngestPipeline.Configuration().maxBatchMessages, catalogue: catalogue, logger: logger)
        let group = ServiceGroup(services: [gateway.pipeline, gateway.ingress] + extra(gateway), logger: logger)
        let running = Task { try await group.run() }
        while !gateway.ingress.isConnected { try await Task.sleep(for: .milliseconds(10)) }
        try await Task.sleep(for: settle)  // subscriptions settle (and the extra services read what they need)
        let started = Date()
        try publishAll(url: brokerURL, topicPrefix: "devices", payloads: payloads, devices: devices, logger: logger)
        let publishedAfter = Date().timeIntervalSince(started)
        let journaledAtPublishEnd = gateway.journal.lastSequence
        let committedAtPublishEnd = gateway.pipeline.storedThrough
        let deadline = Date().addingTimeInterval(300)
        while gateway.pipeline.storedThrough < UInt64(payloads.count), Date() < deadline {
            try await Task.sleep(for: .milliseconds(1))
        }
        let elapsed = Date().timeIntervalSince(started)
        print(String(format: "    all published and acknowledged after %.2f s (journaled %d, committed %d); all committed after %.2f s",
                     publishedAfter, journaledAtPublishEnd, committedAtPublishEnd, elapsed))
        await group.triggerGracefulShutdown()
        try await running.value
        guard gateway.journal.committedSequence >= UInt64(payloads.count) else {
            throw ValidationError("the gateway committed \(gateway.journal.committedSequence) of \(payloads.count) messages")
        }
        return Double(payloads.count) / elapsed
    }
}

private final class ReceivedCounter: Sendable {
    private let count = Atomic<Int>(0)
    func add() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// A fresh database for a benchmark run: dropped if it exists (retried while autovacuum still holds it), created,
/// migrated, with today's partitions. Reached, like the gateway's, through a pool; one connection is enough for
/// the bench's own statements (setup, truncation, counts).
struct BenchDatabase: Sendable {
    let url: String
    let pool: PostgresPool

    static func fresh(serverURL: String, name: String, logger: Logger) async throws -> BenchDatabase {
        let server = PostgresPool(url: serverURL, size: 1, logger: logger)
        try await server.withConnection { admin in
            for attempt in 1...10 {
                do {
                    try admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
                    break
                } catch {
                    if attempt == 10 { throw error }
                    Thread.sleep(forTimeInterval: 0.5)
                }
            }
            try admin.execute("CREATE DATABASE \(name)")
        }
        await server.shutDown()
        let url = PostgresURL.withDatabase(serverURL, name)
        let pool = PostgresPool(url: url, size: 1, logger: logger)
        let migrator = Migrator(migrations: try Migration.bundled(), logger: logger)
        try await pool.withConnection { connection in
            try migrator.migrate(connection)
            try Migrator.ensurePartitions(connection)
        }
        return BenchDatabase(url: url, pool: pool)
    }

    func execute(_ sql: String) async throws {
        try await pool.withConnection { try $0.execute(sql) }
    }

    /// Registers devices in one statement, active as in production (unknown ids would be quarantined): serial
    /// number `SN-<id>`, one type and tenant, and each device's care recipient where `careRecipientRefs` gives one.
    func registerDevices(_ ids: [String], type: String, model: String? = nil, tenant: String = "bench",
                         careRecipientRefs: [String]? = nil) async throws {
        let careRecipients: [String?] = careRecipientRefs ?? Array(repeating: nil, count: ids.count)
        precondition(careRecipients.count == ids.count, "one care recipient per device")
        try await pool.withConnection { connection in
            try connection.query("""
                INSERT INTO devices (device_id, serial_number, type, model, tenant, care_recipient_ref, lifecycle_state)
                SELECT id, 'SN-' || id, $2, $5, $3, care_recipient_ref, 'active'
                FROM unnest($1::text[], $4::text[]) AS device(id, care_recipient_ref)
                """, [PostgresArray.text(ids), type, tenant, PostgresArray.text(careRecipients), model])
        }
    }

    /// The `n` column of a one-row query (`SELECT count(*) AS n ...`).
    func count(_ sql: String) async throws -> Int {
        try await pool.withConnection { try $0.query(sql).single().decode("n") }
    }

    func close() async { await pool.shutDown() }
}
