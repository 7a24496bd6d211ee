import Certificates
import Foundation
import MQTT
@testable import Postgres
import Testing

extension IntegrationTests {
    /// Transport security on the real stack: the broker's TLS listeners (password, device certificate with the
    /// CRL the gateway writes), CSR onboarding and renewal, revocation by suspend and decommission, the gateway
    /// over mqtts:// and PostgreSQL over verify-full TLS, and HTTPS. Devices are played by real clients:
    /// `mosquitto_pub`, the project's MQTT client, and Python's paho-mqtt (Gateway/tls-device.py).
    @Suite(.serialized) struct TransportSecurity {
        static let tlsDirectory = TestStack.environment["TLS_DIR"] ?? ".stack/tls"
        static let caFile = tlsDirectory + "/ca.crt"
        static let brokerPidFile = URL(fileURLWithPath: tlsDirectory).deletingLastPathComponent()
            .appendingPathComponent("mosquitto/mosquitto.pid").path
        static let tlsURL = TestStack.environment["MQTTS_URL"] ?? "mqtts://localhost:18831"
        static let certificateURL = TestStack.environment["MQTT_DEVICE_CERT_URL"] ?? "mqtts://localhost:18832"

        /// The output and status of a command.
        @discardableResult
        static func run(_ arguments: [String], allowFailure: Bool = false, environment: [String: String]? = nil) throws -> (status: Int32, output: String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = arguments
            if let environment { process.environment = environment }
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            let output = String(decoding: data, as: UTF8.self)
            if !allowFailure, process.terminationStatus != 0 {
                throw TestFailure("\(arguments.joined(separator: " ")) exited with \(process.terminationStatus): \(output)")
            }
            return (process.terminationStatus, output)
        }

        /// A fresh directory for keys and certificates of one test.
        static func scratch() throws -> String {
            let directory = NSTemporaryDirectory() + TestStack.uniqueName("tls")
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            return directory
        }

        /// A device's own key and CSR, made with openssl as a device would.
        static func keyAndRequest(_ directory: String, _ name: String) throws -> String {
            try run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", "\(directory)/\(name).key", "-out", "\(directory)/\(name).csr", "-subj", "/CN=\(name)"])
            return try String(contentsOfFile: "\(directory)/\(name).csr", encoding: .utf8)
        }

        /// Publishes one QoS 1 message with `mosquitto_pub` over the certificate listener; true if the broker took it.
        static func publishWithCertificate(_ directory: String, _ name: String, topic: String, payload: String,
                                           certificate: String? = nil, key: String? = nil) throws -> Bool {
            try run(["mosquitto_pub", "-L", "\(certificateURL)/\(topic)", "--cafile", caFile,
                     "--cert", certificate ?? "\(directory)/\(name).crt", "--key", key ?? "\(directory)/\(name).key",
                     "-q", "1", "-m", payload], allowFailure: true).status == 0
        }

        /// A gateway with the stack's device CA, over mqtts:// to the broker and TLS (verify-full) to PostgreSQL.
        static func secureGateway(_ database: TestDatabase, https: Bool = false) throws -> GatewayProcess {
            let gateway = GatewayProcess(databaseURL: Self.tlsDatabaseURL(database))
            gateway.extraEnvironment = [
                "MQTT_URL": tlsURL, "MQTT_CA_FILE": caFile,
                "CIP_DEVICE_CA_CERT": tlsDirectory + "/device-ca.crt", "CIP_DEVICE_CA_KEY": tlsDirectory + "/device-ca.key",
                "CIP_DEVICE_CRL_FILE": tlsDirectory + "/device-ca.crl", "CIP_BROKER_PID_FILE": brokerPidFile,
            ]
            if https {
                gateway.extraEnvironment["CIP_TLS_CERT_FILE"] = tlsDirectory + "/server.crt"
                gateway.extraEnvironment["CIP_TLS_KEY_FILE"] = tlsDirectory + "/server.key"
            }
            return gateway
        }

        /// A test's own database, a gateway with the device CA on it (`configure` may change it before it starts), a
        /// scratch directory and a unique suffix for device ids; all removed afterwards.
        static func withSecureGateway(_ prefix: String, configure: (GatewayProcess, String) throws -> Void = { _, _ in },
                                      _ body: (TestDatabase, GatewayProcess, String, String) async throws -> Void) async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let gateway = try secureGateway(database)
            defer { gateway.cleanUp() }
            let directory = try scratch()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try configure(gateway, directory)
            try gateway.start()
            try await gateway.waitUntilReady()
            try await body(database, gateway, directory, TestStack.uniqueName(prefix).replacingOccurrences(of: "_", with: "-"))
        }

        /// The test database's URL for the gateway's role, by name (the certificate names localhost) with verify-full.
        static func tlsDatabaseURL(_ database: TestDatabase) -> String {
            database.url.replacingOccurrences(of: "@127.0.0.1:", with: "@localhost:") + "?sslmode=verify-full&sslrootcert=\(caFile)"
        }

        static func claim(_ gateway: GatewayProcess, id: String, type: String, csr: String?) async throws -> [String: Any] {
            let serial = "SN-\(id)"
            let registered = try gateway.httpSend("POST", "/iot/v1/devices", json: """
                {"deviceId":"\(id)","serialNumber":"\(serial)","type":"\(type)","tenant":"elderly-care"}
                """)
            #expect(registered.status == 201, "\(registered.body)")
            let code = (try JSONSerialization.jsonObject(with: Data(registered.body.utf8)) as? [String: Any])?["claimCode"] as? String ?? ""
            return try await claimWith(code: code, serial: serial, csr: csr)
        }

        /// A claim over the TLS password listener with the shared bootstrap account, as a new device makes it.
        static func claimWith(code: String, serial: String, csr: String?) async throws -> [String: Any] {
            let inbox = Onboarding.Inbox()
            var configuration = try TestStack.mqtt("claim-\(serial)", TestStack.bootstrapAccount)
            configuration.url = try MQTTURL(parsing: tlsURL)
            configuration.tls = .init(caFile: caFile)
            let nonce = Onboarding.nonce()
            configuration.subscriptions = [("provisioning/\(serial)/result/\(nonce)", 1)]
            let client = try MQTTClient(configuration: configuration, logger: TestStack.logger) { inbox.add($0) }
            defer { client.stop() }
            try client.connect(timeout: 5)
            try await Task.sleep(for: .milliseconds(300))
            var claim: [String: Any] = ["serial": serial, "claimCode": code, "nonce": nonce]
            if let csr { claim["csr"] = csr }
            try client.publish(topic: "provisioning/\(serial)/claim", payload: Array(try JSONSerialization.data(withJSONObject: claim)))
            guard await eventually(timeout: 15, { !inbox.all.isEmpty }) else { throw TestFailure("no answer to the claim of \(serial)") }
            return inbox.json(0) ?? [:]
        }

        static func observations(_ database: TestDatabase, _ id: String) throws -> Int {
            try database.count("SELECT count(*) FROM observations WHERE device_id = $1", [id])
        }

        @Test("CSR onboarding end to end: the key never leaves the device, the certificate is its identity on the certificate listener, and the gateway ingests it over mqtts:// and PostgreSQL over TLS")
        func onboardWithCertificate() async throws {
            try await Self.withSecureGateway("c") { database, gateway, directory, suffix in
                let id = "tls-\(suffix)"

                let answer = try await Self.claim(gateway, id: id, type: "gps-alarm", csr: try Self.keyAndRequest(directory, id))
                #expect(answer["status"] as? String == "provisioned", "\(answer)")
                #expect(answer["password"] == nil, "a certificate claim must not hand out a password")
                let pem = try #require(answer["certificate"] as? String)
                try pem.write(toFile: "\(directory)/\(id).crt", atomically: true, encoding: .utf8)
                let subject = try Self.run(["openssl", "x509", "-in", "\(directory)/\(id).crt", "-noout", "-subject", "-serial"]).output
                #expect(subject.contains("CN = \(id)"), "the subject is the device id, not what the CSR asked for")
                #expect(subject.contains("serial=\(answer["certificateSerial"] as? String ?? "?")"))
                #expect(try database.count("SELECT count(*) FROM device_certificates WHERE device_id = $1 AND issued_by = 'claim'", [id]) == 1)

                // Telemetry and an SOS over the certificate listener: stored, and the SOS raised an alarm.
                #expect(try Self.publishWithCertificate(directory, id, topic: "devices/\(id)/telemetry",
                                                        payload: #"[{"n":"battery","v":81,"u":"%"}]"#))
                #expect(try Self.publishWithCertificate(directory, id, topic: "devices/\(id)/events", payload: #"[{"n":"sos","vb":true}]"#))
                #expect(await eventually(timeout: 15) { (try? Self.observations(database, id)) ?? 0 >= 1 })
                #expect(await eventually(timeout: 15) {
                    (try? database.count("SELECT count(*) FROM alarms WHERE device_id = $1", [id])) ?? 0 == 1
                })

                // Every connection of the gateway to PostgreSQL is TLS.
                // (Asked as the gateway's own role, which sees its own sessions; this check's session is named apart.)
                let check = try PostgresConnection(url: Self.tlsDatabaseURL(database) + "&application_name=cip-tls-check")
                defer { check.close() }
                let connections: [String] = try check.query("""
                    SELECT s.ssl::text AS ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
                    WHERE a.datname = current_database() AND a.application_name = 'cip-gateway' AND a.usename = current_user
                    """).all.map { row throws(PostgresError) in try row.decode("ssl") }
                #expect(!connections.isEmpty)
                #expect(connections.allSatisfy { $0 == "true" }, "\(connections)")

                // The device's certificate is no password: the TLS password listener and the plain one refuse it
                // without a password, and the certificate listener refuses a client without a certificate.
                let noCertificate = try Self.run(["mosquitto_pub", "-L", "\(Self.certificateURL)/devices/\(id)/telemetry", "--cafile", Self.caFile,
                                                  "-u", id, "-P", "guess", "-q", "1", "-m", "x"], allowFailure: true)
                #expect(noCertificate.status != 0)
            }
        }

        @Test("the certificate listener refuses a certificate of another CA, an expired one, and lets a certificate publish as its own device only")
        func refusesForeignExpiredAndOtherIdentity() async throws {
            try await Self.withSecureGateway("r") { database, gateway, directory, suffix in
                let a = "tls-a-\(suffix)", b = "tls-b-\(suffix)"
                for id in [a, b] {
                    let answer = try await Self.claim(gateway, id: id, type: "sensor", csr: try Self.keyAndRequest(directory, id))
                    try #require(answer["certificate"] as? String).write(toFile: "\(directory)/\(id).crt", atomically: true, encoding: .utf8)
                }

                // Another CA signs a certificate with the very same name: refused at the handshake.
                try Self.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                              "-keyout", "\(directory)/rogue-ca.key", "-out", "\(directory)/rogue-ca.crt", "-subj", "/CN=rogue CA"])
                _ = try Self.keyAndRequest(directory, "rogue")
                try Self.run(["openssl", "x509", "-req", "-in", "\(directory)/rogue.csr", "-CA", "\(directory)/rogue-ca.crt",
                              "-CAkey", "\(directory)/rogue-ca.key", "-set_serial", "7", "-days", "2", "-subj", "/CN=\(a)",
                              "-out", "\(directory)/rogue.crt"])
                #expect(try !Self.publishWithCertificate(directory, "rogue", topic: "devices/\(a)/telemetry", payload: #"[{"n":"battery","v":1,"u":"%"}]"#))

                // An expired certificate of the right CA for the right device: refused.
                let authority = try CertificateAuthority(certificateFile: Self.tlsDirectory + "/device-ca.crt",
                                                         keyFile: Self.tlsDirectory + "/device-ca.key")
                let past = Date().addingTimeInterval(-3 * 86_400)
                let expired = try authority.issue(request: try Self.keyAndRequest(directory, "expired"), deviceId: a,
                                                  notBefore: past, notAfter: past.addingTimeInterval(86_400))
                try expired.pem.write(toFile: "\(directory)/expired.crt", atomically: true, encoding: .utf8)
                #expect(try !Self.publishWithCertificate(directory, "expired", topic: "devices/\(a)/telemetry", payload: #"[{"n":"battery","v":2,"u":"%"}]"#))

                // A's certificate publishing as B: the broker drops it (B gets nothing); A's own message goes through.
                _ = try Self.publishWithCertificate(directory, a, topic: "devices/\(b)/telemetry", payload: #"[{"n":"battery","v":3,"u":"%"}]"#)
                #expect(try Self.publishWithCertificate(directory, a, topic: "devices/\(a)/telemetry", payload: #"[{"n":"battery","v":4,"u":"%"}]"#))
                #expect(await eventually(timeout: 15) { (try? Self.observations(database, a)) ?? 0 == 1 })
                #expect(try Self.observations(database, b) == 0)

                // A certificate of the device CA named like a fixed account is nobody at the broker (the plugin's guard;
                // the gateway never issues one): the bridge's name may not publish as A.
                let bridgeName = TestStack.bridgeAccount.username ?? "cip-bridge"
                let impostor = try authority.issue(request: try Self.keyAndRequest(directory, "impostor"), deviceId: bridgeName,
                                                   notBefore: Date().addingTimeInterval(-60), notAfter: Date().addingTimeInterval(3_600))
                try impostor.pem.write(toFile: "\(directory)/impostor.crt", atomically: true, encoding: .utf8)
                _ = try Self.publishWithCertificate(directory, "impostor", topic: "devices/\(a)/telemetry", payload: #"[{"n":"battery","v":9,"u":"%"}]"#)

                // A certificate cannot take the gateway's client id: the listener forces the client id to the
                // certificate's name, so the gateway's persistent session stays, and ingest goes on.
                let takeover = try Self.run(["mosquitto_pub", "-L", "\(Self.certificateURL)/devices/\(a)/telemetry", "--cafile", Self.caFile,
                                             "--cert", "\(directory)/\(a).crt", "--key", "\(directory)/\(a).key",
                                             "-i", "\(TestStack.gatewayAccount.username ?? "cip-gateway")/\(gateway.clientID)",
                                             "-q", "1", "-m", #"[{"n":"battery","v":5,"u":"%"}]"#], allowFailure: true)
                #expect(takeover.status == 0, "\(takeover.output)")
                #expect(await eventually(timeout: 15) { (try? Self.observations(database, a)) ?? 0 == 2 })
                #expect(try Self.publishWithCertificate(directory, a, topic: "devices/\(a)/telemetry", payload: #"[{"n":"battery","v":6,"u":"%"}]"#))
                #expect(await eventually(timeout: 15) { (try? Self.observations(database, a)) ?? 0 == 3 })
                #expect(!gateway.logTail(20_000).contains("MQTT connection lost"), "the gateway's session was kicked")
            }
        }

        @Test("suspension puts the certificate on hold at the broker (a connected device is dropped, reconnects refused), resume lifts it, decommission revokes it for good; renewal by the device itself")
        func revocationAndRenewal() async throws {
            try await Self.withSecureGateway("v") { database, gateway, directory, suffix in
                let id = "tls-v-\(suffix)"
                let answer = try await Self.claim(gateway, id: id, type: "sensor", csr: try Self.keyAndRequest(directory, id))
                try #require(answer["certificate"] as? String).write(toFile: "\(directory)/\(id).crt", atomically: true, encoding: .utf8)
                let telemetry = #"[{"n":"battery","v":50,"u":"%"}]"#
                #expect(try Self.publishWithCertificate(directory, id, topic: "devices/\(id)/telemetry", payload: telemetry))

                // Renewal by the device over its certificate connection: a new certificate for the same id.
                let inbox = Onboarding.Inbox()
                var configuration = MQTTClient.Configuration(url: try MQTTURL(parsing: Self.certificateURL), clientID: id)
                configuration.tls = .init(caFile: Self.caFile, certificateFile: "\(directory)/\(id).crt", keyFile: "\(directory)/\(id).key")
                configuration.subscriptions = [("certificates/\(id)/response", 1)]
                let device = try MQTTClient(configuration: configuration, logger: TestStack.logger) { inbox.add($0) }
                defer { device.stop() }
                try device.connect(timeout: 5)
                try await Task.sleep(for: .milliseconds(300))
                let renewalCSR = try Self.keyAndRequest(directory, "renewed")
                try device.publish(topic: "certificates/\(id)/request", payload: Array(try JSONSerialization.data(withJSONObject: ["csr": renewalCSR])))
                #expect(await eventually(timeout: 15) { !inbox.all.isEmpty })
                let renewal = inbox.json(0) ?? [:]
                #expect(renewal["status"] as? String == "issued", "\(renewal)")
                try (renewal["certificate"] as? String ?? "").write(toFile: "\(directory)/renewed.crt", atomically: true, encoding: .utf8)
                #expect(try Self.run(["openssl", "x509", "-in", "\(directory)/renewed.crt", "-noout", "-subject"]).output.contains("CN = \(id)"))
                // A second good request within the minute is dropped unanswered (a device cannot flood the CA).
                let again = try Self.keyAndRequest(directory, "again")
                try device.publish(topic: "certificates/\(id)/request", payload: Array(try JSONSerialization.data(withJSONObject: ["csr": again])))
                try await Task.sleep(for: .seconds(2))
                #expect(inbox.all.count == 1)
                // A hostile renewal: garbage is refused with the reason; the trusted bridge cannot ask for the device
                // (the broker drops its publish: no second answer comes).
                try device.publish(topic: "certificates/\(id)/request", payload: Array(#"{"csr":"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}"#.utf8))
                #expect(await eventually(timeout: 15) { inbox.all.count == 2 })
                #expect(inbox.json(1)?["status"] as? String == "refused")
                let bridge = try makePublisher("renew-\(suffix)")
                try bridge.publish(topic: "certificates/\(id)/request", payload: Array(try JSONSerialization.data(withJSONObject: ["csr": renewalCSR])))
                try await Task.sleep(for: .seconds(2))
                #expect(inbox.all.count == 2)
                #expect(try database.count("SELECT count(*) FROM device_certificates WHERE device_id = $1", [id]) == 2)
                // The new certificate works (its connection takes over the device's client id, as a device's second
                // connection does; the device's client reconnects).
                #expect(try Self.publishWithCertificate(directory, "renewed", topic: "devices/\(id)/telemetry", payload: telemetry))
                #expect(await eventually(timeout: 10) { device.isConnected })

                // Suspend: both certificates on hold; the connected device is dropped and cannot come back.
                let suspended = try gateway.httpSend("POST", "/iot/v1/devices/\(id)/suspend", json: #"{"reason":"lost","actor":"admin-1"}"#)
                #expect(suspended.status == 200, "\(suspended.body)")
                #expect(await eventually(timeout: 10) { !device.isConnected })
                #expect(await eventually(timeout: 10) {
                    (try? !Self.publishWithCertificate(directory, id, topic: "devices/\(id)/telemetry", payload: telemetry)) ?? false
                })
                #expect(try !Self.publishWithCertificate(directory, "renewed", topic: "devices/\(id)/telemetry", payload: telemetry))
                let crl = try Self.run(["openssl", "crl", "-in", Self.tlsDirectory + "/device-ca.crl", "-noout", "-text"]).output
                #expect(crl.contains("Certificate Hold"))

                // Resume: accepted again.
                #expect(try gateway.httpSend("POST", "/iot/v1/devices/\(id)/resume", json: #"{"reason":"found"}"#).status == 200)
                #expect(await eventually(timeout: 10) {
                    (try? Self.publishWithCertificate(directory, id, topic: "devices/\(id)/telemetry", payload: telemetry)) ?? false
                })

                // Decommission: refused for good, also after the gateway restarts and rewrites the list.
                #expect(try gateway.httpSend("POST", "/iot/v1/devices/\(id)/decommission", json: #"{"reason":"returned"}"#).status == 200)
                #expect(await eventually(timeout: 10) {
                    (try? !Self.publishWithCertificate(directory, id, topic: "devices/\(id)/telemetry", payload: telemetry)) ?? false
                })
                _ = gateway.terminate()
                try gateway.start()
                try await gateway.waitUntilReady()
                try await Task.sleep(for: .seconds(1))
                #expect(try !Self.publishWithCertificate(directory, id, topic: "devices/\(id)/telemetry", payload: telemetry))
                #expect(try !Self.publishWithCertificate(directory, "renewed", topic: "devices/\(id)/telemetry", payload: telemetry))
                #expect(try database.count("SELECT count(*) FROM device_certificates WHERE device_id = $1 AND revocation_reason = 'cessationOfOperation'", [id]) == 2)
            }
        }

        @Test("a CRL that cannot reach the broker leaves the suspension not enforced, and it is enforced once the broker can be told")
        func revocationListFailureIsRetried() async throws {
            try await Self.withSecureGateway("f", configure: { gateway, directory in
                // The pid file names a process that is not the broker (this test): the gateway must refuse to signal it.
                try "\(getpid())\n".write(toFile: "\(directory)/broker.pid", atomically: true, encoding: .utf8)
                gateway.extraEnvironment["CIP_BROKER_PID_FILE"] = "\(directory)/broker.pid"
            }) { database, gateway, directory, suffix in
                let id = "tls-f-\(suffix)"
                let answer = try await Self.claim(gateway, id: id, type: "sensor", csr: try Self.keyAndRequest(directory, id))
                try #require(answer["certificate"] as? String).write(toFile: "\(directory)/\(id).crt", atomically: true, encoding: .utf8)
                let telemetry = #"[{"n":"battery","v":40,"u":"%"}]"#
                #expect(try Self.publishWithCertificate(directory, id, topic: "devices/\(id)/telemetry", payload: telemetry))

                // A device with a password only: its suspension does not wait for the list.
                let passwordDevice = "tls-fp-\(suffix)"
                let passwordAnswer = try await Self.claim(gateway, id: passwordDevice, type: "sensor", csr: nil)
                let password = try #require(passwordAnswer["password"] as? String)

                #expect(try gateway.httpSend("POST", "/iot/v1/devices/\(id)/suspend", json: #"{"reason":"lost"}"#).status == 200)
                #expect(try gateway.httpSend("POST", "/iot/v1/devices/\(passwordDevice)/suspend", json: #"{"reason":"lost"}"#).status == 200)
                try await Task.sleep(for: .seconds(3))
                #expect(try database.strings("SELECT coalesce(broker_state, '') FROM devices WHERE device_id = $1", [id]) != ["suspended"],
                        "a suspension whose CRL the broker never loaded counted as enforced")
                #expect(try database.strings("SELECT coalesce(broker_state, '') FROM devices WHERE device_id = $1", [passwordDevice]) == ["suspended"],
                        "a device without certificates waited for the list")
                let refused = try Self.run(["mosquitto_pub", "-L", "\(Self.tlsURL)/devices/\(passwordDevice)/telemetry", "--cafile", Self.caFile,
                                            "-u", passwordDevice, "-P", password, "-i", passwordDevice, "-q", "1", "-m", telemetry], allowFailure: true)
                #expect(refused.status != 0, "a suspended password device still connects")
                #expect(gateway.logTail(40_000).contains("is not the broker"))
                // The broker can be told again: the next round writes the list, signals it, and only then counts it.
                try "\(try String(contentsOfFile: Self.brokerPidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))\n"
                    .write(toFile: "\(directory)/broker.pid", atomically: true, encoding: .utf8)
                #expect(await eventually(timeout: 30) {
                    (try? database.strings("SELECT coalesce(broker_state, '') FROM devices WHERE device_id = $1", [id])) == ["suspended"]
                })
                #expect(try !Self.publishWithCertificate(directory, id, topic: "devices/\(id)/telemetry", payload: telemetry))
            }
        }

        @Test("several gateways on one database: each claim is answered once and its certificate works; a gateway without the device CA does not count a suspension as enforced until one with it wrote the CRL")
        func severalGateways() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let first = try Self.secureGateway(database)
            defer { first.cleanUp() }
            try first.start()
            try await first.waitUntilReady()
            let second = try Self.secureGateway(database)
            second.token = first.token
            defer { second.cleanUp() }
            try second.start()
            try await second.waitUntilReady()
            let directory = try Self.scratch()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let suffix = TestStack.uniqueName("m").replacingOccurrences(of: "_", with: "-")
            let ids = (1...3).map { "tls-m\($0)-\(suffix)" }
            for id in ids {
                let answer = try await Self.claim(first, id: id, type: "sensor", csr: try Self.keyAndRequest(directory, id))
                #expect(answer["status"] as? String == "provisioned", "\(answer)")
                try (answer["certificate"] as? String ?? "").write(toFile: "\(directory)/\(id).crt", atomically: true, encoding: .utf8)
                #expect(try Self.publishWithCertificate(directory, id, topic: "devices/\(id)/telemetry", payload: #"[{"n":"battery","v":70,"u":"%"}]"#))
            }
            #expect(try database.count("SELECT count(*) FROM device_certificates WHERE revoked_at IS NOT NULL") == 0)
            #expect(try database.count("SELECT count(*) FROM device_certificates") == 3)
            _ = second.terminate()

            // A gateway without the device CA suspends: the database holds the certificate at once, but the list is
            // the first gateway's to write; until it did, the suspension does not count as enforced.
            let plain = GatewayProcess(databaseURL: database.url)
            plain.token = first.token
            defer { plain.cleanUp() }
            _ = first.terminate()
            try plain.start()
            try await plain.waitUntilReady()
            let id = ids[0]
            #expect(try plain.httpSend("POST", "/iot/v1/devices/\(id)/suspend", json: #"{"reason":"lost"}"#).status == 200)
            #expect(try database.count("SELECT count(*) FROM device_certificates WHERE device_id = $1 AND revocation_reason = 'certificateHold'", [id]) == 1)
            try await Task.sleep(for: .seconds(3))
            #expect(try database.strings("SELECT coalesce(broker_state, '') FROM devices WHERE device_id = $1", [id]) != ["suspended"])
            #expect(plain.logTail(40_000).contains("no device CA"))
            try first.start()
            #expect(await eventually(timeout: 40) {
                (try? database.strings("SELECT coalesce(broker_state, '') FROM devices WHERE device_id = $1", [id])) == ["suspended"]
            })
            #expect(try !Self.publishWithCertificate(directory, id, topic: "devices/\(id)/telemetry", payload: #"[{"n":"battery","v":71,"u":"%"}]"#))
            #expect(try Self.publishWithCertificate(directory, ids[1], topic: "devices/\(ids[1])/telemetry", payload: #"[{"n":"battery","v":72,"u":"%"}]"#))
        }

        @Test("the database holds the rules for everyone who writes it: issue only in the right state, the lifecycle drives holds and revocation, revoked for good stays so, nothing is deleted")
        func databaseRules() throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            _ = try database.register(["c-reg"], state: "registered")
            _ = try database.register(["c-act", "c-sus"], state: "active")
            _ = try database.register(["c-off"], state: "suspended")
            let gateway = try PostgresConnection(url: database.url)  // the gateway's own role
            defer { gateway.close() }
            var serial = 0x10
            func insert(_ device: String, _ origin: String) throws(PostgresError) {
                serial += 1
                try gateway.query("""
                    INSERT INTO device_certificates (serial, device_id, fingerprint, not_before, not_after, issued_by)
                    VALUES ($1, $2, $3, now() - interval '1 minute', now() + interval '1 day', $4)
                    """, [String(format: "%02X", serial), device, String(repeating: String(format: "%02x", serial), count: 32), origin])
            }
            try insert("c-reg", "claim")
            try insert("c-act", "renewal")
            try insert("c-sus", "renewal")
            #expect(throws: PostgresError.self) { try insert("c-act", "claim") }     // a claim needs registered
            #expect(throws: PostgresError.self) { try insert("c-off", "renewal") }   // a suspended device renews nothing
            #expect(throws: PostgresError.self) { try insert("c-reg", "renewal") }
            func reasons(_ device: String) throws -> [String] {
                try database.strings("SELECT coalesce(revocation_reason, 'valid') FROM device_certificates WHERE device_id = $1", [device])
            }
            func version() throws -> [String] { try database.strings("SELECT version::text FROM device_crl") }
            let before = try version()
            try gateway.query("UPDATE devices SET lifecycle_state = 'suspended' WHERE device_id = 'c-sus'")
            #expect(try reasons("c-sus") == ["certificateHold"])
            #expect(try version() != before, "a hold marks the written CRL behind")
            try gateway.query("UPDATE devices SET lifecycle_state = 'active' WHERE device_id = 'c-sus'")
            #expect(try reasons("c-sus") == ["valid"])
            try gateway.query("UPDATE devices SET lifecycle_state = 'decommissioned' WHERE device_id = 'c-sus'")
            #expect(try reasons("c-sus") == ["cessationOfOperation"])
            #expect(throws: PostgresError.self) {
                try gateway.query("UPDATE device_certificates SET revoked_at = NULL, revocation_reason = NULL WHERE device_id = 'c-sus'")
            }
            #expect(throws: PostgresError.self) { try gateway.query("UPDATE device_certificates SET not_after = now() + interval '10 years'") }
            #expect(throws: PostgresError.self) { try gateway.query("DELETE FROM device_certificates WHERE device_id = 'c-act'") }
            #expect(try reasons("c-act") == ["valid"])
            // Three unexpired certificates at most, counted under the device's row lock (several gateways).
            try insert("c-act", "renewal")
            try insert("c-act", "renewal")
            #expect(throws: PostgresError.self) { try insert("c-act", "renewal") }
            // Not even the owner empties the table (the next CRL would readmit every revoked certificate).
            let owner = try database.connect()
            defer { owner.close() }
            #expect(throws: PostgresError.self) { try owner.execute("TRUNCATE device_certificates") }
        }

        @Test("a device in Python (paho-mqtt) makes its key, claims with a CSR over TLS, publishes with its certificate, and is refused once decommissioned")
        func pythonDevice() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let gateway = try Self.secureGateway(database)
            defer { gateway.cleanUp() }
            try gateway.start()
            try await gateway.waitUntilReady()
            let suffix = TestStack.uniqueName("p").replacingOccurrences(of: "_", with: "-")
            let id = "py-\(suffix)", serial = "SN-\(id)"
            let registered = try gateway.httpSend("POST", "/iot/v1/devices", json: """
                {"deviceId":"\(id)","serialNumber":"\(serial)","type":"sensor","tenant":"elderly-care"}
                """)
            let code = (try JSONSerialization.jsonObject(with: Data(registered.body.utf8)) as? [String: Any])?["claimCode"] as? String ?? ""
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("Gateway/tls-device.py").path
            let directory = try Self.scratch()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            var environment = TestStack.environment
            environment["MQTTS_URL"] = Self.tlsURL
            environment["MQTT_DEVICE_CERT_URL"] = Self.certificateURL
            environment["TLS_CA_FILE"] = Self.caFile
            let onboard = try Self.run(["python3", script, "onboard", "--serial", serial, "--claim-code", code, "--dir", directory],
                                       allowFailure: true, environment: environment)
            #expect(onboard.status == 0, "\(onboard.output)")
            #expect(onboard.output.contains("provisioned \(id)"), "\(onboard.output)")
            #expect(FileManager.default.fileExists(atPath: "\(directory)/device.key"))
            #expect(await eventually(timeout: 15) { (try? Self.observations(database, id)) ?? 0 >= 1 })

            #expect(try gateway.httpSend("POST", "/iot/v1/devices/\(id)/decommission", json: #"{"reason":"returned"}"#).status == 200)
            try await Task.sleep(for: .seconds(1))
            let refused = try Self.run(["python3", script, "publish", "--dir", directory], allowFailure: true, environment: environment)
            #expect(refused.status != 0, "\(refused.output)")
        }

        @Test("the MQTT client checks the broker's name: a broker whose certificate (from the trusted CA) names another host is refused, with the project's client and with mosquitto_pub")
        func verifiesTheBrokersName() async throws {
            let directory = try Self.scratch()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            // A certificate of the stack's own CA for another name only.
            try Self.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                          "-keyout", "\(directory)/other.key", "-out", "\(directory)/other.csr", "-subj", "/CN=other.example"])
            try "subjectAltName=DNS:other.example\n".write(toFile: "\(directory)/ext", atomically: true, encoding: .utf8)
            try Self.run(["openssl", "x509", "-req", "-in", "\(directory)/other.csr", "-CA", Self.caFile, "-CAkey", Self.tlsDirectory + "/ca.key",
                          "-set_serial", "99", "-days", "1", "-extfile", "\(directory)/ext", "-out", "\(directory)/other.crt"])
            let port = Int.random(in: 42_000...42_999)
            try """
                user \(String(cString: getpwuid(getuid()).pointee.pw_name))
                listener \(port) 127.0.0.1
                certfile \(directory)/other.crt
                keyfile \(directory)/other.key
                allow_anonymous true
                """.write(toFile: "\(directory)/broker.conf", atomically: true, encoding: .utf8)
            let broker = try ChildProcess(["/usr/sbin/mosquitto", "-c", "\(directory)/broker.conf"], environment: TestStack.environment,
                                          logPath: "\(directory)/broker.log")
            defer { broker.signal(SIGKILL); _ = broker.wait() }
            #expect(await eventually(timeout: 10) { (try? connectLoopback(port: port)).map { close($0); return true } ?? false })

            var configuration = MQTTClient.Configuration(url: try MQTTURL(parsing: "mqtts://localhost:\(port)"), clientID: "name-check")
            configuration.tls = .init(caFile: Self.caFile)
            let client = try MQTTClient(configuration: configuration, logger: TestStack.logger)
            defer { client.stop() }
            #expect(throws: MQTTError.self) { try client.connect(timeout: 3) }
            let pub = try Self.run(["mosquitto_pub", "-h", "localhost", "-p", String(port), "--cafile", Self.caFile, "-t", "x", "-m", "x"],
                                   allowFailure: true)
            #expect(pub.status != 0, "\(pub.output)")
        }

        @Test("careless configuration is refused at start: TLS files with a plain URL, a CA without a CRL file, and a database certificate of the wrong CA")
        func refusesCarelessConfiguration() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            for (environment, expected) in [
                (["MQTT_CA_FILE": Self.caFile], "need an mqtts:// URL"),
                (["CIP_DEVICE_CA_CERT": Self.tlsDirectory + "/device-ca.crt", "CIP_DEVICE_CA_KEY": Self.tlsDirectory + "/device-ca.key"],
                 "needs --device-crl-file"),
                (["CIP_DEVICE_CA_CERT": Self.tlsDirectory + "/ca.crt", "CIP_DEVICE_CA_KEY": Self.tlsDirectory + "/device-ca.key",
                  "CIP_DEVICE_CRL_FILE": NSTemporaryDirectory() + "x.crl"], "does not belong"),
                (["CIP_TLS_CERT_FILE": Self.tlsDirectory + "/server.crt"], "go together"),
                (["CIP_DEVICE_CA_CERT": Self.tlsDirectory + "/device-ca.crt", "CIP_DEVICE_CA_KEY": Self.tlsDirectory + "/device-ca.key",
                  "CIP_DEVICE_CRL_FILE": NSTemporaryDirectory() + "x.crl", "CIP_DEVICE_CERTIFICATE_DAYS": "0"], "valid 1 to 3650 days, not 0"),
            ] {
                let gateway = GatewayProcess(databaseURL: database.url)
                gateway.extraEnvironment = environment
                defer { gateway.cleanUp() }
                try gateway.start()
                let status = gateway.waitForExit()
                #expect(status != nil && status != 0, "\(environment)")
                #expect(gateway.logTail().contains(expected), "\(expected): \(gateway.logTail())")
            }
            // libpq with verify-full refuses a server certificate that the given CA did not sign.
            let wrongCA = Self.tlsDatabaseURL(database).replacingOccurrences(of: "/ca.crt", with: "/device-ca.crt")
            #expect(throws: PostgresError.self) { _ = try PostgresConnection(url: wrongCA) }
            // And 127.0.0.1 is in the certificate too; a name that is not is refused.
            let connection = try PostgresConnection(url: Self.tlsDatabaseURL(database).replacingOccurrences(of: "@localhost:", with: "@127.0.0.1:"))
            connection.close()
        }

        @Test("HTTPS served by the gateway: health, the console and the alarm stream over TLS verified against the stack's CA; plain HTTP on that port gets nothing")
        func https() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let gateway = try Self.secureGateway(database, https: true)
            defer { gateway.cleanUp() }
            try gateway.start()
            let base = "https://localhost:\(gateway.httpPort)"
            #expect(await eventually(timeout: 60) {
                (try? Self.run(["curl", "-sf", "--cacert", Self.caFile, "\(base)/readyz"]).status) == 0
            }, "\(gateway.logTail())")
            let token = try gateway.createClient(name: "tls-operator", roles: "alarm-operator", clearance: 3)
            let console = try Self.run(["curl", "-sf", "--cacert", Self.caFile, "\(base)/console/"]).output
            #expect(console.contains("<html") || console.contains("<!DOCTYPE"), "\(console.prefix(200))")
            let alarms = try Self.run(["curl", "-sf", "--cacert", Self.caFile, "-H", "Authorization: Bearer \(token)",
                                       "\(base)/integration/v1/alarms"]).output
            #expect(alarms.contains("\"items\""), "\(alarms)")
            // The live stream: its first bytes arrive over TLS within the time curl is given.
            let stream = try Self.run(["curl", "-s", "--cacert", Self.caFile, "-N", "--max-time", "3", "-H", "Authorization: Bearer \(token)",
                                       "\(base)/integration/v1/alarms/stream"], allowFailure: true)
            #expect(stream.output.contains("retry: 1000"), "\(stream.output)")
            // Without the CA curl refuses the server; plain HTTP to the TLS port gets no HTTP answer.
            #expect(try Self.run(["curl", "-sf", "\(base)/healthz"], allowFailure: true).status != 0)
            #expect(try Self.run(["curl", "-sf", "--max-time", "3", "http://127.0.0.1:\(gateway.httpPort)/healthz"], allowFailure: true).status != 0)
        }
    }
}
