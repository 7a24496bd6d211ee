import ArgumentParser
import Composition
import Foundation
import Logging
import MQTT
import Synchronization

/// `cip-bench bench-memory`: the resident memory of `cip-gateway serve` (a child process, as it runs in production)
/// with a large registered fleet, idle after start and under ingest load across every device. In-run reference:
/// the same binary serving an empty registry.
struct BenchMemory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-memory", abstract: "Measure the RSS of `cip-gateway serve` with a large registered fleet, idle and under ingest load.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var broker: BrokerOptions

    @Option(help: "Registered sensors.")
    var devices: Int = 100_000

    @Option(help: "QoS 1 SenML messages published across them (3 values each).")
    var messages: Int = 200_000

    @Option(help: "The gateway binary (default: cip-gateway beside this executable).")
    var gatewayBinary: String?

    @Option(name: .customLong("gateway-env"), help: "KEY=VALUE added to the gateway's environment (repeatable).")
    var gatewayEnvironment: [String] = []

    @Option(help: "Database created (and dropped first) for the run; the reference uses the same name with _empty.")
    var benchDatabase: String = "cip_bench_memory"

    func validate() throws {
        guard devices > 0, messages > 0 else { throw ValidationError("--devices and --messages must be positive") }
        for entry in gatewayEnvironment where !entry.contains("=") {
            throw ValidationError("--gateway-env \(entry): expected KEY=VALUE")
        }
    }

    func run() async throws {
        Observability.bootstrapLogging()
        var logger = Logger(label: "cip.bench-memory")
        logger.logLevel = .warning
        let binary = gatewayBinary ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("cip-gateway").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw BenchFailure("no gateway binary at \(binary) (build it: swift build -c release --product cip-gateway)")
        }
        print("cip-bench bench-memory: \(binary) serve, \(devices) registered sensors, \(messages) messages across them")

        // Reference: the same binary, empty registry, idle.
        let empty = try await BenchDatabase.fresh(serverURL: database.url, name: benchDatabase + "_empty", logger: logger)
        await empty.close()
        let reference = try await GatewayChild.start(binary: binary, databaseURL: empty.url, broker: broker,
                                                     extraEnvironment: gatewayEnvironment, name: "empty")
        try await Task.sleep(for: .seconds(3))
        let referenceRSS = reference.memory()
        try await reference.stop()
        print(String(format: "reference, empty registry, idle:        RSS %6.1f MB", referenceRSS.rssMB))

        let scratch = try await BenchDatabase.fresh(serverURL: database.url, name: benchDatabase, logger: logger)
        let ids = (0..<devices).map { String(format: "mem-%06d", $0) }
        try await scratch.registerDevices(ids, type: "sensor")
        let gateway = try await GatewayChild.start(binary: binary, databaseURL: scratch.url, broker: broker,
                                                   extraEnvironment: gatewayEnvironment, name: "fleet")
        do {
            try await measure(gateway, scratch: scratch, ids: ids, referenceMB: referenceRSS.rssMB, logger: logger)
        } catch {
            try? await gateway.stop()
            throw error
        }
        await scratch.close()
    }

    private func measure(_ gateway: GatewayChild, scratch: BenchDatabase, ids: [String], referenceMB: Double, logger: Logger) async throws {
        try await Task.sleep(for: .seconds(3))
        let idle = gateway.memory()
        print(String(format: "%d devices, idle after start:       RSS %6.1f MB", devices, idle.rssMB))

        let peak = Atomic<Int>(idle.rssKB)
        let sampling = Atomic<Bool>(true)
        let sampler = Thread {
            while sampling.load(ordering: .relaxed) {
                peak.max(gateway.memory().rssKB, ordering: .relaxed)
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
        sampler.start()
        let started = Date()
        let publisher = try MQTTClient(configuration: try broker.bridgeConfiguration(clientID: "cip-bench-memory-\(getpid())"),
                                       logger: logger)
        try publisher.connect()
        for index in 0..<messages {
            try publisher.publish(topic: "devices/\(ids[index % ids.count])/telemetry", payload: Bench.payload(index), window: 200)
        }
        _ = publisher.waitForAcknowledgements(timeout: 120)
        publisher.stop()
        let deadline = Date().addingTimeInterval(600)
        var stored = 0
        while Date() < deadline {
            stored = try await scratch.count("SELECT count(*) AS n FROM raw_messages")
            if stored >= messages { break }
            try await Task.sleep(for: .seconds(1))
        }
        let elapsed = Date().timeIntervalSince(started)
        try await Task.sleep(for: .seconds(5))
        sampling.store(false, ordering: .relaxed)
        let after = gateway.memory()
        let latestRows = try await scratch.count("SELECT count(DISTINCT device_id) AS n FROM latest_observations")
        try await gateway.stop()
        guard stored >= messages else { throw BenchFailure("the gateway stored \(stored) of \(messages) messages") }
        let peakMB = Double(peak.load(ordering: .relaxed)) / 1024
        print(String(format: "under load (%d messages stored in %.1f s, %d devices with latest values):", messages, elapsed, latestRows))
        print(String(format: "  peak RSS (sampled every 0.2 s):       %6.1f MB   (kernel's high-water mark: %.1f MB)", peakMB, after.highWaterMB))
        print(String(format: "  RSS 5 s after the last commit:        %6.1f MB", after.rssMB))
        print(String(format: "peak / reference: %.2f; goal: peak <= 256 MB", peakMB / referenceMB))
    }
}

/// `cip-gateway serve` as a child process on the local stack, for benchmarks that measure the process itself.
final class GatewayChild: @unchecked Sendable {  // Process: read-only after start
    let process: Process
    let journalDirectory: String
    let port: Int
    let clientID: String
    let broker: BrokerOptions

    struct Memory {
        var rssKB: Int
        var highWaterKB: Int
        var rssMB: Double { Double(rssKB) / 1024 }
        var highWaterMB: Double { Double(highWaterKB) / 1024 }
    }

    private init(process: Process, journalDirectory: String, port: Int, clientID: String, broker: BrokerOptions) {
        self.clientID = clientID
        self.broker = broker
        self.process = process
        self.journalDirectory = journalDirectory
        self.port = port
    }

    static func start(binary: String, databaseURL: String, broker: BrokerOptions, extraEnvironment: [String],
                      name: String) async throws -> GatewayChild {
        let journalDirectory = NSTemporaryDirectory() + "cip-bench-\(name)-journal-\(getpid())"
        try? FileManager.default.removeItem(atPath: journalDirectory)
        let port = Int.random(in: 40_000...49_999)
        // The stack's settings, without what would change the process measured unless asked for (--gateway-env).
        var environment = ProcessInfo.processInfo.environment.filter { key, _ in
            !key.hasPrefix("CIP_TEST_") && !key.hasPrefix("MALLOC_")
        }
        environment["DATABASE_URL"] = databaseURL
        environment["MQTT_URL"] = broker.url
        if let username = broker.username { environment["MQTT_USERNAME"] = username }
        if let password = broker.password { environment["MQTT_PASSWORD"] = password }
        let clientID = "bench-\(name)-\(getpid())"
        environment["MQTT_CLIENT_ID"] = clientID
        environment["JOURNAL_DIR"] = journalDirectory
        environment["HTTP_PORT"] = String(port)
        environment["LOG_LEVEL"] = "warning"
        // Not measured here, and it would create one broker account per registered device on the dev broker.
        environment["CIP_BROKER_CONTROL"] = "off"
        for entry in extraEnvironment {
            let parts = entry.split(separator: "=", maxSplits: 1)
            environment[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve"]
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        // Its log in a file: an inherited stderr would keep the bench's output pipe open if the bench died first.
        let logPath = journalDirectory + ".log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: logPath)
        try process.run()
        let child = GatewayChild(process: process, journalDirectory: journalDirectory, port: port, clientID: clientID, broker: broker)
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            guard process.isRunning else { throw BenchFailure("the gateway exited with status \(process.terminationStatus); its log: \(logPath)") }
            if child.httpStatus("/readyz") == 200 { return child }
            try await Task.sleep(for: .milliseconds(200))
        }
        try await child.stop()
        throw BenchFailure("the gateway was not ready within 120 s")
    }

    /// VmRSS and VmHWM of the child, from /proc.
    func memory() -> Memory {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8) else {
            return Memory(rssKB: 0, highWaterKB: 0)
        }
        func field(_ name: String) -> Int {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return 0 }
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
        }
        return Memory(rssKB: field("VmRSS"), highWaterKB: field("VmHWM"))
    }

    /// The status code of a GET, or nil when the gateway does not answer.
    func httpStatus(_ path: String) -> Int? {
        guard let socket = try? connectLoopback(port: port) else { return nil }
        defer { Glibc.close(socket) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ Glibc.send(socket, $0.baseAddress, $0.count, 0) }) == request.count else { return nil }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = buffer.withUnsafeMutableBytes { Glibc.recv(socket, $0.baseAddress, $0.count, 0) }
        guard count >= 12 else { return nil }
        return Int(String(decoding: buffer[9..<12], as: UTF8.self))
    }

    func stop() async throws {
        if process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(60)
            while process.isRunning, Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        // Its persistent session goes too, or the broker would queue every later message for it.
        if let reset = try? MQTTClient(configuration: try broker.configuration(clientID: clientID, cleanSession: true),
                                       logger: Logger(label: "cip.bench")), (try? reset.connect()) != nil {
            reset.stop()
        }
        try? FileManager.default.removeItem(atPath: journalDirectory)
        try? FileManager.default.removeItem(atPath: journalDirectory + ".log")
    }
}
