import ArgumentParser
import Composition
import Foundation
import Geofence
import Ingest
import Logging
import Models
import Postgres
import SafeZones
import ServiceLifecycle

/// `cip-bench bench-zones`: the end-to-end ingest rate of GPS alarms whose positions are judged against three safe
/// zones each, against the same fleet and messages without zones, alternating rounds in one run.
struct BenchZones: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-zones", abstract: "Measure the ingest rate of GPS alarms with safe zones against without, in one run.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var broker: BrokerOptions

    @Option(help: "QoS 1 position messages per measurement.")
    var messages: Int = 100_000

    @Option(help: "GPS alarms the messages are spread over (each gets three zones in the runs with zones).")
    var devices: Int = 2_000

    @Option(help: "Percent of the devices that walk out of their zones (the others move within them).")
    var leavingPercent: Int = 5

    @Option(help: "Rounds of (without, with), alternating; medians reported.")
    var rounds: Int = 3

    @Option(help: "Database created (and dropped first) for the run.")
    var benchDatabase: String = "cip_bench_zones"

    func run() async throws {
        let (bench, logger) = try Bench.inProcess(database: database, broker: broker)
        let brokerURL = try broker.parsedURL()
        let deviceIDs = (0..<devices).map { String(format: "gps-bench-%05d", $0) }
        let home = (latitude: 57.6996, longitude: 11.9527)
        print("cip-bench bench-zones: \(messages) QoS 1 SenML positions from \(devices) GPS alarms (\(leavingPercent) % walking out); with 3 zones each against none")

        let scratch = try await BenchDatabase.fresh(serverURL: database.url, name: benchDatabase, logger: logger)
        let benchURL = scratch.url
        try await scratch.registerDevices(deviceIDs, type: "gps-alarm")
        let catalogue = try DataModelsLoader.normalizer(at: nil)
        let zones = PostgresZoneRepository(pool: PostgresPool(url: benchURL, size: 1, logger: logger))

        var without: [Double] = []
        var with: [Double] = []
        for round in 1...max(1, rounds) {
            // Each round its own times, so no message repeats an earlier one.
            let payloads = (0..<messages).map { index -> [UInt8] in
                let device = index % devices
                // Most wearers move about inside their zones (within 54 m of home: inside even the 80 m night zone);
                // `leavingPercent` of them walk out to 600 m and back.
                let leaves = device % 100 < leavingPercent
                let meters = leaves ? Double((index / devices) % 40) * 15 : Double((index / devices) % 10) * 6
                let latitude = home.latitude + Double(device % 50) * 0.01 + meters / 111_320
                let longitude = home.longitude + Double(device / 50) * 0.01
                let time = 1_760_000_000.0 + Double(round) * 1_000_000 + Double(index / devices) * 30 + Double(device) / 1000
                return Array(String(format: "[{\"bt\":%.3f,\"n\":\"latitude\",\"u\":\"lat\",\"v\":%.6f},{\"n\":\"longitude\",\"u\":\"lon\",\"v\":%.6f},{\"n\":\"position_accuracy\",\"u\":\"m\",\"v\":12}]",
                                    time, latitude, longitude).utf8)
            }
            try await scratch.execute("DELETE FROM safe_zones; DELETE FROM geofence_state; TRUNCATE observations, latest_observations, raw_messages, dead_letters")
            let plain = try await bench.measureGateway(url: benchURL, brokerURL: brokerURL, payloads: payloads, devices: deviceIDs,
                                                       catalogue: catalogue, logger: logger,
                                                       extra: { [$0.geofenceMonitor] })
            print(String(format: "    round %d without zones: %8.0f messages/s", round, plain))
            try await scratch.execute("TRUNCATE observations, latest_observations, raw_messages, dead_letters")
            for (index, id) in deviceIDs.enumerated() {
                let center = GeoPoint(latitude: home.latitude + Double(index % 50) * 0.01, longitude: home.longitude + Double(index / 50) * 0.01)
                for spec in [
                    ZoneSpec(name: "Home", shape: .circle(center: center, radiusMeters: 200), schedule: [], tuning: ZoneTuning()),
                    ZoneSpec(name: "Block", shape: .polygon([
                        center, GeoPoint(latitude: center.latitude, longitude: center.longitude + 0.004),
                        GeoPoint(latitude: center.latitude + 0.001, longitude: center.longitude + 0.004),
                        GeoPoint(latitude: center.latitude + 0.001, longitude: center.longitude + 0.001),
                        GeoPoint(latitude: center.latitude + 0.003, longitude: center.longitude + 0.001),
                        GeoPoint(latitude: center.latitude + 0.003, longitude: center.longitude),
                    ]), schedule: [], tuning: ZoneTuning()),
                    ZoneSpec(name: "Night", shape: .circle(center: center, radiusMeters: 80),
                             schedule: [WeeklyWindowNight.every], tuning: ZoneTuning()),
                ] {
                    _ = try await zones.create(spec, deviceId: id, by: "bench")
                }
            }
            let zoned = try await bench.measureGateway(url: benchURL, brokerURL: brokerURL, payloads: payloads, devices: deviceIDs,
                                                       catalogue: catalogue, logger: logger,
                                                       extra: { [$0.geofenceMonitor] },
                                                       settle: .seconds(3))
            let exits = try await scratch.count("SELECT count(*) AS n FROM events WHERE event = 'geofence_exit'")
            print(String(format: "    round %d with zones:    %8.0f messages/s (geofence exits stored so far: %d)", round, zoned, exits))
            without.append(plain)
            with.append(zoned)
        }
        let a = Self.median(without), b = Self.median(with)
        print(String(format: "without zones: %8.0f messages/s (median of %d)", a, without.count))
        print(String(format: "with 3 zones:  %8.0f messages/s (median of %d)", b, with.count))
        print(String(format: "with/without = %.2f (ratio of medians)", b / a))
        // Each round's pair ran back to back, so their ratio cancels the machine's drift between rounds.
        let paired = Self.median(zip(with, without).map { $0 / $1 })
        print(String(format: "with/without = %.2f (median of the %d paired rounds)", paired, with.count))
        await scratch.close()
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}

/// Every night 22:00–07:00, city time.
enum WeeklyWindowNight {
    static let every = Models.WeeklyWindow(days: Set(1...7), startMinute: 22 * 60, endMinute: 7 * 60)
}
