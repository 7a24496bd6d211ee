import Foundation
import MQTT
import Testing

extension IntegrationTests {
    /// The hostile-input suite (issue 10): a real gateway, broker and database, fed what an attacker or a broken
    /// device sends. Afterwards the gateway is the same process, ready, every message is accounted for, and a good
    /// message sent last is stored. Then the same poison waits in the journal of a killed gateway, and a restart
    /// gets through it.
    @Suite(.serialized) struct HostileIngest {
        static let now = Int(Date().timeIntervalSince1970)

        /// Valid payloads per device type and channel, the seeds of the mutations.
        static let seeds: [(device: String, channel: String, payload: String)] = [
            ("h-sensor", "telemetry", #"[{"bn":"urn:dev:ow:195bc4:","bt":\#(now),"n":"temperature","u":"Cel","v":21.5},{"n":"humidity","u":"%RH","v":40}]"#),
            ("h-sensor", "events", #"[{"bt":\#(now),"n":"tamper","vb":true}]"#),
            ("h-sensor", "status", "online"),
            ("h-lock", "telemetry", #"[{"bt":\#(now),"n":"lock_state","vs":"locked"},{"n":"door_state","vs":"closed"},{"n":"battery","u":"%","v":80}]"#),
            ("h-lock", "events", #"[{"bt":\#(now),"n":"unlocked","vb":true},{"n":"lock_change_method","vs":"staff_credential"}]"#),
            ("h-gps", "telemetry", #"[{"bt":\#(now),"n":"latitude","u":"lat","v":59.3293},{"n":"longitude","u":"lon","v":18.0686},{"n":"position_accuracy","u":"m","v":8}]"#),
            ("h-gps", "events", #"[{"bt":\#(now),"n":"sos","vb":true}]"#),
            ("h-sensor", "status", "offline"),
            ("h-lock", "status", "online"),
            ("h-gps", "status", "online"),
            // The structured position SCAIP peers send, exactly as issue 10 reported it.
            ("h-alarm", "events", #"<?xml version="1.0" encoding="UTF-8"?><mrq><ref>R1</ref><cid>1</cid><dty>0005</dty><mty>ME</mty><stc>0009</stc><lge><geo>57.7089,11.9746</geo><tim>2026-11-22T10:15:00Z</tim></lge></mrq>"#),
            ("h-alarm", "status", #"<?xml version="1.0" encoding="UTF-8"?><mrq><ref>R2</ref><cid>1</cid><mty>PI</mty></mrq>"#),
            ("h-alarm", "telemetry", #"[{"bt":\#(now),"n":"battery","u":"%","v":64},{"n":"signal_strength","u":"dBm","v":-71}]"#),
            // Vendor JSON: each mapping's own time format and shape (DataModels/mappings).
            ("h-nl200", "telemetry", #"{"ts":\#(now)000,"lock":{"state":"LOCKED","by":"CARD","door":"CLOSED"},"power":{"mv":3600},"rssi":-70,"fw":"2.4.1"}"#),
            ("h-nl200", "events", #"{"ts":\#(now)000,"seq":7,"lock":{"state":"UNLOCKED","by":"CARD","staff":"st-1"},"power":{"mv":3600},"evt":"UNLOCK"}"#),
            ("h-hl5", "telemetry", #"{"time":"\#(nowText)","status":{"locked":true,"doorOpen":false,"jammed":false},"battery":0.83,"radio":{"rssi":-64}}"#),
            ("h-hl5", "events", #"{"time":"\#(nowText)","status":{"locked":false,"jammed":false},"battery":0.8,"event":{"code":21}}"#),
            ("h-tp3", "telemetry", #"{"t":\#(now),"pos":{"lat":57.7089,"lon":11.9746,"acc":12.5,"spd":4.5},"bat":{"pct":76,"chg":true},"gsm":{"rssi":-85}}"#),
            ("h-tp3", "events", #"{"t":\#(now),"pos":null,"bat":{"pct":70},"sos":true,"fall":false}"#),
            ("h-gx", "telemetry", #"{"gpsTime":"\#(nowText)","latitude":57.70,"longitude":11.97,"accuracy":9,"batteryLevel":55,"charging":"NO"}"#),
            ("h-gx", "events", #"{"gpsTime":"\#(nowText)","batteryLevel":54,"event":"FALL_DETECTED"}"#),
        ]

        /// `now` as RFC 3339, the time format of two of the vendor mappings.
        static let nowText = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(now)))

        /// Times outside the window in each vendor mapping's own format: refused per message, with the reason.
        static let vendorTimes: [(device: String, channel: String, payload: String, reason: String)] = [
            ("h-tp3", "events", #"{"t":10000000000000,"bat":{"pct":70},"sos":true}"#, "events kept at their arrival time"),
            ("h-nl200", "telemetry", #"{"ts":-1000000000000,"lock":{"state":"LOCKED"},"power":{"mv":3600}}"#, "before"),
            ("h-hl5", "telemetry", #"{"time":"1999-12-31T23:59:59Z","status":{"locked":true,"jammed":false},"battery":0.5}"#, "before"),
            ("h-gx", "telemetry", #"{"gpsTime":"9999-12-31T23:59:59Z","batteryLevel":50}"#, "after arrival"),
        ]

        /// The messages issue 10 reported, verbatim.
        static let reported: [(device: String, channel: String, payload: String)] = [
            ("h-sensor", "telemetry", #"[{"n":"temperature","u":"Cel","v":21,"t":1e13}]"#),
            ("h-sensor", "telemetry", #"[{"n":"temperature","u":"Cel","v":21,"t":-1e13}]"#),
            ("h-sensor", "events", #"[{"n":"tamper","vb":true,"t":1e13}]"#),
            ("h-sensor", "telemetry", #"[{"n":"firmware_version","vs":"a\u0000b"}]"#),
            ("h-sensor", "telemetry", #"[{"n":"temperature","v":21,"t":-1e12}]"#),
            ("h-sensor", "telemetry", #"[{"n":"temperature","v":99,"t":253402300000}]"#),
        ]

        /// A few hundred hostile variants: numeric extremes, NUL and invalid UTF-8, deep nesting, huge strings,
        /// times at every limit, and byte mutations of the valid seeds.
        static func hostile(count: Int) -> [(topic: String, payload: [UInt8])] {
            var random = SystemRandomNumberGenerator()
            let extremes = ["1e13", "-1e13", "1e308", "-1e308", "1e999", "-0", "4.9e-324", "9223372036854775808",
                            "946684799", "946684800", "\(now + 86_400)", "\(now + 86_401)", "268435455", "268435456",
                            "\"a\\u0000b\"", "\"\\ud800\"", "true", "null", "[]", "{}"]
            var out: [(String, [UInt8])] = [
                ("devices/h-sensor/telemetry", Array(String(repeating: "[", count: 100_000).utf8)),
                ("devices/h-sensor/telemetry", [0x5B, 0x7B, 0x22, 0x6E, 0x22, 0x3A, 0x22, 0xFF, 0xFE, 0x22, 0x7D, 0x5D]),
                ("devices/h-sensor/telemetry", Array("[{\"n\":\"firmware_version\",\"vs\":\"\(String(repeating: "x", count: 200_000))\"}]".utf8)),
                ("devices/h-alarm/events", Array("<mrq>\(String(repeating: "<a>", count: 50))</mrq>".utf8)),
                ("devices/h-alarm/events", Array("<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><mrq/>".utf8)),
                ("devices/h-alarm/events", [0x3C, 0x6D, 0x72, 0x71, 0x3E, 0x00, 0x3C, 0x2F, 0x6D, 0x72, 0x71, 0x3E]),
            ]
            while out.count < count {
                let seed = seeds.randomElement(using: &random)!
                var bytes = Array(seed.payload.utf8)
                switch Int.random(in: 0..<5, using: &random) {
                case 0:  // replace a number with an extreme
                    var text = seed.payload
                    if let range = text.range(of: #"-?[0-9]+(\.[0-9]+)?"#, options: .regularExpression) {
                        text.replaceSubrange(range, with: extremes.randomElement(using: &random)!)
                    }
                    bytes = Array(text.utf8)
                case 1:  // flip bytes
                    for _ in 0..<Int.random(in: 1...4, using: &random) where !bytes.isEmpty {
                        bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                    }
                case 2:  // truncate
                    bytes = Array(bytes.prefix(Int.random(in: 0..<max(bytes.count, 1), using: &random)))
                case 3:  // a NUL somewhere
                    bytes.insert(0, at: Int.random(in: 0...bytes.count, using: &random))
                default:  // an extreme time on every record, in the seed's own time format
                    let time = extremes.randomElement(using: &random)!
                    let text = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2026-13-45T99:99:99Z", "1999-12-31T23:59:59+14:00",
                                "\(nowText.dropLast())+25:00", ""].randomElement(using: &random)!
                    bytes = Array(seed.payload.replacingOccurrences(of: "\(now)", with: time).replacingOccurrences(of: nowText, with: text).utf8)
                }
                out.append(("devices/\(seed.device)/\(seed.channel)", bytes))
            }
            return out
        }

        /// A database of its own with the fleet registered.
        static func fleetDatabase() throws -> TestDatabase {
            let database = try TestDatabase.create()
            try registerFleet(database)
            return database
        }

        /// A real gateway on `database`, ready; the caller cleans it up.
        static func readyGateway(_ database: TestDatabase, environment: [String: String] = [:]) async throws -> GatewayProcess {
            let gateway = GatewayProcess(databaseURL: database.url)
            gateway.extraEnvironment = environment
            do {
                try gateway.start()
                try await gateway.waitUntilReady()
            } catch {
                gateway.cleanUp()
                throw error
            }
            return gateway
        }

        static func registerFleet(_ database: TestDatabase) throws {
            try database.register(["h-sensor"], type: "sensor")
            try database.register(["h-lock"], type: "digital-lock")
            try database.register(["h-gps"], type: "gps-alarm")
            try database.register(["h-alarm"], type: "safety-alarm")
            try database.register(["h-nl200"], type: "digital-lock", model: "nordlock-nl200")
            try database.register(["h-hl5"], type: "digital-lock", model: "hemlas-hl5")
            try database.register(["h-tp3"], type: "gps-alarm", model: "tryggpos-tp3")
            try database.register(["h-gx"], type: "gps-alarm", model: "senioren-gx")
        }

        /// Distinct messages only: identical timestamped SenML from one device is one message by content (a
        /// redelivery), which would make "every message accounted for" count one row for two.
        static func distinct(_ messages: [(topic: String, payload: [UInt8])]) -> [(topic: String, payload: [UInt8])] {
            var seen = Set<[UInt8]>()
            return messages.filter { seen.insert(Array($0.topic.utf8) + [0] + $0.payload).inserted }
        }

        static func publishAll(_ messages: [(topic: String, payload: [UInt8])], _ publisher: MQTTClient) throws {
            for message in messages {
                try publisher.publish(topic: message.topic, payload: message.payload, qos: 1, window: 100)
            }
            #expect(publisher.waitForAcknowledgements(timeout: 60))
        }

        /// The journal's backlog as the gateway's metrics report it.
        static func journalBacklog(_ gateway: GatewayProcess) throws -> Int {
            let metrics = try gateway.httpGet("/metrics").body
            let line = try #require(metrics.split(separator: "\n").first { $0.hasPrefix("cip_journal_backlog_messages ") })
            return try #require(Double(line.split(separator: " ").last ?? "")).map { Int($0) }!
        }

        /// A good message with a value nobody else sends (humidity, so 0...100).
        static func goodMessage(_ marker: Double) -> (topic: String, payload: [UInt8]) {
            ("devices/h-sensor/telemetry", Array(#"[{"bt":\#(now),"n":"humidity","u":"%RH","v":\#(marker)}]"#.utf8))
        }

        @Test("hundreds of hostile payloads on every device type and channel: same process, ready, all accounted for, good data still stored")
        func hostilePayloadsStopNothing() async throws {
            let database = try Self.fleetDatabase()
            defer { database.drop() }
            let gateway = try await Self.readyGateway(database)
            defer { gateway.cleanUp() }
            let pid = try #require(gateway.pid)

            let messages = Self.distinct(Self.reported.map { ("devices/\($0.device)/\($0.channel)", Array($0.payload.utf8)) }
                + Self.vendorTimes.map { ("devices/\($0.device)/\($0.channel)", Array($0.payload.utf8)) }
                + Self.seeds.map { ("devices/\($0.device)/\($0.channel)", Array($0.payload.utf8)) }
                + Self.hostile(count: 1_200) + [Self.goodMessage(77)])
            let publisher = try makePublisher("hostile-publisher")
            defer { publisher.stop() }
            // A device that sends its SOS retained, and one that sends 2 MB: neither may vanish.
            try publisher.publish(topic: "devices/h-gps/events", payload: Array(#"[{"bt":\#(Self.now - 5),"n":"sos","vb":true}]"#.utf8),
                                  qos: 1, retain: true)
            try publisher.publish(topic: "devices/h-sensor/telemetry", payload: [UInt8](repeating: 0x5B, count: 2_000_000), qos: 1)
            try Self.publishAll(messages, publisher)

            // Every message is accounted for (stored, partial, rejected), and the last good one is stored.
            let accounted = try await eventually(timeout: 60) {
                try database.count("SELECT count(*) FROM raw_messages") == messages.count + 2
            }
            let rawCount = try database.count("SELECT count(*) FROM raw_messages")
            #expect(accounted, "raw messages \(rawCount) of \(messages.count + 2); log: \(gateway.logTail())")
            #expect(try database.count("SELECT count(*) FROM events WHERE device_id = 'h-gps' AND event = 'sos' AND observed_at = to_timestamp($1::bigint)",
                                       [String(Self.now - 5)]) == 1, "the retained SOS was stored")
            #expect(try database.count("SELECT count(*) FROM dead_letters WHERE reason LIKE '%2000000 bytes%'") == 1)
            #expect(try database.count("SELECT count(*) FROM observations WHERE device_id = 'h-sensor' AND quantity = 'humidity' AND value_number = 77") == 1)
            #expect(gateway.pid == pid, "the gateway process is the same")
            #expect(try gateway.httpStatus("/readyz") == 200)
            // The journal's backlog is back to zero: nothing waits behind a poison.
            #expect(try await eventually(timeout: 30) { try Self.journalBacklog(gateway) == 0 }, "backlog: \((try? Self.journalBacklog(gateway)) ?? -1)")
            // Vendor JSON times outside the window: refused per message, with the reason, on that device.
            for sample in Self.vendorTimes {
                let reasons = try database.strings("SELECT reason FROM dead_letters WHERE topic = $1 AND payload = convert_to($2, 'UTF8')",
                                                   ["devices/\(sample.device)/\(sample.channel)", sample.payload])
                #expect(try database.count("SELECT count(*) FROM dead_letters WHERE topic = $1 AND payload = convert_to($2, 'UTF8') AND reason LIKE $3",
                                           ["devices/\(sample.device)/\(sample.channel)", sample.payload, "%\(sample.reason)%"]) >= 1,
                        "\(sample.device): \(sample.payload); its dead letters: \(reasons)")
            }
            // Every vendor device's valid seed was stored, and the vendor SOS, fall and forced door raised alarms.
            for device in ["h-nl200", "h-hl5", "h-tp3", "h-gx"] {
                #expect(try database.count("SELECT count(*) FROM observations WHERE device_id = $1", [device]) >= 1, "\(device) stored nothing")
            }
            #expect(try await eventually(timeout: 30) {
                try database.count("SELECT count(DISTINCT device_id) FROM alarms WHERE device_id IN ('h-tp3', 'h-gx', 'h-hl5')") == 3
            }, "vendor alarms: log \(gateway.logTail())")
            // The reported poisons are dead letters with reasons that say why.
            #expect(try database.count("SELECT count(*) FROM dead_letters WHERE reason LIKE '%after arrival%'") >= 2)
            #expect(try database.count("SELECT count(*) FROM dead_letters WHERE reason LIKE '%before%'") >= 2)
            #expect(try database.count("SELECT count(*) FROM dead_letters WHERE reason LIKE '%NUL%'") >= 1)
            // Nothing far in the future pins a latest value.
            #expect(try database.count("SELECT count(*) FROM latest_observations WHERE observed_at > now() + interval '1 day'") == 0)
            // The standard SenML base name stored its values; the structured-lge fall alarm raised an alarm with its position.
            #expect(try database.count("SELECT count(*) FROM observations WHERE device_id = 'h-sensor' AND quantity = 'temperature'") >= 1)
            // (Repeated falls update one open alarm, whose attributes are its first trigger's: look at the events.)
            #expect(try database.count("SELECT count(*) FROM events WHERE device_id = 'h-alarm' AND event = 'fall_detector' AND attributes->>'lge' = '57.7089,11.9746'") >= 1)
            #expect(try await eventually(timeout: 30) {
                try database.count("SELECT count(*) FROM alarms WHERE device_id = 'h-alarm'") >= 1
            }, "log: \(gateway.logTail())")
        }

        @Test("a database refusal of one message's data dead-letters that message and stores the rest of its batch")
        func poisonIsIsolatedInTheDatabase() async throws {
            let database = try Self.fleetDatabase()
            defer { database.drop() }
            // A rule the normalizer does not know: the database refuses humidity 66.6 (SQLSTATE 23514).
            let connection = try database.connect()
            try connection.execute("ALTER TABLE observations ADD CONSTRAINT refuse_666 CHECK (value_number IS DISTINCT FROM 66.6)")
            connection.close()
            let gateway = try await Self.readyGateway(database)
            defer { gateway.cleanUp() }
            // Stop the database so that the poison and its neighbours land in one batch.
            try TestStack.stack("db-stop")
            let publisher = try makePublisher("poison-publisher")
            defer { publisher.stop() }
            // 10.0, 10.25, ... 59.75: never 66.6.
            var messages = (0..<200).map { Self.goodMessage(10 + Double($0) / 4) }
            messages.insert(("devices/h-sensor/telemetry", Array(#"[{"bt":\#(Self.now),"n":"humidity","u":"%RH","v":66.6}]"#.utf8)), at: 123)
            try Self.publishAll(messages, publisher)
            try TestStack.stack("db-start")

            let stored = try await eventually(timeout: 60) {
                try database.count("SELECT count(*) FROM observations WHERE value_number BETWEEN 10 AND 60") == 200
            }
            let storedCount = try database.count("SELECT count(*) FROM observations WHERE value_number BETWEEN 10 AND 60")
            let rejectedCount = try database.count("SELECT count(*) FROM raw_messages WHERE outcome = 'rejected'")
            let rawCount = try database.count("SELECT count(*) FROM raw_messages")
            #expect(stored, "stored \(storedCount), rejected \(rejectedCount), raw \(rawCount); log: \(gateway.logTail())")
            #expect(try database.count("SELECT count(*) FROM dead_letters WHERE reason LIKE '%23514%refuse_666%'") == 1)
            #expect(try database.count("SELECT count(*) FROM raw_messages WHERE outcome = 'rejected'") == 1)
            // And ingest goes on.
            try Self.publishAll([Self.goodMessage(99.5)], publisher)
            #expect(try await eventually(timeout: 30) {
                try database.count("SELECT count(*) FROM observations WHERE value_number = 99.5") == 1
            })
        }

        @Test("the reported poisons waiting in the journal of a killed gateway do not stop the restarted one")
        func restartWithPoisonInTheJournal() async throws {
            let database = try Self.fleetDatabase()
            defer { database.drop() }
            let gateway = try await Self.readyGateway(database)
            defer { gateway.cleanUp() }
            try TestStack.stack("db-stop")
            let publisher = try makePublisher("replay-publisher")
            defer { publisher.stop() }
            let messages = Self.distinct(Self.reported.map { ("devices/\($0.device)/\($0.channel)", Array($0.payload.utf8)) }
                + Self.hostile(count: 100) + [Self.goodMessage(88)])
            try Self.publishAll(messages, publisher)  // journaled, acknowledged, not yet stored
            gateway.kill()
            try TestStack.stack("db-start")
            try gateway.start()
            try await gateway.waitUntilReady()
            let pid = try #require(gateway.pid)
            let stored = try await eventually(timeout: 60) {
                try database.count("SELECT count(*) FROM observations WHERE value_number = 88") == 1
            }
            // Every message is accounted for; a message the broker delivered again after the kill (its PUBACK
            // had not gone out) may be there twice when its key includes the arrival time.
            let distinctCount = try database.count("SELECT count(DISTINCT (topic, payload)) FROM raw_messages")
            #expect(stored, "log: \(gateway.logTail())")
            #expect(distinctCount == messages.count, "distinct raw \(distinctCount) of \(messages.count); log: \(gateway.logTail())")
            #expect(gateway.pid == pid)
        }

        @Test("a message that kills the gateway while it is normalized is quarantined after three deaths; the rest flows",
              arguments: ["telemetry", "events"])
        func crashLoopIsBroken(channel: String) async throws {
            let database = try Self.fleetDatabase()
            defer { database.drop() }
            // Fault injection: a payload containing TRAP-ME kills the process in the normalizer (as a missed bound would).
            let gateway = try await Self.readyGateway(database, environment: ["CIP_TEST_TRAP_PAYLOAD": "TRAP-ME",
                                                                              "CIP_MAX_BATCH_MESSAGES": "50"])
            defer { gateway.cleanUp() }
            let publisher = try makePublisher("trap-publisher")
            defer { publisher.stop() }
            var messages = (0..<30).map { Self.goodMessage(10 + Double($0)) }
            // On the events channel the fast path meets it first, at arrival.
            let poison = channel == "events" ? #"[{"bt":\#(Self.now),"n":"tamper","vs":"TRAP-ME"}]"#
                : #"[{"bt":\#(Self.now),"n":"firmware_version","vs":"TRAP-ME"}]"#
            messages.insert(("devices/h-sensor/\(channel)", Array(poison.utf8)), at: 12)
            try Self.publishAll(messages, publisher)

            // Restart it whenever it dies, as systemd would, until the message after the poison is stored.
            var restarts = 0
            let through = try await eventually(timeout: 120) {
                if gateway.pid == nil, restarts < 10 {
                    restarts += 1
                    try gateway.start()
                }
                return try database.count("SELECT count(*) FROM observations WHERE value_number = 39") == 1
            }
            #expect(through, "restarts \(restarts); log: \(gateway.logTail())")
            // Three deaths in the pipeline (on the events channel one more in the fast path), then the start that
            // quarantines.
            #expect(restarts >= 3 && restarts <= 5, "restarts: \(restarts)")
            #expect(try database.count("SELECT count(*) FROM observations WHERE value_number BETWEEN 10 AND 39") == 30)
            #expect(try database.count("SELECT count(*) FROM dead_letters WHERE reason LIKE 'quarantined: normalizing this message stopped the gateway 3 times%'") == 1)

            // The device sends the same message again (as SCAIP units resend until answered): it is quarantined at
            // once by its content, and the gateway does not die again.
            try await gateway.waitUntilReady()
            let survivor = try #require(gateway.pid)
            try Self.publishAll([("devices/h-sensor/\(channel)", Array(poison.utf8)), Self.goodMessage(77.5)], publisher)
            #expect(try await eventually(timeout: 30) {
                try database.count("SELECT count(*) FROM observations WHERE value_number = 77.5") == 1
            }, "log: \(gateway.logTail())")
            #expect(gateway.pid == survivor, "the resent poison did not kill the gateway")
            #expect(try database.count("SELECT count(*) FROM dead_letters WHERE reason LIKE 'quarantined: the same message stopped the gateway before%'") >= 1)
        }
    }
}