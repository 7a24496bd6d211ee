import Foundation
import Postgres
import ServiceLifecycle
import Testing

extension IntegrationTests {
    /// The connection pool as a service: a graceful shutdown lets work in progress finish, then closes every
    /// connection and refuses more.
    @Suite struct PostgresPoolService {
        @Test("graceful shutdown waits for a query in progress, closes every connection, and refuses new work")
        func shutsDownCleanly() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let pool = PostgresPool(url: database.url, size: 2, logger: TestStack.logger)
            let group = ServiceGroup(services: [pool], logger: TestStack.logger)
            let running = Task { try await group.run() }
            func connections() throws -> Int {
                try TestDatabase(name: "cip", url: TestStack.databaseURL)
                    .count("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", [database.name])
            }
            // Both connections open.
            async let first: Int = pool.withConnection { try $0.query("SELECT 1").single().decode(column: 0) }
            async let second: Int = pool.withConnection { try $0.query("SELECT 2").single().decode(column: 0) }
            #expect(try await first + second == 3)
            #expect(try connections() == 2)

            let slow = Task { try await pool.withConnection { try $0.query("SELECT pg_sleep(0.5), 7").single().decode(column: 1, as: String.self) } }
            try await Task.sleep(for: .milliseconds(100))
            await group.triggerGracefulShutdown()
            #expect(try await slow.value == "7", "the query in progress finished")
            try await running.value
            #expect(pool.isShutDown)
            await #expect(throws: PostgresError.self) { try await pool.withConnection { _ in 1 } }
            #expect(try await eventually(timeout: 5) { try connections() == 0 })
        }
    }
}
