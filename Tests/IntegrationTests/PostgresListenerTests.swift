import Foundation
import Postgres
import ServiceLifecycle
import Testing

extension IntegrationTests {
    /// The one LISTEN connection of the process: each subscription is told to resynchronize after every
    /// (re)connect and gets its channel's payloads, each once.
    @Suite(.serialized) struct SharedListener {
        @Test("resynchronize on connect and after the database comes back; payloads per channel, deduplicated")
        func wakesItsSubscribers() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let listener = PostgresListener(url: database.url, logger: TestStack.logger)
            let devices = listener.subscribe("test_devices")
            let alarms = listener.subscribe("test_alarms")
            let group = ServiceGroup(services: [listener], logger: TestStack.logger)
            let running = Task { try await group.run() }

            #expect(await devices.next(timeout: .seconds(10)) == .resynchronize)
            #expect(await alarms.next(timeout: .seconds(10)) == .resynchronize)
            #expect(await devices.next(timeout: .milliseconds(300)) == nil, "nothing happened since")

            let connection = try database.connect()
            try connection.execute("NOTIFY test_devices, 'lock-1'; NOTIFY test_devices, 'lock-1'; NOTIFY test_devices, 'lock-2'; NOTIFY test_alarms, '7'")
            connection.close()
            var seen: [String] = []
            for _ in 0..<20 where seen.count < 2 {
                if case .notified(let payloads)? = await devices.next(timeout: .seconds(1)) { seen += payloads }
            }
            #expect(seen == ["lock-1", "lock-2"])
            #expect(await alarms.next(timeout: .seconds(5)) == .notified(["7"]))

            // The database goes away and comes back: every subscriber re-reads what it keeps.
            try TestStack.stack("db-stop")
            try await Task.sleep(for: .seconds(2))
            try TestStack.stack("db-start")
            var resynchronized = false
            for _ in 0..<30 where !resynchronized {
                resynchronized = await devices.next(timeout: .seconds(1)) == .resynchronize
            }
            #expect(resynchronized)

            await group.triggerGracefulShutdown()
            try await running.value
            #expect(devices.isFinished && alarms.isFinished)
        }
    }
}
