import Foundation
@testable import Postgres
import Testing

extension IntegrationTests {
    /// The audit trail's hash chain (issue 14) on the real database: built by the database whatever number of
    /// writers, checked by `cip-gateway audit verify`, which names the first broken link after a superuser's edit.
    @Suite(.serialized) struct AuditChainOnTheStack {
        static func verify(_ database: TestDatabase) throws -> (status: Int32, output: String) {
            let log = NSTemporaryDirectory() + TestStack.uniqueName("verify") + ".log"
            defer { try? FileManager.default.removeItem(atPath: log) }
            let child = try ChildProcess([GatewayProcess.binary, "audit", "verify", "--database-url", database.url],
                                         environment: TestStack.environment, logPath: log)
            let status = child.wait()
            return (status, FileManager.default.contents(atPath: log).map { String(decoding: $0, as: UTF8.self) } ?? "")
        }

        static func insert(_ connection: PostgresConnection, client: String, count: Int, daysAgo: Int = 0) throws {
            _ = try connection.query("""
                INSERT INTO audit_log (at, client, roles, method, endpoint, path, subjects, records, class, status)
                SELECT now() - make_interval(days => $3::integer), $1, 'auditor', 'GET', '/integration/v1/audit', '/integration/v1/audit',
                       ARRAY['cr-' || i, 'lock-' || i], i, 3, 200
                FROM generate_series(1, $2::integer) AS i
                """, [client, count, daysAgo])
        }

        @Test("entries written by four connections at once form one chain; verify says intact")
        func concurrentWritersFormOneChain() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        let connection = try PostgresConnection(url: database.url)  // the gateway's role
                        defer { connection.close() }
                        for _ in 0..<25 { try Self.insert(connection, client: "writer-\(writer)", count: 4) }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try database.count("SELECT count(*) FROM audit_log") == 400)
            let result = try Self.verify(database)
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("audit chain intact: 400 entries"), "\(result.output)")
        }

        @Test("the database's canonical bytes match the verifier's for odd entries: a NULL subject, empty and non-ASCII subjects, separators in fields, many subjects")
        func oddEntriesVerify() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let gateway = try PostgresConnection(url: database.url)
            defer { gateway.close() }
            _ = try gateway.query("""
                INSERT INTO audit_log (at, client, roles, method, endpoint, path, subjects, records, class, status)
                VALUES (now(), 'a', '', 'GET', '/e', '/p', ARRAY['x', NULL, 'ä€😀', ''], 1, 1, 200),
                       (now(), 'b:c', 'r', 'GET', '/e', '/p:1', '{}'::text[], 0, 2, 404),
                       (now(), 'c', 'r:3', 'GET', '/e', 'ä/p', ARRAY[NULL]::text[], 0, 3, 503),
                       (now(), 'd', 'r', 'GET', '/e', '/p', (SELECT array_agg('s' || i) FROM generate_series(1, 50) i), 50, 3, 200),
                       (now(), 'e', 'r', 'GET', '/e', '/p', (SELECT array_agg('device-' || i) FROM generate_series(1, 20000) i), 20000, 3, 200)
                """)
            try Self.insert(gateway, client: "reader", count: 5)
            let result = try Self.verify(database)
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("audit chain intact: 10 entries"), "\(result.output)")
        }

        @Test("a superuser's edit, a removed entry and a removed newest entry are each found and named")
        func tamperingIsFound() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let gateway = try PostgresConnection(url: database.url)
            defer { gateway.close() }
            try Self.insert(gateway, client: "reader", count: 10)
            let ids = try database.strings("SELECT id::text FROM audit_log ORDER BY id").map { Int64($0)! }
            #expect(try Self.verify(database).status == 0)

            // The owner (as a superuser would) switches the guard off and changes who read.
            let owner = try database.connect()
            defer { owner.close() }
            try owner.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
            _ = try owner.query("UPDATE audit_log SET client = 'someone-else' WHERE id = $1", [ids[4]])
            var result = try Self.verify(database)
            #expect(result.status == 1)
            #expect(result.output.contains("audit chain broken at entry \(ids[4]): its content does not match its hash"), "\(result.output)")

            // Put back, then remove an entry in the middle: the next one no longer follows.
            _ = try owner.query("UPDATE audit_log SET client = 'reader' WHERE id = $1", [ids[4]])
            #expect(try Self.verify(database).status == 0)
            _ = try owner.query("DELETE FROM audit_log WHERE id = $1", [ids[6]])
            result = try Self.verify(database)
            #expect(result.output.contains("audit chain broken at entry \(ids[7]): it does not follow"), "\(result.output)")

            // A fresh trail whose newest entry is removed: the head gives it away.
            try owner.execute("TRUNCATE audit_log")
            try owner.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")
            _ = try owner.query("UPDATE audit_chain SET head_hash = anchor_hash, head_id = 0")
            try Self.insert(gateway, client: "reader", count: 3)
            #expect(try Self.verify(database).status == 0)
            try owner.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
            try owner.execute("DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)")
            result = try Self.verify(database)
            #expect(result.status == 1)
            #expect(result.output.contains("audit chain broken at its head"), "\(result.output)")
        }

        @Test("the gateway's role cannot move the chain's head or fork it through the head a transaction keeps")
        func aForgedHeadIsIgnored() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let gateway = try PostgresConnection(url: database.url)
            defer { gateway.close() }
            try Self.insert(gateway, client: "reader", count: 3)
            try gateway.execute("BEGIN")
            _ = try gateway.query("SELECT set_config('cip.audit_head', repeat('ab', 32) || ':999999', true)")
            _ = try gateway.query("INSERT INTO audit_log (at, client, roles, method, endpoint, path, records, class, status) SELECT now(), 'x', 'r', 'GET', '/x', '/x', 1, 3, 200 WHERE false")
            try Self.insert(gateway, client: "after-forgery", count: 2)
            try gateway.execute("COMMIT")
            let result = try Self.verify(database)
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("intact: 5 entries"), "\(result.output)")
            // A line dated where no request can be is refused.
            #expect(throws: (any Error).self) {
                try gateway.execute("INSERT INTO audit_log (at, client, roles, method, endpoint, path, records, class, status) VALUES ('294276-12-31', 'x', 'r', 'GET', '/x', '/x', 1, 3, 200)")
            }
        }

        @Test("a head recorded outside the database still verifies after retention removed it; a rewritten one does not")
        func knownHeadsSurviveRetention() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let gateway = try PostgresConnection(url: database.url)
            defer { gateway.close() }
            try Self.insert(gateway, client: "old", count: 4, daysAgo: 2_000)
            let head = try database.strings("SELECT head_id || ':' || encode(head_hash, 'hex') FROM audit_chain")[0]
            try Self.insert(gateway, client: "recent", count: 2)
            _ = try gateway.query("SELECT cip_retention_purge_audit(1826, 100)")
            func verify(_ known: String) throws -> (Int32, String) {
                let log = NSTemporaryDirectory() + TestStack.uniqueName("verify") + ".log"
                defer { try? FileManager.default.removeItem(atPath: log) }
                let child = try ChildProcess([GatewayProcess.binary, "audit", "verify", "--database-url", database.url, "--known", known],
                                             environment: TestStack.environment, logPath: log)
                let status = child.wait()
                return (status, FileManager.default.contents(atPath: log).map { String(decoding: $0, as: UTF8.self) } ?? "")
            }
            let kept = try verify(head)
            #expect(kept.0 == 0, "\(kept.1)")
            let forged = try verify(head.split(separator: ":")[0] + ":" + String(repeating: "0", count: 64))
            #expect(forged.0 == 1, "\(forged.1)")
        }

        @Test("every audited read answered before a SIGKILL is in the trail: the line is stored before the data is sent")
        func aKillRightAfterReadsLosesNoLine() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            try database.register(["audited-1"])
            let gateway = GatewayProcess(databaseURL: database.url)
            defer { gateway.cleanUp() }
            try gateway.start()
            try await gateway.waitUntilReady()
            let before = try database.count("SELECT count(*) FROM audit_log")
            // Class-3 reads (the device with its care-recipient reference, the audit trail itself), then SIGKILL at once.
            for index in 0..<15 {
                let path = index % 2 == 0 ? "/iot/v1/devices/audited-1" : "/integration/v1/audit?limit=1"
                #expect(try gateway.httpGet(path).status == 200)
            }
            gateway.kill()
            #expect(try database.count("SELECT count(*) FROM audit_log") - before == 15)
            #expect(try Self.verify(database).status == 0)
        }

        @Test("retention removes the oldest entries and moves the anchor: the rest still verifies")
        func retentionKeepsTheChainVerifiable() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let gateway = try PostgresConnection(url: database.url)
            defer { gateway.close() }
            try Self.insert(gateway, client: "old", count: 5, daysAgo: 2_000)
            try Self.insert(gateway, client: "recent", count: 5)
            let removed: Int64 = try gateway.query("SELECT cip_retention_purge_audit(1826, 3) AS n").single().decode("n")
            #expect(removed == 3, "at most the batch")
            #expect(try Self.verify(database).output.contains("intact: 7 entries"))
            _ = try gateway.query("SELECT cip_retention_purge_audit(1826, 100)")
            let result = try Self.verify(database)
            #expect(result.output.contains("intact: 5 entries"), "\(result.output)")
            #expect(try database.strings("SELECT DISTINCT client FROM audit_log") == ["recent"])
        }
    }
}
