import Access
import Alarms
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
    /// The alarm stream on a real database with real clients: each alarm it sends is audited like any other
    /// sensitive read, and an open stream ends within seconds when its token is revoked or rotated.
    @Suite(.serialized) struct AlarmStreamAccess {
        @Test("each alarm sent on the stream is audited; revoking or rotating the token cuts an open stream")
        func auditedAndCut() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            try Scope.seed(database)
            let pool = PostgresPool(url: database.url, size: 4, logger: TestStack.logger)
            let store = ClientStore(pool: pool)
            let revoked = try await store.create(name: "revoked-op", roles: [.alarmOperator], tenants: ["elderly-care"], clearance: 3)
            let rotated = try await store.create(name: "rotated-op", roles: [.alarmOperator], tenants: nil, clearance: 2)
            let feed = AlarmFeed(pool: PostgresPool(url: database.url, size: 1, logger: TestStack.logger), listener: nil,
                                 logger: TestStack.logger)
            let feedTask = Task { try await feed.run() }
            defer { feedTask.cancel() }
            #expect(await eventually(timeout: 10) { feed.head != nil })
            let trail = AuditTrail(pool: pool, logger: TestStack.logger)
            let router = buildRouter(APIDependencies(
                catalogue: try TestStack.catalogue(), telemetry: PostgresTelemetryRepository(pool: pool),
                devices: PostgresDeviceRepository(pool: pool),
                authenticator: CachingClientAuthenticator(store: store, ttl: .seconds(1)), auditTrail: trail,
                alarms: PostgresAlarmRepository(pool: pool), alarmFeed: feed))
            try await Application(router: router).test(.router) { client in
                func open(_ token: String) -> Task<(Int, String), any Error> {
                    Task {
                        try await client.execute(uri: "/integration/v1/alarms/stream", method: .get,
                                                 headers: [.authorization: "Bearer \(token)"]) {
                            (Int($0.status.code), String(buffer: $0.body))
                        }
                    }
                }
                let first = open(revoked)
                let second = open(rotated)
                #expect(await eventually(timeout: 10) { feed.subscriberCount == 2 })
                // Two alarms: care-1's fall (class 3, elderly care) and a school's class-2 offline alarm.
                let connection = try database.connect()
                defer { connection.close() }
                try connection.execute("""
                    INSERT INTO alarms (device_id, type, kind, priority, tenant, raised_at, last_triggered_at, ack_deadline, confidentiality, source_event_id) VALUES
                        ('care-1', 'fall', 'care', 1, 'elderly-care', now(), now(), now() + interval '1 hour', 3, 11),
                        ('school-1', 'device_offline', 'technical', 3, 'schools', now(), now(), now() + interval '1 hour', 2, 12);
                    INSERT INTO alarm_changes (alarm_id, change, actor, details)
                        SELECT id, 'opened', 'device', '{}' FROM alarms WHERE source_event_id IN (11, 12) ORDER BY id;
                    """)
                // Delivered and audited: revoked-op (tenant elderly care, clearance 3) gets the fall only;
                // rotated-op (every tenant, clearance 2) the offline alarm only.
                func delivered(_ name: String, _ device: String) throws -> Bool {
                    try database.count("""
                        SELECT count(*) FROM audit_log WHERE client = $1 AND endpoint = '/integration/v1/alarms/stream'
                          AND records = 1 AND subjects = ARRAY[$2::text]
                        """, [name, device]) == 1
                }
                var audited = false
                for _ in 0..<100 where !audited {
                    await trail.flush()
                    audited = try delivered("revoked-op", "care-1") && delivered("rotated-op", "school-1")
                    if !audited { try await Task.sleep(for: .milliseconds(100)) }
                }
                #expect(audited, "each alarm sent must leave an audit line")
                #expect(try !delivered("revoked-op", "school-1") && !delivered("rotated-op", "care-1"))

                // Revoke one token, rotate the other: both streams end within seconds.
                let cutAt = ContinuousClock.now
                try await store.revoke(name: "revoked-op")
                _ = try await store.rotate(name: "rotated-op")
                for stream in [first, second] {
                    let ended = try await withThrowingTaskGroup(of: (Int, String)?.self) { group in
                        // Cancelling the wait cancels the request too, so that a stream left open fails, not hangs.
                        group.addTask { try await withTaskCancellationHandler { try await stream.value } onCancel: { stream.cancel() } }
                        group.addTask { try await Task.sleep(for: .seconds(10)); return nil }
                        defer { group.cancelAll() }
                        return try await group.next() ?? nil
                    }
                    #expect(ended?.0 == 200 && ended?.1.contains("event: alarm") == true, "\(String(describing: ended))")
                }
                #expect(ContinuousClock.now - cutAt < .seconds(8))
                #expect(feed.subscriberCount == 0)
                // And the old token does not open a new one.
                let again = try await client.execute(uri: "/integration/v1/alarms/stream", method: .get,
                                                     headers: [.authorization: "Bearer \(revoked)"]) { Int($0.status.code) }
                #expect(again == 401)
            }
        }
    }
}
