import ArgumentParser
import Composition
import Foundation
import Geofence
import Ingest
import Models
import SafeZones

/// `cip-bench bench-geofence`: the geofence evaluation of one position for a device among 10,000 with three zones
/// each (a circle, a concave polygon, a circle in force at night), against the SenML normalization of the message
/// that carried the position, in the same run, on one core.
struct BenchGeofence: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-geofence", abstract: "Measure safe-zone evaluation per position against the SenML normalization of it.")

    @Option(help: "Devices, each with three zones.")
    var devices: Int = 10_000

    @Option(help: "Positions evaluated (spread over the devices).")
    var positions: Int = 1_000_000

    func run() async throws {
        let normalizer = try DataModelsLoader.normalizer(at: nil)
        let home = GeoPoint(latitude: 57.6996, longitude: 11.9527)
        var prepared: [[PreparedZone]] = []
        var calendars: [ZoneSchedules] = []
        prepared.reserveCapacity(devices)
        for index in 0..<devices {
            let center = GeoPoint(latitude: home.latitude + Double(index % 100) * 0.001, longitude: home.longitude + Double(index / 100) * 0.001)
            let base = Int64(index) * 3
            let zones = [
                SafeZone(id: base + 1, deviceId: "gps-\(index)", name: "Home", shape: .circle(center: center, radiusMeters: 150),
                         schedule: [], tuning: ZoneTuning(), createdBy: "bench", createdAtMicros: 0, updatedAtMicros: 0),
                // An L-shaped care-home block (concave).
                SafeZone(id: base + 2, deviceId: "gps-\(index)", name: "Block", shape: .polygon([
                    GeoPoint(latitude: center.latitude, longitude: center.longitude),
                    GeoPoint(latitude: center.latitude, longitude: center.longitude + 0.004),
                    GeoPoint(latitude: center.latitude + 0.001, longitude: center.longitude + 0.004),
                    GeoPoint(latitude: center.latitude + 0.001, longitude: center.longitude + 0.001),
                    GeoPoint(latitude: center.latitude + 0.003, longitude: center.longitude + 0.001),
                    GeoPoint(latitude: center.latitude + 0.003, longitude: center.longitude),
                ]), schedule: [], tuning: ZoneTuning(), createdBy: "bench", createdAtMicros: 0, updatedAtMicros: 0),
                SafeZone(id: base + 3, deviceId: "gps-\(index)", name: "Night", shape: .circle(center: center, radiusMeters: 60),
                         schedule: [WeeklyWindow(days: Set(1...7), startMinute: 22 * 60, endMinute: 7 * 60)], tuning: ZoneTuning(),
                         createdBy: "bench", createdAtMicros: 0, updatedAtMicros: 0),
            ]
            prepared.append(zones.map { PreparedZone($0.zone) })
            calendars.append(ZoneSchedules(zones))
        }
        // Fixes wandering around each home, 30 s apart per device.
        let start: Int64 = 1_800_000_000_000_000
        var fixes: [(device: Int, fix: Fix)] = []
        fixes.reserveCapacity(positions)
        var generator = SystemRandomNumberGenerator()
        for index in 0..<positions {
            let device = index % devices
            let round = Int64(index / devices)
            let meters = Double.random(in: 0...400, using: &generator)
            let point = GeoPoint(latitude: home.latitude + Double(device % 100) * 0.001 + meters / 111_320,
                                 longitude: home.longitude + Double(device / 100) * 0.001)
            fixes.append((device, Fix(atMicros: start + round * 30_000_000, point: point, accuracyMeters: 12)))
        }
        var states = [DeviceGeofence](repeating: DeviceGeofence(), count: devices)
        var actions = 0
        let evaluationStart = DispatchTime.now().uptimeNanoseconds
        for (device, fix) in fixes {
            actions += states[device].apply(fix, zones: prepared[device], calendar: calendars[device]).count
        }
        let evaluationSeconds = Double(DispatchTime.now().uptimeNanoseconds - evaluationStart) / 1e9

        // The baseline: the SenML message of one position, normalized (parse + catalogue checks + position folding).
        let message = Array("""
            [{"bt":1800000000,"n":"latitude","u":"lat","v":57.701234},{"n":"longitude","u":"lon","v":11.953456},\
            {"n":"position_accuracy","u":"m","v":12}]
            """.utf8)
        let baselineCount = min(positions, 300_000)
        let parseStart = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<baselineCount {
            _ = try? normalizer.normalize(deviceType: "gps-alarm", model: nil, format: .senml, payload: message, receivedAt: 1_800_000_000)
        }
        let parseSeconds = Double(DispatchTime.now().uptimeNanoseconds - parseStart) / 1e9

        let perFix = evaluationSeconds / Double(positions) * 1e6
        let perParse = parseSeconds / Double(baselineCount) * 1e6
        print("cip-bench bench-geofence: \(devices) devices x 3 zones, \(positions) positions, one thread")
        print(String(format: "zone evaluation per position: %.2f µs (%.0f positions/s), %d exits/returns", perFix, 1e6 / perFix, actions))
        print(String(format: "SenML normalization of the same message: %.2f µs (%.0f messages/s)", perParse, 1e6 / perParse))
        print(String(format: "evaluation / normalization: %.2f", perFix / perParse))
    }
}
