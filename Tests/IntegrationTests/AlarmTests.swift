import Foundation
import MQTT
import Testing

extension IntegrationTests {
    /// Alarms end to end with a real gateway process, broker and database: every source raises the right alarm,
    /// the lifecycle, dedup, escalation and the resumable stream hold, also across a SIGKILL of the gateway.
    @Suite(.serialized) struct Alarms {
        static func json(_ body: String) -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? [:]
        }

        static func alarms(_ gateway: GatewayProcess, _ query: String = "") throws -> [[String: Any]] {
            json(try gateway.httpGet("/integration/v1/alarms\(query)").body)["items"] as? [[String: Any]] ?? []
        }

        static func alarm(_ gateway: GatewayProcess, device: String, type: String, states: String = "open,acknowledged,resolved,cancelled") throws -> [String: Any]? {
            try alarms(gateway, "?state=\(states)&limit=1000").first { $0["deviceId"] as? String == device && $0["type"] as? String == type }
        }

        static func scaip(_ type: String, ref: String, device: String) -> [UInt8] {
            Array("""
                <?xml version="1.0" encoding="UTF-8"?><mrq><ref>\(ref)</ref><cid>\(device)</cid><dty>0003</dty>\
                <mty>\(type)</mty><stc>0010</stc><pri>1</pri><lco>0001</lco><lte>Bedroom</lte></mrq>
                """.utf8)
        }

        @Test("care and technical alarms: raised, counted, acknowledged, resolved, cancelled, escalated, streamed and resumed across a kill")
        func alarmLifecycleEndToEnd() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let models = try Onboarding.fastHeartbeatModels()
            defer { try? FileManager.default.removeItem(atPath: models) }
            try database.register(["safety-1", "safety-2"], type: "safety-alarm")
            try database.register(["gps-1"], type: "gps-alarm")
            try database.register(["lock-1"], type: "digital-lock")
            try database.register(["sensor-1"])
            let gateway = GatewayProcess(databaseURL: database.url)
            gateway.extraEnvironment = [
                "CIP_DATA_MODELS": models, "CIP_HEARTBEAT_GRACE": "1", "CIP_SUPERVISION_SETTLE": "1",
                // The highest priority must be acknowledged within 2 s here, so that escalation shows quickly.
                "CIP_ALARM_ACK_TARGETS": "1=2,2=600,3=600,4=600,5=600",
            ]
            defer { gateway.cleanUp() }
            try gateway.start()
            try await gateway.waitUntilReady()
            let live = try SSEClient(port: gateway.httpPort, path: "/integration/v1/alarms/stream", token: gateway.token)
            defer { live.close() }
            let device = try makePublisher("alarm-devices")
            defer { device.stop() }

            // Care alarms: SCAIP button alarm (twice: one alarm, counted), GPS SOS with a position, lock forced entry.
            try device.publish(topic: "devices/gps-1/telemetry", payload: Array(#"[{"n":"latitude","u":"lat","v":59.33},{"n":"longitude","u":"lon","v":18.07},{"n":"position_accuracy","u":"m","v":8}]"#.utf8))
            try device.publish(topic: "devices/safety-1/events", payload: Self.scaip("ME", ref: "a1", device: "safety-1"))
            try device.publish(topic: "devices/safety-1/events", payload: Self.scaip("ME", ref: "a2", device: "safety-1"))
            try device.publish(topic: "devices/gps-1/events", payload: Array(#"[{"n":"sos","vb":true}]"#.utf8))
            try device.publish(topic: "devices/lock-1/events", payload: Array(#"[{"n":"forced_entry","vb":true}]"#.utf8))
            // safety-2 raises and resets its alarm before anyone acknowledges it (SCAIP RE).
            try device.publish(topic: "devices/safety-2/events", payload: Self.scaip("ME", ref: "b1", device: "safety-2"))
            #expect(device.waitForAcknowledgements(timeout: 10))
            #expect(try await eventually(timeout: 10) { try Self.alarm(gateway, device: "safety-2", type: "alarm_button") != nil })
            try device.publish(topic: "devices/safety-2/events", payload: Self.scaip("RE", ref: "b2", device: "safety-2"))
            // Technical: the sensor reports once and falls silent (heartbeat 2 s here): offline, an alarm.
            try device.publish(topic: "devices/sensor-1/telemetry", payload: Array(#"[{"n":"battery","u":"%","v":50}]"#.utf8))

            #expect(try await eventually(timeout: 15) {
                try Self.alarm(gateway, device: "safety-1", type: "alarm_button")?["triggerCount"] as? Int == 2
                    && Self.alarm(gateway, device: "gps-1", type: "sos") != nil
                    && Self.alarm(gateway, device: "lock-1", type: "forced_entry") != nil
                    && Self.alarm(gateway, device: "safety-2", type: "alarm_button")?["state"] as? String == "cancelled"
                    && Self.alarm(gateway, device: "sensor-1", type: "device_offline") != nil
            }, "\(gateway.logTail())")
            #expect(try database.count("SELECT count(*) FROM alarms WHERE device_id = 'safety-1'") == 1)
            let sos = try #require(try Self.alarm(gateway, device: "gps-1", type: "sos"))
            #expect(sos["priority"] as? Int == 1 && sos["kind"] as? String == "care")
            #expect(try Self.alarm(gateway, device: "sensor-1", type: "device_offline")?["kind"] as? String == "technical")
            // The queue: highest priority first, oldest first within a priority; cancelled ones are not in it.
            let queue = try Self.alarms(gateway)
            let priorities = queue.compactMap { $0["priority"] as? Int }
            #expect(priorities == priorities.sorted())
            #expect(!queue.contains { $0["state"] as? String == "cancelled" })
            // One home's alarms: by device, and by the care recipient the devices are registered for.
            try database.connect().execute("UPDATE devices SET care_recipient_ref = 'cr-home' WHERE device_id IN ('gps-1', 'lock-1')")
            #expect(try Self.alarms(gateway, "?deviceId=gps-1").compactMap { $0["type"] as? String } == ["sos"])
            #expect(Set(try Self.alarms(gateway, "?careRecipientRef=cr-home").compactMap { $0["deviceId"] as? String }) == ["gps-1", "lock-1"])
            #expect(try Self.alarms(gateway, "?careRecipientRef=cr-nobody").isEmpty)

            // The SOS is not acknowledged within 2 s: escalated, on the stream too.
            #expect(try await eventually(timeout: 10) { try Self.alarm(gateway, device: "gps-1", type: "sos")?["escalated"] as? Bool == true })

            // Lifecycle through the API.
            let safetyID = try #require(try Self.alarm(gateway, device: "safety-1", type: "alarm_button")?["id"] as? Int)
            let sosID = try #require(sos["id"] as? Int)
            #expect(try gateway.httpSend("POST", "/integration/v1/alarms/\(sosID)/resolve", json: #"{"operator":"op-1","outcome":"visit_made"}"#).status == 409)
            #expect(try gateway.httpSend("POST", "/integration/v1/alarms/\(safetyID)/acknowledge", json: #"{"operator":"op-1"}"#).status == 200)
            #expect(try gateway.httpSend("POST", "/integration/v1/alarms/\(safetyID)/acknowledge", json: #"{"operator":"op-1"}"#).status == 200)
            let stolen = try gateway.httpSend("POST", "/integration/v1/alarms/\(safetyID)/acknowledge", json: #"{"operator":"op-2"}"#)
            #expect(stolen.status == 409 && stolen.body.contains("already acknowledged by op-1"))
            // Acknowledged: the device's reset does not cancel it any more.
            try device.publish(topic: "devices/safety-1/events", payload: Self.scaip("RE", ref: "a3", device: "safety-1"))
            #expect(try gateway.httpSend("POST", "/integration/v1/alarms/\(safetyID)/resolve", json: #"{"operator":"op-1","outcome":"no_such_outcome"}"#).status == 400)
            let resolved = try gateway.httpSend("POST", "/integration/v1/alarms/\(safetyID)/resolve", json: #"{"operator":"op-1","outcome":"visit_made","note":"all well"}"#)
            #expect(resolved.status == 200 && Self.json(resolved.body)["state"] as? String == "resolved", "\(resolved.body)")
            #expect(try gateway.httpSend("POST", "/integration/v1/alarms/\(safetyID)/acknowledge", json: #"{"operator":"op-1"}"#).status == 409)

            // The detail: full timeline, the device, the last known position.
            let detail = Self.json(try gateway.httpGet("/integration/v1/alarms/\(safetyID)").body)
            let timeline = (detail["timeline"] as? [[String: Any]])?.compactMap { $0["change"] as? String }
            // Priority 1 must be acknowledged within 2 s here: it was escalated before op-1 took it.
            #expect(timeline == ["opened", "retriggered", "escalated", "acknowledged", "resolved"])
            let sosDetail = Self.json(try gateway.httpGet("/integration/v1/alarms/\(sosID)").body)
            let latest = (sosDetail["latest"] as? [[String: Any]])?.compactMap { $0["quantity"] as? String } ?? []
            #expect(latest.contains("latitude") && latest.contains("longitude"), "\(sosDetail)")
            #expect((sosDetail["device"] as? [String: Any])?["type"] as? String == "gps-alarm")

            // The live stream saw every change, in order.
            let changesInDatabase = try database.count("SELECT count(*) FROM alarm_changes")
            #expect(await eventually(timeout: 10) { live.alarmEvents.count == changesInDatabase },
                    "status \(String(describing: live.status)), \(live.events.count) events: \(live.events.prefix(3))")
            let liveIDs = live.alarmEvents.map(\.id)
            #expect(liveIDs == liveIDs.sorted() && Set(liveIDs).count == liveIDs.count)
            #expect(live.alarmEvents.contains { $0.change == "escalated" && $0.alarmId == Int64(sosID) })
            #expect(live.alarmEvents.contains { $0.change == "cancelled" })

            // Killed and started again: a client resuming from an early event gets everything after it, once, in
            // order, and then what happens after the restart.
            gateway.kill()
            let resumeFrom = liveIDs[2]
            try device.publish(topic: "devices/lock-1/events", payload: Array(#"[{"n":"tamper","vb":true}]"#.utf8))
            #expect(device.waitForAcknowledgements(timeout: 10))
            try gateway.start()
            try await gateway.waitUntilReady()
            let resumed = try SSEClient(port: gateway.httpPort, path: "/integration/v1/alarms/stream", lastEventID: resumeFrom,
                                        token: gateway.token)
            defer { resumed.close() }
            #expect(try await eventually(timeout: 15) { try Self.alarm(gateway, device: "lock-1", type: "tamper") != nil })
            // Supervision state survived the kill: sensor-1 is still offline, and is not declared offline twice.
            #expect(Self.json(try gateway.httpGet("/iot/v1/devices/sensor-1").body)["connectivity"] as? String == "offline")
            try await Task.sleep(for: .seconds(3))
            #expect(try database.count("SELECT count(*) FROM events WHERE device_id = 'sensor-1' AND event = 'device_offline'") == 1)
            let total = try database.count("SELECT count(*) FROM alarm_changes")
            let expected = try database.count("SELECT count(*) FROM alarm_changes WHERE id > $1", [String(resumeFrom)])
            #expect(await eventually(timeout: 10) { resumed.alarmEvents.count == expected }, "\(resumed.events.count) of \(expected)")
            let resumedIDs = resumed.alarmEvents.map(\.id)
            #expect(resumedIDs == Array(liveIDs.dropFirst(3)) + resumedIDs.dropFirst(liveIDs.count - 3))
            #expect(resumedIDs == resumedIDs.sorted() && Set(resumedIDs).count == resumedIDs.count && resumedIDs.allSatisfy { $0 > resumeFrom })
            #expect(total > changesInDatabase)

            // Figures.
            let stats = Self.json(try gateway.httpGet("/integration/v1/alarms/stats").body)
            #expect(stats["total"] as? Int == 6)
            #expect((stats["escalated"] as? Int ?? 0) >= 1)
            #expect((stats["acknowledgeSeconds"] as? [String: Any])?["median"] != nil)
            // Nothing about an alarm is ever deleted or rewritten.
            let connection = try database.connect()
            defer { connection.close() }
            #expect(throws: (any Error).self) { try connection.execute("DELETE FROM alarm_changes") }
            #expect(throws: (any Error).self) { try connection.execute("DELETE FROM alarms") }
        }
    
        @Test("an alarm does not wait behind a telemetry backlog, and is stored once")
        func alarmsOvertakeTelemetry() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let sensors = try database.register((0..<50).map { "fp-sensor-\($0)" })
            try database.register(["gps-fp"], type: "gps-alarm")
            let gateway = GatewayProcess(databaseURL: database.url)
            // One message per transaction: the pipeline falls far behind the stream below.
            gateway.extraEnvironment = ["CIP_MAX_BATCH_MESSAGES": "1"]
            defer { gateway.cleanUp() }
            try gateway.start()
            try await gateway.waitUntilReady()
            let device = try makePublisher("fast-path")
            defer { device.stop() }
            let total = 5_000
            for index in 0..<total {
                try device.publish(topic: "devices/\(sensors[index % sensors.count])/telemetry",
                                   payload: Array(#"[{"bt":\#(1_760_000_000 + index),"n":"counter","v":\#(index)}]"#.utf8),
                                   window: 500)
            }
            #expect(device.waitForAcknowledgements(timeout: 30))
            try device.publish(topic: "devices/gps-fp/events", payload: Array(#"[{"n":"sos","vb":true}]"#.utf8))
            #expect(device.waitForAcknowledgements(timeout: 10))
            #expect(try await eventually(timeout: 10) { try database.count("SELECT count(*) FROM alarms WHERE device_id = 'gps-fp'") == 1 })
            let storedWhenRaised = try database.count("SELECT count(*) FROM observations")
            #expect(storedWhenRaised < total, "the telemetry backlog was already gone: \(storedWhenRaised)")
            // The pipeline catches up and writes the same message again: still one event, one alarm.
            #expect(try await eventually(timeout: 120) { try database.count("SELECT count(*) FROM observations") == total })
            #expect(try await eventually(timeout: 20) { try database.count("SELECT count(*) FROM raw_messages WHERE device_id = 'gps-fp'") == 1 })
            #expect(try database.count("SELECT count(*) FROM events WHERE device_id = 'gps-fp' AND event = 'sos'") == 1)
            #expect(try database.count("SELECT count(*) FROM alarms WHERE device_id = 'gps-fp'") == 1)
        }
    }
}
