import Foundation
import MQTT
import Testing

extension IntegrationTests {
    /// Zero-touch onboarding, broker-enforced lifecycle and heartbeat supervision, with a real gateway process,
    /// the real broker (dynamic security on) and real MQTT clients.
    @Suite(.serialized) struct Onboarding {
        /// Collects what a client receives.
        final class Inbox: @unchecked Sendable {
            private let lock = NSLock()
            private var messages: [MQTTMessage] = []
            func add(_ message: MQTTMessage) { lock.lock(); messages.append(message); lock.unlock() }
            var all: [MQTTMessage] { lock.lock(); defer { lock.unlock() }; return messages }
            func json(_ index: Int) -> [String: Any]? {
                let all = self.all
                guard index < all.count else { return nil }
                return try? JSONSerialization.jsonObject(with: Data(all[index].payload)) as? [String: Any]
            }
        }

        /// A DataModels copy whose sensors promise a heartbeat every 2 s, so that silence shows within seconds.
        static func fastHeartbeatModels() throws -> String {
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("DataModels")
            let copy = NSTemporaryDirectory() + TestStack.uniqueName("datamodels")
            try FileManager.default.copyItem(atPath: root.path, toPath: copy)
            let sensor = copy + "/device-types/sensor.json"
            let text = try String(contentsOfFile: sensor, encoding: .utf8)
                .replacingOccurrences(of: #""heartbeatIntervalSeconds": 3600"#, with: #""heartbeatIntervalSeconds": 2"#)
            try text.write(toFile: sensor, atomically: true, encoding: .utf8)
            return copy
        }

        static func register(_ gateway: GatewayProcess, id: String, serial: String) throws -> String {
            let response = try gateway.httpSend("POST", "/iot/v1/devices", json: """
                {"deviceId":"\(id)","serialNumber":"\(serial)","type":"sensor","tenant":"elderly-care"}
                """)
            #expect(response.status == 201, "\(response.body)")
            let body = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any]
            return body?["claimCode"] as? String ?? ""
        }

        /// A fresh claim nonce: 128 random bits as hex.
        static func nonce() -> String {
            (0..<2).map { _ in String(format: "%016llx", UInt64.random(in: 0...UInt64.max)) }.joined()
        }

        static func claim(serial: String, code: String, nonce: String) -> [UInt8] {
            Array(#"{"serial":"\#(serial)","claimCode":"\#(code)","nonce":"\#(nonce)"}"#.utf8)
        }

        static func device(_ gateway: GatewayProcess, _ id: String) throws -> [String: Any] {
            let response = try gateway.httpGet("/iot/v1/devices/\(id)")
            return (try? JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any]) ?? [:]
        }

        static func connect(_ username: String, _ password: String, clientID: String) throws -> MQTTClient {
            let client = try MQTTClient(configuration: try TestStack.mqtt(clientID, (username, password)),
                                        logger: TestStack.logger)
            try client.connect(timeout: 3)
            return client
        }

        @Test("a device claims its code, gets its own broker client, is supervised, and is locked out when suspended or decommissioned")
        func claimSuperviseSuspendDecommission() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let models = try Self.fastHeartbeatModels()
            defer { try? FileManager.default.removeItem(atPath: models) }
            let gateway = GatewayProcess(databaseURL: database.url)
            gateway.extraEnvironment = ["CIP_DATA_MODELS": models, "CIP_HEARTBEAT_GRACE": "1", "CIP_SUPERVISION_SETTLE": "1"]
            defer { gateway.cleanUp() }
            try gateway.start()
            try await gateway.waitUntilReady()

            let suffix = TestStack.uniqueName("o").replacingOccurrences(of: "_", with: "-")
            let id = "onb-\(suffix)", serial = "SN-ONB-\(suffix)", other = "onb2-\(suffix)"
            let code = try Self.register(gateway, id: id, serial: serial)
            _ = try Self.register(gateway, id: other, serial: "SN-OTHER-\(suffix)")
            #expect(code.count == 24)

            // The shared bootstrap account: claim with a wrong code, then with the right one.
            let inbox = Inbox()
            let nonce = Self.nonce()
            var bootstrapConfiguration = try TestStack.mqtt(serial, TestStack.bootstrapAccount)
            bootstrapConfiguration.subscriptions = [("provisioning/\(serial)/result/\(nonce)", 1)]
            let bootstrap = try MQTTClient(configuration: bootstrapConfiguration, logger: TestStack.logger) { inbox.add($0) }
            try bootstrap.connect()
            defer { bootstrap.stop() }
            try await Task.sleep(for: .milliseconds(300))
            let wrong = "2222-2222-2222-2222-2222"
            try bootstrap.publish(topic: "provisioning/\(serial)/claim", payload: Self.claim(serial: serial, code: wrong, nonce: nonce))
            #expect(await eventually(timeout: 10) { inbox.all.count == 1 })
            #expect(inbox.json(0)?["status"] as? String == "refused")
            #expect((inbox.json(0)?["reason"] as? String)?.contains("not accepted") == true)
            // The bootstrap account cannot publish as a device.
            try bootstrap.publish(topic: "devices/\(id)/telemetry", payload: Array(#"[{"n":"battery","u":"%","v":1}]"#.utf8))

            try bootstrap.publish(topic: "provisioning/\(serial)/claim", payload: Self.claim(serial: serial, code: code, nonce: nonce))
            #expect(await eventually(timeout: 10) { inbox.all.count == 2 })
            let result = inbox.json(1) ?? [:]
            #expect(result["status"] as? String == "provisioned", "\(result) \(gateway.logTail())")
            #expect(result["deviceId"] as? String == id)
            let password = result["password"] as? String ?? ""
            #expect(try Self.device(gateway, id)["lifecycleState"] as? String == "provisioned")

            // The device on its own account: its first message makes it active and online.
            let device = try Self.connect(id, password, clientID: id)
            try device.publish(topic: "devices/\(other)/telemetry", payload: Array(#"[{"n":"battery","u":"%","v":99}]"#.utf8))
            try device.publish(topic: "devices/\(id)/telemetry", payload: Array(#"[{"n":"battery","u":"%","v":15}]"#.utf8))
            #expect(device.waitForAcknowledgements(timeout: 5))
            #expect(try await eventually(timeout: 10) {
                let body = try Self.device(gateway, id)
                return body["lifecycleState"] as? String == "active" && body["connectivity"] as? String == "online"
                    && body["battery"] as? Double == 15
            }, "\(gateway.logTail())")
            // Neither the device nor the bootstrap account could publish as another device.
            #expect(try database.count("SELECT count(*) FROM observations WHERE device_id = $1", [other]) == 0)
            #expect(try database.count("SELECT count(*) FROM observations WHERE device_id = $1", [id]) == 1)

            // Silence beyond the heartbeat: offline, as an event; the next message: online again.
            #expect(try await eventually(timeout: 20) { try Self.device(gateway, id)["connectivity"] as? String == "offline" })
            #expect(try database.count("SELECT count(*) FROM events WHERE device_id = $1 AND event = 'device_offline'", [id]) == 1)
            try device.publish(topic: "devices/\(id)/telemetry", payload: Array(#"[{"n":"battery","u":"%","v":14}]"#.utf8))
            #expect(try await eventually(timeout: 10) {
                try database.count("SELECT count(*) FROM events WHERE device_id = $1 AND event = 'device_online'", [id]) == 1
            })

            // Suspended: the connection is dropped and a reconnect is refused. Resumed: it may connect again.
            let suspended = try gateway.httpSend("POST", "/iot/v1/devices/\(id)/suspend", json: #"{"reason":"lost key","actor":"admin-1"}"#)
            #expect(suspended.status == 200, "\(suspended.body)")
            #expect(await eventually(timeout: 10) { !device.isConnected })
            device.stop()
            #expect(throws: MQTTError.self) { try Self.connect(id, password, clientID: id).stop() }
            #expect(try gateway.httpSend("POST", "/iot/v1/devices/\(id)/resume", json: "{}").status == 200)
            #expect(throws: Never.self) { try Self.connect(id, password, clientID: id).stop() }

            // Decommissioned: the broker client is gone for good, and the used claim code does not bring it back.
            #expect(try gateway.httpSend("POST", "/iot/v1/devices/\(id)/decommission", json: #"{"reason":"returned"}"#).status == 200)
            #expect(throws: MQTTError.self) { try Self.connect(id, password, clientID: id).stop() }
            try bootstrap.publish(topic: "provisioning/\(serial)/claim", payload: Self.claim(serial: serial, code: code, nonce: nonce))
            #expect(await eventually(timeout: 10) { inbox.all.count == 3 })
            // A used code learns nothing about the device: the same refusal as an unknown serial.
            #expect(inbox.json(2)?["reason"] as? String == inbox.json(0)?["reason"] as? String)
            #expect((inbox.json(2)?["reason"] as? String)?.contains(id) == false)
            let history = try gateway.httpGet("/iot/v1/devices/\(id)/history").body
            for action in ["register", "provision", "activate", "suspend", "resume", "decommission"] {
                #expect(history.contains("\"action\":\"\(action)\""), "\(history)")
            }
        }

        @Test("repeated wrong claim codes are answered with a retry-after, but never lock the right code out")
        func wrongCodesAreRateLimitedButNeverLockOutTheRightCode() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let gateway = GatewayProcess(databaseURL: database.url)
            defer { gateway.cleanUp() }
            try gateway.start()
            try await gateway.waitUntilReady()
            let suffix = TestStack.uniqueName("t").replacingOccurrences(of: "_", with: "-")
            let serial = "SN-THR-\(suffix)"
            let code = try Self.register(gateway, id: "thr-\(suffix)", serial: serial)
            let inbox = Inbox()
            let nonce = Self.nonce()
            var configuration = try TestStack.mqtt(serial, TestStack.bootstrapAccount)
            configuration.subscriptions = [("provisioning/\(serial)/result/\(nonce)", 1)]
            let bootstrap = try MQTTClient(configuration: configuration, logger: TestStack.logger) { inbox.add($0) }
            try bootstrap.connect()
            defer { bootstrap.stop() }
            try await Task.sleep(for: .milliseconds(300))
            // A flood of wrong codes for the serial (anyone with the public bootstrap password can send it).
            for attempt in 0..<8 {
                try bootstrap.publish(topic: "provisioning/\(serial)/claim",
                                      payload: Self.claim(serial: serial, code: "3333-3333-3333-3333-333\(attempt + 2)", nonce: nonce))
                #expect(await eventually(timeout: 10) { inbox.all.count == attempt + 1 })
            }
            #expect((inbox.json(7)?["reason"] as? String)?.contains("too many failed claims") == true)
            #expect(inbox.json(7)?["retryAfterSeconds"] as? Int != nil)
            // The genuine device, right after: its right code still provisions it.
            try bootstrap.publish(topic: "provisioning/\(serial)/claim", payload: Self.claim(serial: serial, code: code, nonce: nonce))
            #expect(await eventually(timeout: 10) { inbox.all.count == 9 })
            #expect(inbox.json(8)?["status"] as? String == "provisioned", "\(inbox.json(8) ?? [:])")
            #expect(try database.count("SELECT count(*) FROM devices WHERE serial_number = $1 AND lifecycle_state = 'provisioned'", [serial]) == 1)
        }
    }
}
