import API
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Postgres
import Registry
import Storage
import Testing

extension IntegrationTests {
    @Suite(.serialized) struct Health {
        static func app(ready: Bool) -> some ApplicationProtocol {
            let pool = PostgresPool(url: TestStack.databaseURL, size: 1, logger: TestStack.logger)
            let dependencies = APIDependencies(
                catalogue: try! TestStack.catalogue(),
                telemetry: PostgresTelemetryRepository(pool: pool),
                devices: PostgresDeviceRepository(pool: pool),
                readiness: [
                    ReadinessCheck(name: "database") { nil },
                    ReadinessCheck(name: "broker") { ready ? nil : "not connected to the MQTT broker" },
                ],
                metrics: { Array("# TYPE cip_messages_received_total counter\ncip_messages_received_total 7\n".utf8) })
            return Application(router: buildRouter(dependencies))
        }

        @Test func healthReadinessAndMetrics() async throws {
            try await Self.app(ready: true).test(.router) { client in
                try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
                try await client.execute(uri: "/readyz", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body).contains(#""status":"ready""#))
                }
                try await client.execute(uri: "/metrics", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
                    #expect(String(buffer: response.body).contains("cip_messages_received_total 7"))
                }
            }
        }

        @Test func notReadyNamesTheReason() async throws {
            try await Self.app(ready: false).test(.router) { client in
                try await client.execute(uri: "/readyz", method: .get) { response in
                    #expect(response.status == .serviceUnavailable)
                    #expect(String(buffer: response.body).contains("not connected to the MQTT broker"))
                }
                try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            }
        }
    }

    @Suite(.serialized) struct Migrations {
        @Test func migratingTwiceAppliesNothingAndPartitionsExist() throws {
            let database = try TestDatabase.create()  // migrated once
            defer { database.drop() }
            let connection = try database.connect()
            let applied = try Migrator(migrations: try Migration.bundled(), logger: TestStack.logger).migrate(connection)
            #expect(applied.isEmpty)
            #expect(try database.count("SELECT count(*) FROM schema_migrations") == (try Migration.bundled()).count)
            // Day partitions from yesterday to a week ahead, plus the default one.
            let partitions = try database.count("""
                SELECT count(*) FROM pg_inherits WHERE inhparent = 'observations'::regclass
                """)
            #expect(partitions == 10)
            try Migrator.ensurePartitions(connection)
            #expect(try database.count("SELECT count(*) FROM pg_inherits WHERE inhparent = 'observations'::regclass") == 10)
        }
    }
}
