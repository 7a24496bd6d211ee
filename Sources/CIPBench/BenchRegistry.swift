import ArgumentParser
import Composition
import Foundation
import Ingest
import Logging
import Models
import Postgres
import Registry
import Storage

/// `cip-bench bench-registry`: the registry at fleet scale. Imports N devices from CSV, loads them into the
/// in-memory directory, and times the ingest-path lookup and the IoT list pages, each against a database round
/// trip (`SELECT 1`) measured in the same run.
struct BenchRegistry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-registry", abstract: "Measure device import, in-memory lookup and list pages at fleet scale.")

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Devices to register.")
    var devices: Int = 100_000

    @Option(help: "Database created (and dropped first) for the run.")
    var benchDatabase: String = "cip_bench_registry"

    func run() async throws {
        Observability.bootstrapLogging()
        var logger = Logger(label: "cip.bench-registry")
        logger.logLevel = .warning
        let scratch = try await BenchDatabase.fresh(serverURL: database.url, name: benchDatabase, logger: logger)
        let url = scratch.url
        let catalogue = try Catalogue.loadDefault()
        let types = ["digital-lock", "gps-alarm", "safety-alarm", "sensor"]
        print("cip-bench bench-registry: \(devices) devices")

        // Import: CSV parsing and validation, then registration with claim codes, as `devices import` does.
        var csv = "device_id,serial_number,type,vendor,tenant,placement,care_recipient_ref,tags\n"
        for index in 0..<devices {
            csv += "dev-\(index),SN-\(index),\(types[index % 4]),Vendor \(index % 7),tenant-\(index % 10),Room \(index % 500),cr-\(index),fleet\n"
        }
        let pool = PostgresPool(url: url, size: 2, logger: logger)
        let importStarted = Date()
        let report = try DeviceCSV.parse(Array(csv.utf8), knownTypes: Set(catalogue.deviceTypes.map(\.id)))
        let parsed = Date().timeIntervalSince(importStarted)
        let result = try await PostgresDeviceRepository(pool: pool).register(report.accepted, actor: "bench",
                                                                             claimValiditySeconds: 86_400)
        let imported = Date().timeIntervalSince(importStarted)
        guard result.registered.count == devices else {
            throw ValidationError("registered \(result.registered.count) of \(devices)")
        }
        print(String(format: "import: %d rows in %.2f s (%.0f rows/s; parse + validate %.2f s)", devices, imported,
                     Double(devices) / imported, parsed))
        // Half the fleet has supervision state, so that connectivity filters join real rows.
        try await scratch.execute("""
            INSERT INTO device_status (device_id, connectivity, last_seen, battery)
            SELECT device_id, CASE WHEN random() < 0.9 THEN 'online' ELSE 'offline' END, now(), 100 * random()
            FROM devices WHERE random() < 0.5;
            ANALYZE devices; ANALYZE device_status;
            """)

        // Baseline: one database round trip, what a per-message lookup would cost at least.
        // Timed on the connection's own thread, as the pool runs the gateway's statements.
        let roundTrip = try await scratch.pool.withConnection { connection in
            try Self.median(200) { _ = try connection.query("SELECT 1") }
        }
        print(String(format: "baseline: SELECT 1 round trip %.1f µs (median of 200)", roundTrip * 1e6))

        let directory = DeviceDirectory()
        let reload = try await scratch.pool.withConnection { connection in
            let started = Date()
            try directory.reload(from: connection)
            return Date().timeIntervalSince(started)
        }
        print(String(format: "directory: full reload of %d devices %.0f ms", directory.count, reload * 1e3))
        let snapshot = directory.snapshot
        let ids = (0..<1_000_000).map { _ in "dev-\(Int.random(in: 0..<devices))" }
        let lookupStarted = DispatchTime.now().uptimeNanoseconds
        var found = 0
        for id in ids where snapshot[id] != nil { found += 1 }
        let lookup = Double(DispatchTime.now().uptimeNanoseconds - lookupStarted) / 1e9 / Double(ids.count)
        guard found == ids.count else { throw ValidationError("lookups found \(found) of \(ids.count)") }
        print(String(format: "lookup: %.0f ns per device id in memory = %.5f of a round trip (1:%.0f)", lookup * 1e9,
                     lookup / roundTrip, roundTrip / lookup))

        let repository = PostgresDeviceRepository(pool: pool)
        let pages: [(String, DeviceQuery)] = [
            ("first page (100)", DeviceQuery(limit: 101)),
            ("page after dev-50000", DeviceQuery(afterDeviceId: "dev-50000", limit: 101)),
            ("type=gps-alarm", DeviceQuery(type: "gps-alarm", limit: 101)),
            ("tenant + state", DeviceQuery(state: .registered, tenant: "tenant-3", limit: 101)),
            ("connectivity=offline", DeviceQuery(connectivity: "offline", limit: 101)),
            ("q=Room 42 (substring)", DeviceQuery(text: "Room 42", limit: 101)),
        ]
        for (name, query) in pages {
            var rows = 0
            let time = try await medianAsync(21) { rows = try await repository.list(query).count }
            let label = ("list " + name).padding(toLength: 30, withPad: " ", startingAt: 0)
            print(label + String(format: "%7.2f ms (%d rows) = %5.1f round trips", time * 1e3, rows, time / roundTrip))
        }
        let fleet = try await medianAsync(5) { _ = try await repository.fleet(lowBatteryThreshold: 20, tenants: nil) }
        print("fleet summary".padding(toLength: 30, withPad: " ", startingAt: 0)
              + String(format: "%7.2f ms = %5.1f round trips", fleet * 1e3, fleet / roundTrip))
        await scratch.close()
    }

    private static func median(_ runs: Int, _ body: () throws -> Void) throws -> Double {
        var times: [Double] = []
        for _ in 0..<runs {
            let started = DispatchTime.now().uptimeNanoseconds
            try body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
        }
        return times.sorted()[runs / 2]
    }

    private func medianAsync(_ runs: Int, _ body: () async throws -> Void) async throws -> Double {
        var times: [Double] = []
        for _ in 0..<runs {
            let started = DispatchTime.now().uptimeNanoseconds
            try await body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
        }
        return times.sorted()[runs / 2]
    }
}
