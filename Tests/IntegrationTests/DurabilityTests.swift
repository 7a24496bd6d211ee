import Foundation
import MQTT
import Testing

extension IntegrationTests {
    /// Nothing accepted is lost: not when the gateway is killed, not when PostgreSQL goes away.
    @Suite(.serialized) struct Durability {
        /// One SenML record with an absolute time, unique per index.
        static func payload(_ index: Int) -> [UInt8] {
            Array("[{\"bt\":\(1_760_000_000 + index),\"n\":\"counter\",\"v\":\(index)}]".utf8)
        }

        /// A real gateway process on a fresh database, and a device publishing `total` QoS 1 messages to it on a
        /// thread of its own (`pace` runs after each message). `body` disturbs the gateway while the stream
        /// flows; afterwards every message must be stored exactly once.
        static func streamThroughGateway(
            total: Int, devices: Int, window: Int, pace: @escaping @Sendable (Int) -> Void,
            _ body: (GatewayProcess, PublishProgress, TestDatabase) async throws -> Void
        ) async throws -> TestDatabase {
            let database = try TestDatabase.create()
            try database.register((0..<devices).map { "stream-\($0)" })
            let gateway = GatewayProcess(databaseURL: database.url)
            defer { gateway.cleanUp() }
            try gateway.start()
            try await gateway.waitUntilReady()

            let publisher = try makePublisher("durability-publisher")
            defer { publisher.stop() }
            let published = PublishProgress()
            let publishing = Thread {
                for index in 0..<total {
                    try? publisher.publish(topic: "devices/stream-\(index % devices)/telemetry", payload: payload(index),
                                           qos: 1, window: window)
                    published.set(index + 1)
                    pace(index)
                }
            }
            publishing.start()
            try await body(gateway, published, database)

            #expect(await eventually(timeout: 180) { published.value == total })
            #expect(publisher.waitForAcknowledgements(timeout: 60))
            let complete = try await eventually(timeout: 180) {
                try database.count("SELECT count(*) FROM observations") >= total
            }
            #expect(complete, "gateway log: \(gateway.logTail())")
            #expect(try database.count("SELECT count(*) FROM observations") == total)
            #expect(try database.count("SELECT count(DISTINCT value_number) FROM observations") == total)
            return database
        }

        @Test("20,000 QoS 1 messages through two SIGKILLs of the gateway are stored exactly once each")
        func survivesKills() async throws {
            let total = 20_000
            // About 8 s of stream.
            let database = try await Self.streamThroughGateway(total: total, devices: 50, window: 100, pace: { index in
                if index % 100 == 0 { Thread.sleep(forTimeInterval: 0.04) }
            }) { gateway, published, database in
                for killAt in [total / 4, total * 3 / 5] {
                    #expect(await eventually(timeout: 120) { published.value >= killAt })
                    gateway.kill()
                    // The kill lands in the middle of the stream, with messages still to come and to store.
                    #expect(published.value < total)
                    #expect(try database.count("SELECT count(*) FROM observations") < total)
                    try await Task.sleep(for: .milliseconds(500))  // the broker queues for the absent gateway
                    try gateway.start()
                    try await gateway.waitUntilReady()
                }
            }
            defer { database.drop() }
            #expect(try database.count("SELECT count(*) FROM dead_letters") == 0)
            // Latest values were rebuilt across the kills: each device's is its newest observation.
            let latestIsNewest = """
                SELECT count(*) FROM latest_observations l
                WHERE l.value_number = (SELECT max(o.value_number) FROM observations o WHERE o.device_id = l.device_id)
                """
            #expect(try await eventually(timeout: 10) { try database.count(latestIsNewest) == 50 })
        }

        @Test("a 10-second PostgreSQL outage in the middle of a stream loses nothing")
        func survivesDatabaseOutage() async throws {
            let total = 3_000
            // About 20 s of stream.
            let database = try await Self.streamThroughGateway(total: total, devices: 20, window: 50, pace: { _ in
                Thread.sleep(forTimeInterval: 0.006)
            }) { gateway, published, _ in
                #expect(await eventually(timeout: 60) { published.value >= total / 4 })
                try TestStack.stack("db-stop")
                let stoppedAt = published.value
                try await Task.sleep(for: .seconds(10))
                // The gateway kept accepting while the database was gone, and said it was not ready.
                #expect(published.value > stoppedAt + 500)
                #expect((try? gateway.httpStatus("/readyz")) == 503)
                try TestStack.stack("db-start")
            }
            database.drop()
        }

        /// What the gateway's guarantee rests on (libmosquitto 2.0.11 writes a QoS 1 PUBACK after the message callback
        /// returns only with its threaded loop, which `MQTTClient` runs): a gateway killed while it journals a message
        /// has not acknowledged it, and the broker gives it again to the restarted gateway's session.
        @Test("a gateway killed before a message is journaled has not acknowledged it: the broker delivers it again, stored once")
        func pubackFollowsTheJournal() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            _ = try database.register(["puback-1"])
            let gateway = GatewayProcess(databaseURL: database.url)
            defer { gateway.cleanUp() }
            gateway.extraEnvironment["CIP_TEST_JOURNAL_APPEND_DELAY_MS"] = "5000"
            try gateway.start()
            try await gateway.waitUntilReady()
            let device = try makePublisher("puback-device")
            defer { device.stop() }
            try device.publish(topic: "devices/puback-1/telemetry", payload: Array(#"[{"n":"counter","v":4242}]"#.utf8), qos: 1)
            #expect(device.waitForAcknowledgements(timeout: 5), "the broker has the message")
            // The gateway's callback is inside its (delayed) journal append: nothing stored, no PUBACK sent.
            try await Task.sleep(for: .milliseconds(1_500))
            #expect(try database.count("SELECT count(*) FROM observations") == 0)
            gateway.kill()
            gateway.extraEnvironment["CIP_TEST_JOURNAL_APPEND_DELAY_MS"] = nil
            try gateway.start()
            try await gateway.waitUntilReady()
            let stored = await eventually(timeout: 30) { (try? database.count("SELECT count(*) FROM observations WHERE value_number = 4242")) == 1 }
            #expect(stored, "the message came again: \(gateway.logTail())")
            try await Task.sleep(for: .seconds(1))
            #expect(try database.count("SELECT count(*) FROM observations") == 1, "once")
        }
    }
}

final class PublishProgress: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func set(_ value: Int) { lock.lock(); count = value; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}
