import Digest
import Foundation
import Ingest
import MQTT
import Postgres
import Registry
import Testing
import Models

extension IntegrationTests {
    /// Broker trust on the real broker (Gateway/stack: dynamic security + the cip_clientid plugin) with a real
    /// gateway: onboarding answers are unreadable to other bootstrap holders, client ids cannot be taken over, and
    /// reserved names are never device ids.
    @Suite(.serialized) struct BrokerTrust {
        typealias Inbox = Onboarding.Inbox

        /// Connects with exactly this client id (no namespace added); true if the broker accepted. Always stops the
        /// client, so a refused one does not keep retrying.
        static func accepted(_ clientID: String, _ account: (username: String?, password: String?)) -> Bool {
            let configuration = MQTTClient.Configuration(url: try! TestStack.broker(), clientID: clientID, cleanSession: true,
                                                         username: account.username, password: account.password)
            guard let client = try? MQTTClient(configuration: configuration, logger: TestStack.logger) else { return false }
            defer { client.stop() }
            do { try client.connect(timeout: 2) } catch { return false }
            return true
        }

        static func startGateway(_ database: TestDatabase) async throws -> GatewayProcess {
            let gateway = GatewayProcess(databaseURL: database.url)
            try gateway.start()
            try await gateway.waitUntilReady()
            return gateway
        }

        /// Claims `serial` with `code` as a new device would; returns the answer.
        static func claim(serial: String, code: String) async throws -> [String: Any] {
            let inbox = Inbox()
            let nonce = Onboarding.nonce()
            var configuration = try TestStack.mqtt(Onboarding.nonce(), TestStack.bootstrapAccount)
            configuration.subscriptions = [("provisioning/\(serial)/result/\(nonce)", 1)]
            let client = try MQTTClient(configuration: configuration, logger: TestStack.logger) { inbox.add($0) }
            try client.connect()
            defer { client.stop() }
            try await Task.sleep(for: .milliseconds(300))
            try client.publish(topic: "provisioning/\(serial)/claim", payload: Onboarding.claim(serial: serial, code: code, nonce: nonce))
            _ = await eventually(timeout: 10) { !inbox.all.isEmpty }
            return inbox.json(0) ?? [:]
        }

        @Test("a bootstrap holder reads neither another serial's answer nor its claim, whatever it subscribes to")
        func answersAreUnreadableToOtherBootstrapHolders() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let gateway = try await Self.startGateway(database)
            defer { gateway.cleanUp() }
            let suffix = TestStack.uniqueName("bt").replacingOccurrences(of: "_", with: "-")
            let id = "bt-\(suffix)", serial = "SN-BT-\(suffix)"
            let code = try Onboarding.register(gateway, id: id, serial: serial)

            // The eavesdropper: the same public bootstrap account, every filter that could catch the answer.
            let stolen = Inbox()
            var spy = try TestStack.mqtt("spy", TestStack.bootstrapAccount)
            spy.subscriptions = ["provisioning/\(serial)/result", "provisioning/\(serial)/result/+", "provisioning/\(serial)/result/#",
                                 "provisioning/+/result/+", "provisioning/+/result/#", "provisioning/\(serial)/#", "provisioning/#",
                                 "provisioning/+/+/+", "+/+/+/+", "+/\(serial)/result/+", "#",
                                 "$share/g/provisioning/+/result/+", "$share/g/provisioning/\(serial)/result/+",
                                 "provisioning/\(serial)/claim", "provisioning/+/claim"].map { ($0, 1) }
            let spyClient = try MQTTClient(configuration: spy, logger: TestStack.logger) { stolen.add($0) }
            try spyClient.connect()
            defer { spyClient.stop() }
            try await Task.sleep(for: .milliseconds(300))

            let answer = try await Self.claim(serial: serial, code: code)
            #expect(answer["status"] as? String == "provisioned", "\(answer) \(gateway.logTail())")
            let password = answer["password"] as? String ?? "?"
            try await Task.sleep(for: .seconds(1))
            #expect(stolen.all.isEmpty, "the spy received \(stolen.all.map(\.topic))")
            #expect(!stolen.all.contains { String(decoding: $0.payload, as: UTF8.self).contains(password) })
            #expect(!stolen.all.contains { String(decoding: $0.payload, as: UTF8.self).contains(code) })
        }

        @Test("the bootstrap account cannot leave a retained claim on the broker")
        func bootstrapCannotRetain() async throws {
            let serial = "SN-RET-\(TestStack.uniqueName("r").replacingOccurrences(of: "_", with: "-"))"
            let bootstrap = try MQTTClient(configuration: try TestStack.mqtt("retain", TestStack.bootstrapAccount), logger: TestStack.logger)
            try bootstrap.connect()
            try bootstrap.publish(topic: "provisioning/\(serial)/claim", payload: Array("{}".utf8), qos: 1, retain: true)
            _ = bootstrap.waitForAcknowledgements(timeout: 5)
            bootstrap.stop()
            // What a (re)connecting gateway would be handed: nothing.
            let inbox = Inbox()
            var reader = try TestStack.mqtt("retain-reader", TestStack.gatewayAccount)
            reader.subscriptions = [("provisioning/\(serial)/claim", 1)]
            let client = try MQTTClient(configuration: reader, logger: TestStack.logger) { inbox.add($0) }
            try client.connect()
            defer { client.stop() }
            try await Task.sleep(for: .seconds(1))
            #expect(inbox.all.isEmpty, "a retained claim was stored")
        }

        @Test("a retained device message is delivered but not retained; a payload above 1 MiB arrives as a note of its size")
        func deviceTopicsKeepNoRetainedOrHugeMessages() async throws {
            let device = "retained-\(TestStack.uniqueName("d").replacingOccurrences(of: "_", with: "-"))"
            let inbox = Inbox()
            var reader = try TestStack.mqtt("size-reader", TestStack.gatewayAccount)
            reader.subscriptions = [("devices/\(device)/#", 1)]
            let live = try MQTTClient(configuration: reader, logger: TestStack.logger) { inbox.add($0) }
            try live.connect()
            defer { live.stop() }
            try await Task.sleep(for: .milliseconds(300))

            // Above the broker's hard cap (message_size_limit, 16 MiB) a message is refused by the broker itself:
            // nobody receives it, not even as a note, and it takes nothing else with it.
            let giant = try makePublisher("size-giant")
            try? giant.publish(topic: "devices/\(device)/telemetry", payload: [UInt8](repeating: 0x20, count: 16 * 1_048_576 + 1), qos: 1)
            _ = giant.waitForAcknowledgements(timeout: 5)
            giant.stop()

            let bridge = try makePublisher("size-bridge")
            defer { bridge.stop() }
            // An alarm a device sends retained: it must still arrive.
            try bridge.publish(topic: "devices/\(device)/events", payload: Array("retained".utf8), qos: 1, retain: true)
            try bridge.publish(topic: "devices/\(device)/telemetry", payload: [UInt8](repeating: 0x20, count: 1_048_577), qos: 1)
            try bridge.publish(topic: "devices/\(device)/telemetry", payload: [UInt8](repeating: 0x20, count: 1_000_000), qos: 1)
            try bridge.publish(topic: "devices/\(device)/telemetry", payload: Array("after".utf8), qos: 1)
            _ = bridge.waitForAcknowledgements(timeout: 5)
            #expect(await eventually(timeout: 5) { inbox.all.count == 4 })
            let payloads = inbox.all.map(\.payload)
            #expect(payloads.contains(Array("retained".utf8)))
            #expect(payloads.contains([0] + Array("cip: payload not kept; bytes=1048577".utf8)), "the huge one arrives as a note")
            #expect(payloads.map(\.count).contains(1_000_000))
            let note = try #require(payloads.first { $0.first == 0 })
            #expect(JournalRecord(sequence: 1, receivedAtMicros: 0, topic: "t", payload: note).oversizedPayloadBytes == 1_048_577)
            try await Task.sleep(for: .milliseconds(500))
            #expect(inbox.all.count == 4, "nothing of the 16 MiB message arrived late: \(inbox.all.map(\.payload.count))")
            #expect(!inbox.all.contains { $0.payload.count > 1_048_577 || $0.payload == [0] + Array("cip: payload not kept; bytes=16777217".utf8) })

            // A subscriber arriving later is handed nothing retained.
            let late = Inbox()
            var lateReader = try TestStack.mqtt("size-late", TestStack.gatewayAccount)
            lateReader.subscriptions = [("devices/\(device)/#", 1)]
            let lateClient = try MQTTClient(configuration: lateReader, logger: TestStack.logger) { late.add($0) }
            try lateClient.connect()
            defer { lateClient.stop() }
            try await Task.sleep(for: .seconds(1))
            #expect(late.all.isEmpty, "retained: \(late.all.map(\.topic))")
        }

        @Test("no other account can take over the gateway's or a device's client id; a device account is bound to its own")
        func clientIdsCannotBeTakenOver() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let gateway = try await Self.startGateway(database)
            defer { gateway.cleanUp() }
            let gatewayIngest = ClientIDNamespace.qualify(gateway.clientID, for: TestStack.gatewayAccount.username)
            #expect(gatewayIngest.hasPrefix("cip-gateway/"))

            let suffix = TestStack.uniqueName("ci").replacingOccurrences(of: "_", with: "-")
            let id = "ci-\(suffix)", serial = "SN-CI-\(suffix)"
            let code = try Onboarding.register(gateway, id: id, serial: serial)
            let answer = try await Self.claim(serial: serial, code: code)
            let password = try #require(answer["password"] as? String, "\(answer) \(gateway.logTail())")
            let device = try MQTTClient(configuration: try TestStack.mqtt(id, (id, password)), logger: TestStack.logger)
            try device.connect(timeout: 3)
            defer { device.stop() }

            let bootstrap = TestStack.bootstrapAccount, bridge = TestStack.bridgeAccount
            for (victim, attacker, name) in [
                (gatewayIngest, bootstrap, "bootstrap → gateway ingest"),
                (gatewayIngest + "/control", bootstrap, "bootstrap → gateway control"),
                ("cip-gateway/ingest", bootstrap, "bootstrap → default gateway id"),
                ("cip-gateway-ingest", bootstrap, "bootstrap → old gateway id"),
                (gatewayIngest, bridge, "bridge → gateway ingest"),
                (gatewayIngest, (id, password), "device → gateway ingest"),
                (id, bootstrap, "bootstrap → device"),
                (id, bridge, "bridge → device"),
                ("cip-bridge/x", (id, password), "device → bridge namespace"),
                (id + "/x", (id, password), "device → other client id of its own name"),
                ("bootstrap/x", (id, password), "device → bootstrap namespace"),
            ] {
                #expect(!Self.accepted(victim, attacker), "\(name) was accepted")
            }
            try await Task.sleep(for: .milliseconds(500))
            #expect(device.isConnected, "the device's session was kicked")
            #expect(!gateway.logTail(100_000).contains("MQTT connection lost"), "\(gateway.logTail())")
            #expect(try gateway.httpGet("/readyz").status == 200)
            // The rule still lets each account use its own namespace.
            #expect(Self.accepted("bootstrap/\(Onboarding.nonce())", bootstrap))
            #expect(Self.accepted("cip-bridge/\(suffix)", bridge))
        }

        @Test("reserved names are refused as device ids by the API, the import and onboarding; a fixed account survives a claim")
        func reservedNamesAreNeverDeviceIds() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let gateway = try await Self.startGateway(database)
            defer { gateway.cleanUp() }
            let suffix = TestStack.uniqueName("rn").replacingOccurrences(of: "_", with: "-")
            for id in ["cip-bridge", "cip-gateway", "cip-admin", "bootstrap", "Bootstrap", "cip-\(suffix)"] {
                let response = try gateway.httpSend("POST", "/iot/v1/devices", json: """
                    {"deviceId":"\(id)","serialNumber":"SN-RN-\(id)-\(suffix)","type":"sensor","tenant":"elderly-care"}
                    """)
                #expect(response.status == 400, "\(id): \(response.status) \(response.body)")
                #expect(response.body.contains("reserved"), "\(response.body)")
            }
            let csv = "device_id,serial_number,type,tenant\ncip-bridge,SN-RN-CSV-\(suffix),sensor,elderly-care\n"
            let imported = try gateway.httpSend("POST", "/iot/v1/devices/import", json: csv)
            #expect(imported.body.contains("reserved"), "\(imported.status) \(imported.body)")
            #expect(try database.count("SELECT count(*) FROM devices WHERE lower(device_id) LIKE 'cip-%' OR lower(device_id) = 'bootstrap'") == 0)

            // A reserved id that reached the database some other way (an older version, a hand-made row):
            // the right claim code still does not turn the bridge account into a device.
            let code = ClaimCode.generate(), salt = ClaimCode.generateSalt()
            let connection = try database.connect()
            try connection.query("""
                INSERT INTO devices (device_id, serial_number, type, tenant, lifecycle_state, claim_code_hash, claim_code_salt, claim_expires_at)
                VALUES ('cip-bridge', $1, 'sensor', 'elderly-care', 'registered', decode($2, 'hex'), decode($3, 'hex'), now() + interval '1 day')
                """, ["SN-RN-\(suffix)", Hex.encode(ClaimCode.hash(code, salt: salt)), Hex.encode(salt)])
            connection.close()
            let answer = try await Self.claim(serial: "SN-RN-\(suffix)", code: code)
            #expect(answer["status"] as? String == "refused", "\(answer)")
            #expect(answer["password"] == nil)
            #expect(Self.accepted("cip-bridge/\(suffix)", TestStack.bridgeAccount), "the bridge account was replaced")
            #expect(try database.count("SELECT count(*) FROM devices WHERE device_id = 'cip-bridge' AND lifecycle_state = 'registered'") == 1)
        }

        @Test("the demo simulator onboards its fleet with the nonce protocol and publishes on the devices' own accounts; its lock numbers its events and answers an unlock command")
        func simulatorOnboards() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let gateway = try await Self.startGateway(database)
            defer { gateway.cleanUp() }
            var registered: [[String: Any]] = []
            for (id, type) in [("lock-001", "digital-lock"), ("gps-001", "gps-alarm"), ("safety-001", "safety-alarm"), ("sensor-001", "sensor")] {
                // The lock is a Nordlock NL-200 (vendor JSON), as in the demo fleet.
                let model = type == "digital-lock" ? #","model":"nordlock-nl200""# : ""
                let response = try gateway.httpSend("POST", "/iot/v1/devices", json: """
                    {"deviceId":"\(id)","serialNumber":"SN-SIM-\(id)-\(getpid())","type":"\(type)","tenant":"elderly-care"\(model)}
                    """)
                #expect(response.status == 201, "\(response.body)")
                registered.append(try #require(try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any]))
            }
            let directory = NSTemporaryDirectory() + TestStack.uniqueName("simulate")
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try JSONSerialization.data(withJSONObject: ["registered": registered]).write(to: URL(fileURLWithPath: directory + "/claims.json"))
            let simulator = try ChildProcess([GatewayProcess.benchBinary, "simulate", "--devices-per-kind", "1", "--interval", "0.5",
                                              "--duration", "10", "--claims", directory + "/claims.json",
                                              "--credentials", directory + "/credentials.json"],
                                             environment: TestStack.environment, logPath: directory + "/simulate.log")
            // While it runs: the lock, once active, opens for a staff member with a grant when asked remotely.
            #expect(try await eventually(timeout: 15) {
                try database.count("SELECT count(*) FROM devices WHERE device_id = 'lock-001' AND lifecycle_state = 'active'") == 1
            }, "\(gateway.logTail())")
            let planner = try gateway.createClient(name: "plan", roles: "care-planner", clearance: 3)
            let app = try gateway.createClient(name: "app", roles: "lock-operator", clearance: 3)
            let formatter = ISO8601DateFormatter()
            let grant = try gateway.httpSend("POST", "/integration/v1/locks/lock-001/grants", json: """
                {"staffRef":"staff-1","validFrom":"\(formatter.string(from: Date().addingTimeInterval(-60)))","validTo":"\(formatter.string(from: Date().addingTimeInterval(600)))"}
                """, token: planner)
            #expect(grant.status == 201, "\(grant.body)")
            let unlock = try gateway.httpSend("POST", "/integration/v1/locks/lock-001/unlock", json: #"{"staffRef":"staff-1"}"#, token: app)
            #expect(unlock.status == 202, "\(unlock.body)")
            let commandId = (try? JSONSerialization.jsonObject(with: Data(unlock.body.utf8)) as? [String: Any])?["id"] as? String ?? ""
            #expect(try await eventually(timeout: 10) {
                try database.count("SELECT count(*) FROM lock_commands WHERE id = $1 AND status = 'succeeded'", [commandId]) == 1
            }, "the simulated lock did not answer: \(gateway.logTail())")
            #expect(try database.count("SELECT count(*) FROM lock_sequences WHERE device_id = 'lock-001' AND last_sequence >= 2") == 1,
                    "the simulated lock numbers its events")
            let status = simulator.wait()
            let log = (try? String(contentsOfFile: directory + "/simulate.log", encoding: .utf8)) ?? ""
            #expect(status == 0, "\(log)")
            let credentials = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/credentials.json"))) as? [String: Any]
            #expect(Set(credentials?.keys.map { $0 } ?? []) == ["lock-001", "gps-001", "safety-001", "sensor-001"], "\(log)")
            #expect(try await eventually(timeout: 15) {
                try database.count("SELECT count(*) FROM devices WHERE lifecycle_state = 'active'") == 4
            }, "\(log) \(gateway.logTail())")
        }
    }
}
