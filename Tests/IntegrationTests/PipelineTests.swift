import Foundation
import Ingest
import Logging
import MQTT
import Postgres
import ServiceLifecycle
import Storage
import Synchronization
import Testing
import Telemetry

extension IntegrationTests {
    /// The message path in-process against the real broker and database: what is stored, what is refused.
    @Suite(.serialized) struct Pipeline {
        /// Runs journal + pipeline + MQTT ingress for the duration of `body`.
        static func withGateway(
            database: TestDatabase, journalDirectory: String? = nil, catalogue: CatalogueNormalizer? = nil,
            observers: [any BatchObserver] = [],
            _ body: (Journal) async throws -> Void
        ) async throws {
            let directory = journalDirectory ?? NSTemporaryDirectory() + TestStack.uniqueName("journal")
            defer { if journalDirectory == nil { try? FileManager.default.removeItem(atPath: directory) } }
            let journal = try Journal(configuration: .init(directory: directory), logger: TestStack.logger)
            let pool = PostgresPool(url: database.url, size: 1, logger: TestStack.logger)
            var limits = IngestPipeline.Configuration()
            limits.normalizer.maxPayloadBytes = 4_096
            let pipeline = IngestPipeline(journal: journal, pool: pool, configuration: limits, logger: TestStack.logger,
                                          catalogue: catalogue, observers: observers)
            let ingress = try MQTTIngress(
                configuration: try TestStack.mqtt(TestStack.uniqueName("pipeline-test"), TestStack.gatewayAccount),
                journal: journal, logger: TestStack.logger)
            let notifications = PostgresListener(url: database.url, logger: TestStack.logger)
            let listener = DirectoryListener(listener: notifications, pool: pool, directory: pipeline.directory,
                                             logger: TestStack.logger)
            let group = ServiceGroup(services: [notifications, pipeline, listener, ingress], logger: TestStack.logger)
            let running = Task { try await group.run() }
            #expect(await eventually(timeout: 10) { ingress.isConnected })
            try await Task.sleep(for: .milliseconds(300))  // subscriptions settle
            do {
                try await body(journal)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await running.value
        }

        @Test("batch observers see each committed batch, without the rows of a message the database refused")
        func observersSeeCommittedBatches() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            try database.register(["obs-1", "obs-2"])
            let connection = try database.connect()
            try connection.execute("ALTER TABLE observations ADD CONSTRAINT refuse_13 CHECK (value_number IS DISTINCT FROM 13)")
            connection.close()
            let observer = RecordingObserver()
            try await Self.withGateway(database: database, observers: [observer]) { _ in
                let device = try makePublisher("observed")
                defer { device.stop() }
                for (index, value) in [11, 12, 13, 14].enumerated() {
                    try device.publish(topic: "devices/obs-\(index % 2 + 1)/telemetry",
                                       payload: Array(#"[{"bt":1760000000,"n":"counter","v":\#(value)}]"#.utf8))
                }
                #expect(device.waitForAcknowledgements(timeout: 10))
                #expect(try await eventually(timeout: 20) { observer.values.count == 3 })
            }
            #expect(observer.values.sorted() == [11, 12, 14])
            #expect(Set(observer.devices) == ["obs-1", "obs-2"])
            #expect(try database.count("SELECT count(*) FROM observations") == 3)
        }

        @Test("a cancelled pipeline returns: the batch it reads ahead stops waiting for the journal",
              .timeLimit(.minutes(1)))
        func cancellationEndsTheReadAhead() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            try database.register(["ahead-1"])
            let directory = NSTemporaryDirectory() + TestStack.uniqueName("journal")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let journal = try Journal(configuration: .init(directory: directory), logger: TestStack.logger)
            let pipeline = IngestPipeline(journal: journal, pool: PostgresPool(url: database.url, size: 1, logger: TestStack.logger),
                                          logger: TestStack.logger)
            journal.append(topic: "devices/ahead-1/telemetry", payload: Array(#"[{"bt":1760000000,"n":"counter","v":1}]"#.utf8),
                           receivedAtMicros: 1_760_000_000_000_000)
            let returned = Atomic(false)
            let running = Task {
                try await pipeline.run()
                returned.store(true, ordering: .releasing)
            }
            // Stored: the pipeline now reads ahead, waiting for a record that never comes.
            #expect(await eventually(timeout: 20) { pipeline.storedThrough == 1 })
            try await Task.sleep(for: .milliseconds(300))
            running.cancel()
            #expect(await eventually(timeout: 10) { returned.load(ordering: .acquiring) }, "run() returned after its cancellation")
            #expect(try database.count("SELECT count(*) FROM observations") == 1)
        }

        @Test("when the stream pauses, the latest values of its last batch are written and the checkpoint moves")
        func aPauseFlushesLatestValues() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            try database.register(["paused-1"])
            try await Self.withGateway(database: database) { journal in
                let device = try makePublisher("paused")
                defer { device.stop() }
                try device.publish(topic: "devices/paused-1/telemetry", payload: Array(#"[{"bt":1760000000,"n":"counter","v":7}]"#.utf8))
                #expect(device.waitForAcknowledgements(timeout: 10))
                // The flush interval is 1 s: well within 10 s, and with nothing more arriving.
                #expect(try await eventually(timeout: 10) {
                    try database.count("SELECT count(*) FROM latest_observations WHERE device_id = 'paused-1'") == 1
                })
                #expect(await eventually(timeout: 10) { journal.committedSequence == journal.lastSequence })
            }
        }

        @Test("valid SenML becomes observations and latest values; bad input becomes dead letters with reasons")
        func storesAndRejects() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            try database.register(["lock-1"], type: "digital-lock")
            try await Self.withGateway(database: database) { _ in
                let device = try makePublisher("device")
                defer { device.stop() }
                let messages: [(String, String)] = [
                    ("devices/lock-1/telemetry", #"[{"bt":1760000000,"n":"battery","u":"%","v":80},{"n":"lock_state","vs":"locked"}]"#),
                    ("devices/lock-1/telemetry", #"[{"bt":1760000100,"n":"battery","u":"%","v":79}]"#),
                    ("devices/lock-1/events", #"[{"bt":1760000050,"n":"tamper","vb":true}]"#),
                    ("devices/lock-1/status", "offline"),
                    // One bad record in a pack: the good ones are kept.
                    ("devices/lock-1/telemetry", #"[{"bt":1760000200,"n":"battery","v":78},{"n":"-bad","v":1}]"#),
                    ("devices/lock-1/telemetry", "not json"),
                    ("devices/lock-1/telemetry", #"[{"bver":99,"n":"x","v":1}]"#),
                    ("devices/lock-1/telemetry", #"[{"n":"x","v":1,"must_":1}]"#),
                    ("devices/lock-1/alarms", #"[{"n":"x","v":1}]"#),
                    ("devices/lock-1/telemetry", "[" + String(repeating: #"{"n":"x","v":1},"#, count: 400) + #"{"n":"x","v":1}]"#),
                ]
                for (topic, payload) in messages {
                    try device.publish(topic: topic, payload: Array(payload.utf8))
                }
                #expect(device.waitForAcknowledgements(timeout: 10))
                let settled = try await eventually(timeout: 20) {
                    try database.count("SELECT count(*) FROM raw_messages") == messages.count
                }
                #expect(settled)
            }
            #expect(try database.count("SELECT count(*) FROM observations WHERE device_id = 'lock-1'") == 6)
            #expect(try database.count("SELECT count(*) FROM latest_observations WHERE device_id = 'lock-1'") == 4)
            // The newest battery value wins in latest, whatever order records arrive in.
            #expect(try database.count("SELECT value_number::int FROM latest_observations WHERE quantity = 'battery'") == 78)
            #expect(try database.count("SELECT count(*) FROM latest_observations WHERE quantity = 'status' AND value_string = 'offline'") == 1)

            let reasons = try database.connect().query("SELECT reason FROM dead_letters ORDER BY id").all.map { try $0.decode("reason", as: String.self) }
            #expect(reasons.count == 6)
            #expect(reasons.contains { $0.contains("-bad") })
            #expect(reasons.contains { $0.contains("invalid SenML") && $0.contains("JSON") })
            #expect(reasons.contains { $0.contains("version 99") })
            #expect(reasons.contains { $0.contains("must_") })
            #expect(reasons.contains { $0.contains("unknown channel \"alarms\"") })
            #expect(reasons.contains { $0.contains("limit is 4096") })
            #expect(try database.count("SELECT count(*) FROM raw_messages WHERE outcome = 'partial'") == 1)
            #expect(try database.count("SELECT count(*) FROM dead_letters WHERE record_index = 1") == 1)
        }

        @Test("replaying the whole journal into the same database stores nothing twice")
        func replayIsIdempotent() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let directory = NSTemporaryDirectory() + TestStack.uniqueName("journal")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let registered = try database.register((0..<7).map { "replay-\($0)" })
            try await Self.withGateway(database: database, journalDirectory: directory) { _ in
                let device = try makePublisher("replay")
                defer { device.stop() }
                for index in 0..<200 {
                    // Half with absolute times, half relative to arrival.
                    let payload = index % 2 == 0
                        ? #"[{"bt":\#(1_760_000_000 + index),"n":"v","v":\#(index)}]"#
                        : #"[{"n":"v","v":\#(index)}]"#
                    try device.publish(topic: "devices/replay-\(index % 7)/telemetry", payload: Array(payload.utf8))
                }
                try device.publish(topic: "devices/replay-0/telemetry", payload: Array("bad".utf8))
                #expect(device.waitForAcknowledgements(timeout: 10))
                #expect(try await eventually(timeout: 20) { try database.count("SELECT count(*) FROM raw_messages") == 201 })
            }
            // Forget the checkpoint but keep the segments: everything is read and written again.
            try FileManager.default.removeItem(atPath: directory + "/checkpoint")
            let journal = try Journal(configuration: .init(directory: directory), logger: TestStack.logger)
            let reader = journal.reader(after: 0)
            let records = reader.next(maxRecords: 10_000)
            #expect(records.count == 201)
            let normalizer = Normalizer()
            let profiles = Dictionary(uniqueKeysWithValues: registered.map { ($0, DeviceProfile(type: "sensor", model: nil, state: "active")) })
            var batch = IngestBatch()
            for record in records {
                let output = normalizer.normalize(record, devices: profiles)
                batch.observations += output.observations
                batch.deadLetters += output.deadLetters
                batch.rawMessages.append(output.rawMessage)
            }
            let inserted = try IngestStore().write(batch, latest: batch.observations, on: try database.connect())
            #expect(inserted == 0)
            #expect(try database.count("SELECT count(*) FROM observations") == 200)
            #expect(try database.count("SELECT count(*) FROM raw_messages") == 201)
            #expect(try database.count("SELECT count(*) FROM dead_letters") == 1)
        }

        @Test("messages from unregistered ids are quarantined and counted; a registration takes effect at once")
        func quarantinesUnknownDevices() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            try await Self.withGateway(database: database) { _ in
                let device = try makePublisher("stranger")
                defer { device.stop() }
                for index in 0..<5 {
                    try device.publish(topic: "devices/stranger-1/\(index == 4 ? "events" : "telemetry")",
                                       payload: Array(#"[{"bt":\#(1_760_000_000 + index),"n":"v","v":1}]"#.utf8))
                }
                #expect(device.waitForAcknowledgements(timeout: 10))
                #expect(try await eventually(timeout: 20) {
                    try database.count("SELECT message_count FROM unknown_devices WHERE device_id = 'stranger-1'") == 5
                })
                #expect(try database.count("SELECT count(*) FROM unknown_devices WHERE last_topic = 'devices/stranger-1/events'") == 1)
                #expect(try database.count("SELECT count(*) FROM raw_messages WHERE outcome = 'quarantined'") == 5)
                #expect(try database.count("SELECT count(*) FROM observations") == 0)

                // Registered now: its very next message is stored (no waiting for a directory reload).
                try database.register(["stranger-1"])
                try device.publish(topic: "devices/stranger-1/telemetry", payload: Array(#"[{"bt":1760000100,"n":"v","v":2}]"#.utf8))
                #expect(device.waitForAcknowledgements(timeout: 10))
                #expect(try await eventually(timeout: 20) { try database.count("SELECT count(*) FROM observations") == 1 })
                #expect(try database.count("SELECT message_count FROM unknown_devices WHERE device_id = 'stranger-1'") == 5)

                // A change made elsewhere (another instance, an administrator) reaches the in-memory directory by
                // NOTIFY: suspended, its next message is refused.
                try database.connect().execute("UPDATE devices SET lifecycle_state = 'suspended' WHERE device_id = 'stranger-1'")
                try await Task.sleep(for: .seconds(1))
                try device.publish(topic: "devices/stranger-1/telemetry", payload: Array(#"[{"bt":1760000200,"n":"v","v":3}]"#.utf8))
                #expect(device.waitForAcknowledgements(timeout: 10))
                #expect(try await eventually(timeout: 20) {
                    try database.count("SELECT count(*) FROM dead_letters WHERE device_id = 'stranger-1' AND reason LIKE '%is suspended%'") == 1
                })
                #expect(try database.count("SELECT count(*) FROM observations") == 1)
            }
        }
    }
}

/// Keeps what the pipeline told it.
final class RecordingObserver: BatchObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var batches: [CommittedBatch] = []
    func committed(_ batch: CommittedBatch) { lock.lock(); batches.append(batch); lock.unlock() }
    var values: [Double] {
        lock.lock(); defer { lock.unlock() }
        return batches.flatMap(\.observations).compactMap { if case .number(let value) = $0.value { value } else { nil } }
    }
    var devices: [String] {
        lock.lock(); defer { lock.unlock() }
        return batches.flatMap(\.rawMessages).filter { $0.outcome == .accepted }.compactMap(\.deviceID)
    }
}
