import ArgumentParser
import Composition
import Foundation
import Ingest
import Synchronization
import Logging
import Models
import Postgres
import Retention

/// `cip-bench bench-retention`: the ingest rate while the retention service purges millions of expired rows, against
/// the rate without a purge before and after, in one run.
struct BenchRetention: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-retention", abstract: "Measure the ingest rate while retention purges expired rows, against without.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var broker: BrokerOptions

    @Option(help: "Expired rows (positions older than their 30 days) spread over `days` day partitions.")
    var expiredRows: Int = 10_000_000

    @Option(help: "Rows per day that must stay (temperatures, 730 days): a day cannot be dropped whole.")
    var keptRowsPerDay: Int = 100_000

    @Option(help: "Expired day partitions the rows are spread over.")
    var days: Int = 10

    @Option(help: "QoS 1 SenML messages per ingest round.")
    var messages: Int = 60_000

    @Option(help: "Registered sensors the messages come from.")
    var sensors: Int = 1_000

    @Option(help: "Ingest rounds without a purge before it and after it (each).")
    var quietRounds: Int = 2

    @Option(help: "Database created (and dropped first) for the run.")
    var benchDatabase: String = "cip_bench_retention"

    func run() async throws {
        let (bench, logger) = try Bench.inProcess(database: database, broker: broker)
        let brokerURL = try broker.parsedURL()
        let sensorIDs = (0..<sensors).map { String(format: "ret-bench-%05d", $0) }
        print("cip-bench bench-retention: \(expiredRows) expired rows over \(days) days (+\(keptRowsPerDay) kept per day); ingest rounds of \(messages) messages from \(sensors) sensors")

        let scratch = try await BenchDatabase.fresh(serverURL: database.url, name: benchDatabase, logger: logger)
        defer { Task { await scratch.close() } }
        try await scratch.registerDevices(sensorIDs, type: "sensor")
        let seedStarted = Date()
        let perDay = expiredRows / max(1, days)
        for day in 0..<days {
            // Days 41 and older: past the positions' 30 days, well within the temperatures' 730.
            try await scratch.execute("""
                SELECT cip_ensure_daily_partitions('observations', current_date - \(41 + day), current_date - \(40 + day));
                INSERT INTO observations (device_id, quantity, value_number, unit, observed_at, received_at, message_key, record_index, confidentiality)
                SELECT 'ret-bench-' || lpad((i % \(sensors))::text, 5, '0'), CASE WHEN i <= \(perDay) THEN 'latitude' ELSE 'temperature' END,
                       57.7, NULL, (current_date - \(41 + day))::timestamptz + make_interval(secs => i % 86400), now(),
                       int8send(i), \(day), 3
                FROM generate_series(1, \(perDay + keptRowsPerDay)) AS i;
                """)
        }
        try await scratch.execute("VACUUM ANALYZE observations")
        print(String(format: "    seeded in %.0f s", Date().timeIntervalSince(seedStarted)))

        let catalogue = try DataModelsLoader.normalizer(at: nil)
        // The journal of the round's gateway: the purge waits while it is behind, as in `serve`.
        let journal = CurrentJournal()
        var round = 0
        func ingestRound() async throws -> Double {
            round += 1
            let now = Date().timeIntervalSince1970
            let offset = Double(round) * 1e-4
            let payloads = (0..<messages).map { index -> [UInt8] in
                let time: Double = now - 600 + Double(index) / 1000 + offset
                let value: Double = 20 + Double(index % 100) / 10
                return Array(String(format: "[{\"bt\":%.4f,\"n\":\"temperature\",\"u\":\"Cel\",\"v\":%.2f}]", time, value).utf8)
            }
            return try await bench.measureGateway(url: scratch.url, brokerURL: brokerURL, payloads: payloads, devices: sensorIDs,
                                                  catalogue: catalogue, logger: logger,
                                                  extra: { gateway in journal.set(gateway.journal); return [] })
        }

        var quiet: [Double] = []
        for _ in 0..<quietRounds {
            let rate = try await ingestRound()
            quiet.append(rate)
            print(String(format: "    without purge:  %8.0f messages/s", rate))
        }

        // The purge as `serve` runs it: same plan, store, step sizes and pacing, waiting while the journal of the
        // round's gateway is more than 1,000 messages behind.
        let retentionPool = PostgresPool(url: scratch.url, size: 1, logger: logger)
        let service = RetentionService(plan: RetentionPlan(catalogue: catalogue.catalogue, settings: RetentionSettings()),
                                       store: PostgresRetentionStore(pool: retentionPool),
                                       ingestIsBehind: { journal.backlog > 1_000 }, logger: logger)
        let purgeStarted = Date()
        let purge = Task { await service.runOnce() }
        var during: [Double] = []
        while service.status.running || during.isEmpty {
            let rate = try await ingestRound()
            during.append(rate)
            print(String(format: "    during purge:   %8.0f messages/s", rate))
        }
        let run = await purge.value
        let purgeSeconds = (run.map { Double($0.finishedAtMicros - $0.startedAtMicros) / 1e6 }) ?? Date().timeIntervalSince(purgeStarted)
        await retentionPool.shutDown()
        let purged = run?.deleted["observations"] ?? 0
        let left: Int = try await scratch.count("SELECT count(*) AS n FROM observations WHERE quantity = 'latitude'")
        let kept: Int = try await scratch.count("SELECT count(*) AS n FROM observations WHERE quantity = 'temperature' AND observed_at < now() - interval '40 days'")

        for _ in 0..<quietRounds {
            let rate = try await ingestRound()
            quiet.append(rate)
            print(String(format: "    without purge:  %8.0f messages/s", rate))
        }
        print(String(format: "purge: %d rows deleted in %.1f s (%.0f rows/s); expired rows left %d; kept rows %d of %d; error: %@",
                     purged, purgeSeconds, Double(purged) / max(purgeSeconds, 0.001), left, kept, keptRowsPerDay * days,
                     run?.error ?? "none"))
        let a = BenchZones.median(quiet), b = BenchZones.median(during)
        print(String(format: "without purge: %8.0f messages/s (median of %d, before and after)", a, quiet.count))
        print(String(format: "during purge:  %8.0f messages/s (median of %d)", b, during.count))
        print(String(format: "during/without = %.2f", b / a))
    }
}

/// The journal of the gateway of the current round (each round starts its own).
final class CurrentJournal: Sendable {
    private let journal = Mutex<Journal?>(nil)

    func set(_ value: Journal) { journal.withLock { $0 = value } }

    var backlog: UInt64 { journal.withLock { $0?.backlog ?? 0 } }
}
