import ArgumentParser
import Composition
import Foundation
import Ingest
import Logging
import ServiceLifecycle

/// `cip-bench bench-replay`: the gateway's own work per message on the catalogue path, without the broker or a load
/// generator in the process. Writes a journal of SenML messages from registered sensors (as `bench` publishes them),
/// then lets the ingest pipeline replay it into a fresh database, as after a restart, and reports the process's
/// CPU time per message (user + system, `getrusage`; PostgreSQL's own time is another process's). For instruction
/// counts (`valgrind --tool=callgrind`, which the machine's noise does not move), write the journal in one run
/// (`--write-only --journal-directory D`) and replay it under callgrind in another (`--journal-directory D`), for N
/// and N/2 messages: the difference of the totals over N/2 is the instructions per message, without the cost of
/// making the messages or of starting the process.
struct BenchReplay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-replay", abstract: "Measure the gateway's CPU time per message replaying a journal.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var broker: BrokerOptions

    @Option(help: "Messages in the journal.")
    var messages: Int = 100_000

    @Option(help: "Registered sensors the messages are spread over.")
    var devices: Int = 1_000

    @Option(help: "Database created (and dropped first) for the run.")
    var benchDatabase: String = "cip_bench_replay"

    @Option(help: "Journal directory to write (with --write-only) or to replay when it holds a journal already (default: a temporary one).")
    var journalDirectory: String?

    @Flag(help: "Only write the journal into --journal-directory, for a later run to replay.")
    var writeOnly = false

    func validate() throws {
        guard (1...10_000_000).contains(messages) else { throw ValidationError("--messages must be 1 to 10000000") }
        guard (1...1_000_000).contains(devices) else { throw ValidationError("--devices must be 1 to 1000000") }
        if writeOnly, journalDirectory == nil { throw ValidationError("--write-only needs --journal-directory") }
    }

    func run() async throws {
        Observability.bootstrapLogging()
        var logger = Logger(label: "cip.bench-replay")
        logger.logLevel = .warning
        let scratch = try await BenchDatabase.fresh(serverURL: database.url, name: benchDatabase, logger: logger)
        let deviceIDs = (0..<devices).map { String(format: "bench-%05d", $0) }
        try await scratch.registerDevices(deviceIDs, type: "sensor")
        let catalogue = try DataModelsLoader.normalizer(at: nil)

        let directory = journalDirectory ?? NSTemporaryDirectory() + "cip-bench-replay-\(getpid())"
        let written = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).contains { $0.hasSuffix(".seg") }
        defer { if journalDirectory == nil { try? FileManager.default.removeItem(atPath: directory) } }
        if !written || writeOnly {
            try? FileManager.default.removeItem(atPath: directory)
            let journal = try Journal(configuration: Journal.Configuration(directory: directory), logger: logger)
            let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
            for index in 0..<messages {
                _ = journal.append(topic: "devices/\(deviceIDs[index % devices])/telemetry", payload: Bench.payload(index),
                                   receivedAtMicros: now + Int64(index))
            }
            journal.sync()
        }
        if writeOnly {
            print("cip-bench bench-replay: \(messages) messages written to the journal in \(directory)")
            await scratch.close()
            return
        }

        let before = Self.cpuSeconds()
        let started = ContinuousClock.now
        let gateway = try GatewayServices(
            databaseURL: scratch.url,
            brokerConfiguration: try broker.configuration(clientID: "cip-bench-replay-\(getpid())", cleanSession: true),
            journalDirectory: directory, journalSync: .milliseconds(5), maxPayloadBytes: 256 << 10,
            maxBatchMessages: IngestPipeline.Configuration().maxBatchMessages, catalogue: catalogue, logger: logger)
        // The pools and the pipeline only: no broker connection, nothing else in the process.
        let group = ServiceGroup(services: [gateway.ingestPool, gateway.apiPool, gateway.pipeline], logger: logger)
        let running = Task { try await group.run() }
        while gateway.pipeline.storedThrough < UInt64(messages) {
            try await Task.sleep(for: .milliseconds(2))
        }
        let elapsed = ContinuousClock.now - started
        let cpu = Self.cpuSeconds() - before
        await group.triggerGracefulShutdown()
        try await running.value
        let stored = try await scratch.count("SELECT count(*) AS n FROM observations")
        await scratch.close()
        guard stored == messages * 3 else { throw BenchFailure("stored \(stored) observations, expected \(messages * 3)") }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("cip-bench bench-replay: \(messages) SenML messages (3 values each) of \(devices) registered sensors, replayed from the journal")
        print(String(format: "replayed and committed in %.2f s: %.0f messages/s", seconds, Double(messages) / seconds))
        print(String(format: "gateway CPU (user + system): %.2f s = %.2f µs per message", cpu, cpu / Double(messages) * 1e6))
    }

    /// User and system CPU time of this process so far.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
