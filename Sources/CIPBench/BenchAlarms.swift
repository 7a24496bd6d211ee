import API
import Access
import Alarms
import ArgumentParser
import Composition
import Foundation
import Hummingbird
import Ingest
import Logging
import MQTT
import Models
import Postgres
import ServiceLifecycle
import Storage
import Synchronization

/// `cip-bench bench-alarms`: alarm latency under load. While telemetry flows in the background, publishes
/// alarm events over MQTT and times each one until its `opened` change arrives on the SSE stream
/// (`/integration/v1/alarms/stream`). The baseline, measured in the same run under the same load, is the broker
/// alone: publish to delivery at a plain subscriber.
struct BenchAlarms: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-alarms", abstract: "Measure alarm latency (MQTT publish to SSE delivery) under telemetry load.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var broker: BrokerOptions

    @Option(help: "Alarms to time.")
    var alarms: Int = 1_000

    @Option(help: "Background telemetry, messages per second.")
    var telemetryRate: Int = 5_000

    @Option(help: "Milliseconds between two alarms.")
    var alarmInterval: Int = 20

    @Option(help: "Database created (and dropped first) for the run.")
    var benchDatabase: String = "cip_bench_alarms"

    func run() async throws {
        Observability.bootstrapLogging()
        var logger = Logger(label: "cip.bench-alarms")
        logger.logLevel = .warning
        let scratch = try await BenchDatabase.fresh(serverURL: database.url, name: benchDatabase, logger: logger)
        let url = scratch.url
        let sensors = (0..<1_000).map { String(format: "bench-sensor-%04d", $0) }
        let alarmDevices = (0..<alarms).map { String(format: "bench-gps-%05d", $0) }
        try await scratch.registerDevices(sensors, type: "sensor")
        try await scratch.registerDevices(alarmDevices, type: "gps-alarm")
        await scratch.close()
        print("cip-bench bench-alarms: \(alarms) alarms, one every \(alarmInterval) ms, over \(telemetryRate) telemetry messages/s")

        let brokerURL = try broker.parsedURL()
        let load = try TelemetryLoad(configuration: try broker.bridgeConfiguration(clientID: "cip-bench-load-\(getpid())"),
                                 devices: sensors, rate: telemetryRate, logger: logger)
        try load.start()
        defer { load.stop() }

        // Baseline: the broker alone, under the same load.
        let baseline = try measureBroker(url: brokerURL, logger: logger)
        print(String(format: "baseline broker publish → subscriber: p50 %.1f ms  p99 %.1f ms  max %.1f ms", baseline.p50, baseline.p99, baseline.max))

        // The gateway: ingest, alarm engine, feed and HTTP in this process.
        let catalogue = try DataModelsLoader.normalizer(at: nil)
        let journalDirectory = NSTemporaryDirectory() + "cip-bench-alarms-journal-\(getpid())"
        try? FileManager.default.removeItem(atPath: journalDirectory)
        defer { try? FileManager.default.removeItem(atPath: journalDirectory) }
        let services = try GatewayServices(
            databaseURL: url, brokerConfiguration: try broker.configuration(clientID: "cip-bench-alarms-gw-\(getpid())", cleanSession: true),
            journalDirectory: journalDirectory, journalSync: .milliseconds(5), maxPayloadBytes: 256 << 10,
            maxBatchMessages: IngestPipeline.Configuration().maxBatchMessages, catalogue: catalogue,
            alarmRules: AlarmRules(catalogue: catalogue.catalogue), logger: logger)
        let port = Int.random(in: 40_000...49_999)
        let app = try buildApplication(host: "127.0.0.1", port: port,
                                   dependencies: services.apiDependencies(catalogue: catalogue.catalogue, metrics: { [] }),
                                   services: services.background, logger: logger)
        let group = ServiceGroup(services: [app], logger: logger)
        let running = Task { try await group.run() }
        while !services.ingress.isConnected { try await Task.sleep(for: .milliseconds(20)) }
        try await Task.sleep(for: .seconds(2))  // subscriptions settle, the feed has read its head

        let published = Mutex<[String: UInt64]>([:])
        let latencies = Mutex<[Double]>([])
        let token = try await ClientStore(pool: PostgresPool(url: url, size: 1, logger: logger))
            .create(name: "bench-alarms", roles: [.alarmOperator], tenants: nil, clearance: 3)
        let stream = try SSEReader(port: port, path: "/integration/v1/alarms/stream", token: token) { data in
            guard let object = try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any],
                  let change = object["change"] as? [String: Any], change["change"] as? String == "opened",
                  let alarm = object["alarm"] as? [String: Any], let device = alarm["deviceId"] as? String else { return }
            let now = DispatchTime.now().uptimeNanoseconds
            if let sent = published.withLock({ $0[device] }) {
                latencies.withLock { $0.append(Double(now - sent) / 1e6) }
            }
        }
        defer { stream.close() }
        try await Task.sleep(for: .milliseconds(500))
        let publisher = try MQTTClient(configuration: try broker.bridgeConfiguration(clientID: "cip-bench-alarms-\(getpid())"), logger: logger)
        try publisher.connect()
        for device in alarmDevices {
            published.withLock { $0[device] = DispatchTime.now().uptimeNanoseconds }
            try publisher.publish(topic: "devices/\(device)/events", payload: Array(#"[{"n":"sos","vb":true}]"#.utf8))
            try await Task.sleep(for: .milliseconds(alarmInterval))
        }
        let deadline = Date().addingTimeInterval(30)
        while latencies.withLock({ $0.count }) < alarms, Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        publisher.stop()
        let sent = load.sent
        await group.triggerGracefulShutdown()
        try? await running.value
        let measured = latencies.withLock { $0 }
        guard measured.count == alarms else {
            throw ValidationError("\(measured.count) of \(alarms) alarms arrived on the stream")
        }
        let result = Percentiles(measured)
        print(String(format: "gateway publish → SSE 'opened':           p50 %.1f ms  p99 %.1f ms  max %.1f ms  (%d alarms)",
                     result.p50, result.p99, result.max, measured.count))
        print(String(format: "background telemetry sent: %d messages (%.0f/s)", sent, Double(sent) / load.elapsed))
        print(String(format: "ratio to the broker alone: p50 %.1fx  p99 %.1fx", result.p50 / baseline.p50, result.p99 / baseline.p99))
    }

    private func measureBroker(url: MQTTURL, logger: Logger) throws -> Percentiles {
        let sentAt = Mutex<[String: UInt64]>([:])
        let latencies = Mutex<[Double]>([])
        var configuration = try broker.bridgeConfiguration(clientID: "cip-bench-alarms-sub-\(getpid())")
        configuration.subscriptions = [("bench/+/events", 1)]
        let subscriber = try MQTTClient(configuration: configuration, logger: logger) { message in
            let now = DispatchTime.now().uptimeNanoseconds
            if let sent = sentAt.withLock({ $0[message.topic] }) { latencies.withLock { $0.append(Double(now - sent) / 1e6) } }
        }
        try subscriber.connect()
        defer { subscriber.stop() }
        Thread.sleep(forTimeInterval: 0.5)
        let publisher = try MQTTClient(configuration: try broker.bridgeConfiguration(clientID: "cip-bench-alarms-pub-\(getpid())"), logger: logger)
        try publisher.connect()
        defer { publisher.stop() }
        for index in 0..<alarms {
            let topic = "bench/\(index)/events"
            sentAt.withLock { $0[topic] = DispatchTime.now().uptimeNanoseconds }
            try publisher.publish(topic: topic, payload: Array(#"[{"n":"sos","vb":true}]"#.utf8))
            Thread.sleep(forTimeInterval: Double(alarmInterval) / 1000)
        }
        let deadline = Date().addingTimeInterval(10)
        while latencies.withLock({ $0.count }) < alarms, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        return Percentiles(latencies.withLock { $0 })
    }
}

struct Percentiles {
    var p50: Double
    var p99: Double
    var max: Double

    init(_ values: [Double]) {
        let sorted = values.sorted()
        func at(_ q: Double) -> Double { sorted.isEmpty ? .nan : sorted[min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.up)) - 1)] }
        p50 = at(0.5)
        p99 = at(0.99)
        max = sorted.last ?? .nan
    }
}

/// Publishes telemetry at a steady rate on a thread of its own, as a fleet of sensors would.
final class TelemetryLoad: @unchecked Sendable {
    private let client: MQTTClient
    private let devices: [String]
    private let rate: Int
    private let running = Atomic<Bool>(false)
    private let count = Atomic<Int>(0)
    private var started = Date()
    private var thread: Thread?

    init(configuration: MQTTClient.Configuration, devices: [String], rate: Int, logger: Logger) throws {
        client = try MQTTClient(configuration: configuration, logger: logger)
        self.devices = devices
        self.rate = rate
    }

    var sent: Int { count.load(ordering: .relaxed) }
    var elapsed: Double { Date().timeIntervalSince(started) }

    func start() throws {
        try client.connect()
        running.store(true, ordering: .relaxed)
        started = Date()
        let thread = Thread { [self] in
            // 10 ms ticks: rate / 100 messages each.
            let perTick = max(1, rate / 100)
            var tick = 0
            while running.load(ordering: .relaxed) {
                let due = started.addingTimeInterval(Double(tick) / 100)
                let wait = due.timeIntervalSinceNow
                if wait > 0 { Thread.sleep(forTimeInterval: wait) }
                for _ in 0..<perTick {
                    let index = count.add(1, ordering: .relaxed).newValue
                    let payload = #"[{"n":"temperature","u":"Cel","v":\#(20 + index % 5)},{"n":"battery","u":"%","v":\#(50 + index % 50)}]"#
                    try? client.publish(topic: "devices/\(devices[index % devices.count])/telemetry", payload: Array(payload.utf8))
                }
                tick += 1
            }
        }
        self.thread = thread
        thread.start()
    }

    func stop() {
        running.store(false, ordering: .relaxed)
        client.waitForAcknowledgements(timeout: 10)
        client.stop()
    }
}

/// A Server-Sent Events reader over a plain socket (HTTP/1.1, chunked), calling `onData` with each event's data.
final class SSEReader: @unchecked Sendable {
    private let descriptor: Int32

    init(port: Int, path: String, token: String, onData: @escaping @Sendable (String) -> Void) throws {
        descriptor = try connectLoopback(port: port)
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nAuthorization: Bearer \(token)\r\n\r\n"
        _ = request.withCString { send(descriptor, $0, strlen($0), 0) }
        let fd = descriptor
        Thread {
            var buffer = [UInt8](repeating: 0, count: 65_536)
            var text = ""
            while true {
                let count = recv(fd, &buffer, buffer.count, 0)
                if count <= 0 { return }
                text += String(decoding: buffer[0..<count], as: UTF8.self)
                // Only `data:` lines matter here; chunk-size lines and headers are skipped.
                while let newline = text.firstIndex(of: "\n") {
                    let line = text[..<newline]
                    if line.hasPrefix("data: ") { onData(String(line.dropFirst(6))) }
                    text = String(text[text.index(after: newline)...])
                }
            }
        }.start()
    }

    func close() {
        shutdown(descriptor, Int32(SHUT_RDWR))
        Glibc.close(descriptor)
    }
}
