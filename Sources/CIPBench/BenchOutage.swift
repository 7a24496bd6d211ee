import ArgumentParser
import Composition
import Foundation
import Ingest
import Logging
import ServiceLifecycle

/// `cip-bench bench-outage`: the journal under a database outage. Telemetry flows at a steady rate from registered
/// sensors while PostgreSQL is stopped (`Gateway/stack db-stop`) for the given time: the journal's size on disk is
/// sampled while it holds everything the gateway acknowledged, then the database comes back and the time to drain
/// the backlog (with the load still running) and the journal's size afterwards are reported. Every acknowledged
/// message is then counted in the database.
struct BenchOutage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-outage", abstract: "Measure the journal's disk use and drain time across a database outage under steady telemetry.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var broker: BrokerOptions

    @Option(help: "Telemetry messages per second, throughout.")
    var rate: Int = 5_000

    @Option(help: "Seconds the database is stopped.")
    var outageSeconds: Int = 600

    @Option(help: "Seconds of load before the outage.")
    var warmupSeconds: Int = 10

    @Option(help: "The stack script that stops and starts the database (db-stop, db-start).")
    var stackScript: String = "Gateway/stack"

    @Option(help: "Database created (and dropped first) for the run.")
    var benchDatabase: String = "cip_bench_outage"

    func validate() throws {
        guard rate > 0, outageSeconds > 0, warmupSeconds >= 0 else {
            throw ValidationError("--rate and --outage-seconds must be positive, --warmup-seconds not negative")
        }
        guard FileManager.default.isExecutableFile(atPath: stackScript) else {
            throw ValidationError("--stack-script \(stackScript) is not an executable file")
        }
    }

    func run() async throws {
        Observability.bootstrapLogging()
        var logger = Logger(label: "cip.bench-outage")
        logger.logLevel = .critical  // the pipeline's retries during the outage are the point, not news
        let scratch = try await BenchDatabase.fresh(serverURL: database.url, name: benchDatabase, logger: logger)
        let sensors = (0..<1_000).map { String(format: "outage-sensor-%04d", $0) }
        try await scratch.registerDevices(sensors, type: "sensor")
        say("cip-bench bench-outage: \(rate) telemetry messages/s from \(sensors.count) registered sensors, database stopped for \(outageSeconds) s")

        let catalogue = try DataModelsLoader.normalizer(at: nil)
        let journalDirectory = NSTemporaryDirectory() + "cip-bench-outage-journal-\(getpid())"
        try? FileManager.default.removeItem(atPath: journalDirectory)
        defer { try? FileManager.default.removeItem(atPath: journalDirectory) }
        let gateway = try GatewayServices(
            databaseURL: scratch.url,
            brokerConfiguration: try broker.configuration(clientID: "cip-bench-outage-gw-\(getpid())", cleanSession: true),
            journalDirectory: journalDirectory, journalSync: .milliseconds(5), maxPayloadBytes: 256 << 10,
            maxBatchMessages: IngestPipeline.Configuration().maxBatchMessages, catalogue: catalogue, logger: logger)
        let group = ServiceGroup(services: [gateway.pipeline, gateway.ingress], logger: logger)
        let running = Task { try await group.run() }
        while !gateway.ingress.isConnected { try await Task.sleep(for: .milliseconds(10)) }
        try await Task.sleep(for: .milliseconds(500))

        let load = try TelemetryLoad(configuration: try broker.bridgeConfiguration(clientID: "cip-bench-outage-load-\(getpid())"),
                                     devices: sensors, rate: rate, logger: logger)
        try load.start()
        try await Task.sleep(for: .seconds(warmupSeconds))
        func line(_ phase: String, _ seconds: Double) {
            say(phase + String(format: " %6.0f s  sent %9d  journaled %9d  backlog %9d  journal on disk %8.1f MB", seconds,
                         load.sent, gateway.journal.lastSequence, gateway.journal.backlog,
                         Double(Self.bytes(in: journalDirectory)) / 1_048_576))
        }
        line("before   ", 0)
        try stack("db-stop")
        let stopped = Date()
        var peakBytes = 0
        let journaledAtStop = gateway.journal.lastSequence
        let sampleEvery = max(1, outageSeconds / 20)
        while Date().timeIntervalSince(stopped) < Double(outageSeconds) {
            try await Task.sleep(for: .seconds(min(sampleEvery, max(1, outageSeconds - Int(Date().timeIntervalSince(stopped))))))
            peakBytes = max(peakBytes, Self.bytes(in: journalDirectory))
            line("outage   ", Date().timeIntervalSince(stopped))
        }
        let backlogAtStart = gateway.journal.backlog
        let journaledDuringOutage = gateway.journal.lastSequence - journaledAtStop
        // Caught up: everything journaled until the database came back is stored (the load goes on meanwhile).
        let target = gateway.journal.lastSequence
        try stack("db-start")
        let restarted = Date()
        var lastLine = Date()
        while gateway.pipeline.storedThrough < target, Date().timeIntervalSince(restarted) < 3_600 {
            try await Task.sleep(for: .milliseconds(100))
            peakBytes = max(peakBytes, Self.bytes(in: journalDirectory))
            if Date().timeIntervalSince(lastLine) >= 10 {
                line("draining ", Date().timeIntervalSince(restarted))
                lastLine = Date()
            }
        }
        let drained = Date().timeIntervalSince(restarted)
        line("caught up", drained)
        // The checkpoint moves with the next flush of latest values; then old segments go.
        try await Task.sleep(for: .seconds(5))
        let afterBytes = Self.bytes(in: journalDirectory)
        load.stop()
        try await Task.sleep(for: .seconds(2))
        let journaled = gateway.journal.lastSequence
        let deadline = Date().addingTimeInterval(300)
        while gateway.pipeline.storedThrough < journaled, Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
        await group.triggerGracefulShutdown()
        try? await running.value
        // The bench's own connection did not survive the outage: the first use after it may fail once.
        let stored: Int
        do {
            stored = try await scratch.count("SELECT count(*) AS n FROM raw_messages")
        } catch {
            stored = try await scratch.count("SELECT count(*) AS n FROM raw_messages")
        }
        await scratch.close()

        print(String(format: "journaled during the outage: %d messages (%.0f/s); backlog when the database returned: %d",
                     journaledDuringOutage, Double(journaledDuringOutage) / Double(outageSeconds), backlogAtStart))
        print(String(format: "journal on disk: peak %.1f MB (%.0f bytes per message held), %.1f MB 5 s after catching up",
                     Double(peakBytes) / 1_048_576, Double(peakBytes) / Double(max(backlogAtStart, 1)), Double(afterBytes) / 1_048_576))
        print(String(format: "drained in %.1f s with the load still running: %.0f messages/s above the load (%.2f × the load's rate)",
                     drained, Double(backlogAtStart) / drained, Double(backlogAtStart) / drained / Double(rate)))
        print("stored \(stored) of \(journaled) journaled messages (\(load.sent) published)")
        guard stored == Int(journaled) else { throw BenchFailure("stored \(stored) of \(journaled) journaled messages") }
    }

    /// A progress line written at once (print is buffered when the output is a file).
    private func say(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    private func stack(_ command: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: stackScript)
        process.arguments = [command]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Reaped here: with the gateway's services running in this process, Foundation's own wait (`waitUntilExit`,
        // `isRunning`) never saw the script end (it stayed a zombie).
        let deadline = Date().addingTimeInterval(120)
        var status: Int32 = 0
        while waitpid(process.processIdentifier, &status, WNOHANG) == 0 {
            guard Date() < deadline else { throw BenchFailure("\(stackScript) \(command) still running after 120 s") }
            Thread.sleep(forTimeInterval: 0.05)
        }
        // WEXITSTATUS: the exit code is in the second byte of the status.
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else { throw BenchFailure("\(stackScript) \(command) failed (status \(status))") }
    }

    /// Bytes of the files in `directory` (the journal's segments and its small state files).
    static func bytes(in directory: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.reduce(0) { total, name in
            let attributes = try? FileManager.default.attributesOfItem(atPath: (directory as NSString).appendingPathComponent(name))
            return total + ((attributes?[.size] as? NSNumber)?.intValue ?? 0)
        }
    }
}
