import Foundation
import Logging
@testable import Postgres
import Storage
import Testing

extension IntegrationTests {
    /// Least privilege in the database (issue 14): the gateway's login may do only what the rules of migration 0015
    /// give its role, and a table without a rule cannot be added.
    @Suite(.serialized) struct LeastPrivilege {
        @Test("the gateway's role cannot UPDATE, DELETE, TRUNCATE or DROP the audit trail, the device history or the alarm timeline")
        func appendOnlyRecordsAreOutOfReach() throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            try database.register(["lp-1"])
            let owner = try database.connect()
            defer { owner.close() }
            try owner.execute("""
                INSERT INTO device_history (device_id, to_state, action, actor) VALUES ('lp-1', 'active', 'test', 'test');
                INSERT INTO audit_log (at, client, roles, method, endpoint, path, records, class, status)
                VALUES (now(), 'c', 'auditor', 'GET', '/x', '/x', 1, 3, 200);
                INSERT INTO alarms (device_id, type, kind, priority, raised_at, last_triggered_at, ack_deadline, confidentiality, source_event_id)
                VALUES ('lp-1', 'sos', 'care', 1, now(), now(), now(), 3, 1);
                INSERT INTO alarm_changes (alarm_id, change, actor) SELECT id, 'opened', 'gateway' FROM alarms;
                """)
            let gateway = try PostgresConnection(url: database.url)
            defer { gateway.close() }
            #expect(try gateway.query("SELECT current_user AS u").single().decode("u", as: String.self) != "cip_owner")
            for table in ["audit_log", "device_history", "alarm_changes", "alarms"] {
                // Reading and adding is what the gateway does.
                #expect(try gateway.query("SELECT count(*) AS n FROM \(table)").single().decode("n", as: Int.self) >= 1)
                for statement in ["UPDATE \(table) SET id = id", "DELETE FROM \(table)", "TRUNCATE \(table)", "DROP TABLE \(table) CASCADE",
                                  "ALTER TABLE \(table) DISABLE TRIGGER ALL", "ALTER TABLE \(table) OWNER TO cip"] {
                    if table == "alarms" && statement.hasPrefix("UPDATE") { continue }  // an alarm's state changes
                    do {
                        try gateway.execute(statement)
                        Issue.record("the gateway's role could: \(statement)")
                    } catch {
                        #expect("\(error)".contains("42501") || "\(error)".contains("permission denied") || "\(error)".contains("must be owner"),
                                "\(statement): \(error)")
                    }
                }
            }
            #expect(try gateway.query("SELECT count(*) AS n FROM audit_log").single().decode("n", as: Int.self) == 1)
            // No DDL of its own: no table, no function, no grant to itself.
            for statement in ["CREATE TABLE sneaky (x int)", "CREATE FUNCTION sneaky() RETURNS int LANGUAGE sql AS 'SELECT 1'",
                              "SELECT cip_apply_gateway_grants()"] {
                #expect(throws: (any Error).self, "\(statement)") { try gateway.execute(statement) }
            }
            // A grant by a non-owner grants nothing (PostgreSQL only warns): the trail is still out of reach.
            try? gateway.execute("GRANT DELETE, TRUNCATE ON audit_log TO cip")
            #expect(throws: (any Error).self) { try gateway.execute("DELETE FROM audit_log") }
            // What the gateway does need: add to the append-only tables, make day partitions through the function.
            try gateway.execute("""
                INSERT INTO audit_log (at, client, roles, method, endpoint, path, records, class, status)
                VALUES (now(), 'c2', 'auditor', 'GET', '/x', '/x', 1, 3, 200)
                """)
            try Migrator.ensurePartitions(gateway, daysAhead: 9)
            #expect(try gateway.query("SELECT count(*) AS n FROM observations").single().decode("n", as: Int.self) == 0)
        }

        @Test("a migration that adds a table without an access rule for the gateway's role fails, and leaves nothing behind")
        func aTableWithoutARuleIsRefused() throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let owner = try database.connect()
            defer { owner.close() }
            let careless = Migration(version: 9_999, name: "careless", sql: "CREATE TABLE careless_table (id bigint PRIMARY KEY);")
            let migrator = Migrator(migrations: try Migration.bundled() + [careless], logger: TestStack.logger)
            do {
                try migrator.migrate(owner)
                Issue.record("a table without a rule was added")
            } catch {
                #expect("\(error)".contains("no access rule for the gateway role on: careless_table"), "\(error)")
            }
            #expect(try database.count("SELECT count(*) FROM pg_class WHERE relname = 'careless_table'") == 0)
            #expect(try database.count("SELECT count(*) FROM schema_migrations WHERE version = 9999") == 0)
        }
    }
}
