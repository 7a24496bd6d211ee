import Foundation
import MQTT
import Testing

extension IntegrationTests {
    /// Safe zones on the real stack: positions published over MQTT, evaluated on ingest, alarms from the catalogue.
    @Suite(.serialized) struct SafeZones {
        static func json(_ text: String) -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
        }

        /// A home in Gothenburg (Järntorget).
        static let home = (latitude: 57.6996, longitude: 11.9527)

        /// SenML position `meters` north of home at `seconds` since 1970, with an accuracy.
        static func position(_ meters: Double, at seconds: Double, accuracy: Double = 10) -> [UInt8] {
            let latitude = home.latitude + meters / 111_320
            return Array("""
                [{"bt":\(seconds),"n":"latitude","u":"lat","v":\(String(format: "%.7f", latitude))},\
                {"n":"longitude","u":"lon","v":\(home.longitude)},{"n":"position_accuracy","u":"m","v":\(accuracy)}]
                """.utf8)
        }

        @Test("a walk out of a zone raises exactly one alarm with the position; drift on the edge raises none; the return is noted; an SOS without a fix carries the old last position")
        func walkOutJitterReturnAndSOS() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            try database.register(["gps-1"], type: "gps-alarm")
            let gateway = GatewayProcess(databaseURL: database.url)
            gateway.extraEnvironment = ["CIP_GEOFENCE_SAVE_INTERVAL": "1"]
            defer { gateway.cleanUp() }
            try gateway.start()
            try await gateway.waitUntilReady()
            let planner = try gateway.createClient(name: "care-plan", roles: "care-planner", tenants: "test", clearance: 3)
            let nightTeam = try gateway.createClient(name: "night", roles: "alarm-operator", tenants: "test", clearance: 3)
            let zone = try gateway.httpSend("POST", "/integration/v1/devices/gps-1/zones", json: """
                {"name":"Home","circle":{"latitude":\(Self.home.latitude),"longitude":\(Self.home.longitude),"radiusMeters":200},
                 "tuning":{"confirmFixes":2,"confirmSeconds":3600}}
                """, token: planner)
            #expect(zone.status == 201, "\(zone.body)")
            // Hostile zones: a bow tie, NaN-free but absurd radius, a sensor, another tenant's view.
            let bowTie = try gateway.httpSend("POST", "/integration/v1/devices/gps-1/zones", json: """
                {"name":"x","polygon":[{"latitude":57.70,"longitude":11.95},{"latitude":57.71,"longitude":11.96},{"latitude":57.70,"longitude":11.96},{"latitude":57.71,"longitude":11.95}]}
                """, token: planner)
            #expect(bowTie.status == 400, "\(bowTie.body)")
            let huge = try gateway.httpSend("POST", "/integration/v1/devices/gps-1/zones", json: """
                {"name":"x","circle":{"latitude":57.7,"longitude":11.95,"radiusMeters":1e9}}
                """, token: planner)
            #expect(huge.status == 400, "\(huge.body)")
            // The monitor reads zones every tick (2 s).
            try await Task.sleep(for: .seconds(3))

            let publisher = try makePublisher("gps-zone")
            defer { publisher.stop() }
            // Fifteen minutes ago: at home, then 20 fixes jittering ±15 m on the 200 m edge (accuracy 10 m).
            let start = Date().timeIntervalSince1970 - 900
            var t = start
            try publisher.publish(topic: "devices/gps-1/telemetry", payload: Self.position(0, at: t))
            // The monitor judged it (its state is stored): what follows is judged against the zone, not ignored.
            #expect(try await eventually(timeout: 10) {
                try database.count("SELECT count(*) FROM geofence_state WHERE device_id = 'gps-1'") == 1
            }, "\(gateway.logTail())")
            for index in 0..<20 {
                t += 10
                try publisher.publish(topic: "devices/gps-1/telemetry", payload: Self.position(200 + (index % 2 == 0 ? 15 : -15), at: t))
            }
            #expect(publisher.waitForAcknowledgements(timeout: 10))
            try await Task.sleep(for: .seconds(4))
            #expect(try database.count("SELECT count(*) FROM events WHERE device_id = 'gps-1' AND event = 'geofence_exit'") == 0,
                    "drift on the edge is no exit")
            // The walk out: 260, 320, 400 m.
            for meters in [260.0, 320, 400] {
                t += 10
                try publisher.publish(topic: "devices/gps-1/telemetry", payload: Self.position(meters, at: t))
            }
            #expect(publisher.waitForAcknowledgements(timeout: 10))
            #expect(try await eventually(timeout: 15) {
                try database.count("SELECT count(*) FROM alarms WHERE device_id = 'gps-1' AND type = 'geofence_exit'") == 1
            }, "\(gateway.logTail())")
            let alarms = Self.json(try gateway.httpGet("/integration/v1/alarms?deviceId=gps-1", token: nightTeam).body)
            let exit = (alarms["items"] as? [[String: Any]] ?? []).first { $0["type"] as? String == "geofence_exit" } ?? [:]
            let attributes = exit["attributes"] as? [String: Any] ?? [:]
            #expect(attributes["zoneName"] as? String == "Home" && attributes["latitude"] != nil && attributes["accuracy"] as? String == "10",
                    "\(exit)")
            #expect(attributes["lastPosition"] != nil, "the alarm carries the last known position: \(attributes)")
            // A device's own cancel (an accidental button) never ends the gateway's exit alarm.
            try publisher.publish(topic: "devices/gps-1/events",
                                  payload: Array(#"[{"bt":\#(t + 1),"n":"alarm_cancelled","vb":true}]"#.utf8))
            try await Task.sleep(for: .seconds(3))
            #expect(try database.count("SELECT count(*) FROM events WHERE device_id = 'gps-1' AND event = 'geofence_exit'") == 1,
                    "still one exit a few ticks later")
            #expect(try database.count("SELECT count(*) FROM alarms WHERE device_id = 'gps-1' AND type = 'geofence_exit' AND state = 'open'") == 1)

            // Back home: noted on the alarm's timeline; the alarm stays open for an operator.
            t += 10
            try publisher.publish(topic: "devices/gps-1/telemetry", payload: Self.position(0, at: t))
            #expect(publisher.waitForAcknowledgements(timeout: 10))
            let alarmId = exit["id"] as? Int ?? 0
            #expect(try await eventually(timeout: 15) {
                try database.count("SELECT count(*) FROM alarm_changes WHERE alarm_id = $1 AND change = 'zone_returned'", [Int64(alarmId)]) == 1
            }, "\(gateway.logTail())")
            #expect(try database.count("SELECT count(*) FROM alarms WHERE id = $1 AND state = 'open'", [Int64(alarmId)]) == 1)

            // An SOS now, without a fix: raised at once with the last known position, flagged old (it is minutes old).
            try publisher.publish(topic: "devices/gps-1/events",
                                  payload: Array(#"[{"bt":\#(Date().timeIntervalSince1970),"n":"sos","vb":true}]"#.utf8))
            #expect(publisher.waitForAcknowledgements(timeout: 10))
            #expect(try await eventually(timeout: 10) {
                try database.count("SELECT count(*) FROM alarms WHERE device_id = 'gps-1' AND type = 'sos' AND attributes->>'lastPositionOld' = 'true' AND attributes ? 'lastPosition'") == 1
            }, "\(gateway.logTail())")

            // The track: every position, newest first; not for another tenant; audited.
            let track = try gateway.httpGet("/integration/v1/devices/gps-1/track?from=\(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: start - 1)))", token: nightTeam)
            #expect(track.status == 200, "\(track.body)")
            #expect((Self.json(track.body)["items"] as? [Any])?.count == 25, "\(track.body.prefix(300))")
            let stranger = try gateway.createClient(name: "other", roles: "alarm-operator", tenants: "other", clearance: 3)
            #expect(try gateway.httpGet("/integration/v1/devices/gps-1/track", token: stranger).status == 404)
            #expect(try gateway.httpGet("/integration/v1/devices/gps-1/zones", token: stranger).status == 404)
        }

        @Test("an excursion in progress survives a restart: the exit is raised once, after it")
        func stateSurvivesRestart() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            try database.register(["gps-2"], type: "gps-alarm")
            let gateway = GatewayProcess(databaseURL: database.url)
            // States of devices without a conclusion are stored every second here (30 s by default).
            gateway.extraEnvironment = ["CIP_GEOFENCE_SAVE_INTERVAL": "1"]
            defer { gateway.cleanUp() }
            try gateway.start()
            try await gateway.waitUntilReady()
            let planner = try gateway.createClient(name: "care-plan", roles: "care-planner", tenants: "test", clearance: 3)
            #expect(try gateway.httpSend("POST", "/integration/v1/devices/gps-2/zones", json: """
                {"name":"Garden","circle":{"latitude":\(Self.home.latitude),"longitude":\(Self.home.longitude),"radiusMeters":100},
                 "tuning":{"confirmFixes":3,"confirmSeconds":3600}}
                """, token: planner).status == 201)
            try await Task.sleep(for: .seconds(3))
            let publisher = try makePublisher("gps-restart")
            defer { publisher.stop() }
            var t = Date().timeIntervalSince1970 - 300
            for meters in [0.0, 300, 320] {  // two outside fixes of three
                t += 10
                try publisher.publish(topic: "devices/gps-2/telemetry", payload: Self.position(meters, at: t))
            }
            #expect(publisher.waitForAcknowledgements(timeout: 10))
            #expect(try await eventually(timeout: 10) {
                try database.count("SELECT count(*) FROM geofence_state WHERE device_id = 'gps-2'") == 1
            })
            try await Task.sleep(for: .seconds(3))
            gateway.kill()
            try gateway.start()
            try await gateway.waitUntilReady()
            try await Task.sleep(for: .seconds(3))
            t += 10
            try publisher.publish(topic: "devices/gps-2/telemetry", payload: Self.position(340, at: t))
            #expect(publisher.waitForAcknowledgements(timeout: 10))
            #expect(try await eventually(timeout: 15) {
                try database.count("SELECT count(*) FROM events WHERE device_id = 'gps-2' AND event = 'geofence_exit'") == 1
            }, "the third outside fix after the restart confirms the exit: \(gateway.logTail())")
        }
    }
}
