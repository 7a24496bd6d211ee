import Foundation
@testable import Postgres
import Testing

extension IntegrationTests {
    /// Statements with parameters are prepared once per connection (issue 16): the server parses and plans each text
    /// once. What could go wrong with that is tried here: a table that changes shape under a prepared statement, a
    /// statement that fails to prepare inside a transaction, and text built with values in it, which must not grow the
    /// server's memory without end.
    @Suite struct PostgresPreparedStatements {
        static func prepared(_ connection: PostgresConnection) throws -> Int {
            try connection.query("SELECT count(*) AS n FROM pg_prepared_statements WHERE name LIKE $1", ["cip\\_%"]).single().decode("n")
        }

        @Test("the same text is prepared once and answers every call with its own parameters")
        func preparedOnce() throws {
            let connection = try PostgresConnection(url: TestStack.databaseURL)
            defer { connection.close() }
            let before = try Self.prepared(connection)  // the counting statement itself
            for value in 0..<20 {
                #expect(try connection.query("SELECT $1::integer * 2 AS doubled", [value]).single().decode("doubled", as: Int.self) == value * 2)
            }
            #expect(try Self.prepared(connection) == before + 1)
        }

        @Test("a table that changes shape under a prepared statement: that call fails, the next one prepares afresh")
        func tableChangesShape() throws {
            let connection = try PostgresConnection(url: TestStack.databaseURL)
            defer { connection.close() }
            let table = TestStack.uniqueName("shape")
            try connection.execute("CREATE TEMP TABLE \(table) (a integer)")
            try connection.execute("INSERT INTO \(table) VALUES (1)")
            let sql = "SELECT * FROM \(table) WHERE a = $1::integer"
            #expect(try connection.query(sql, [1]).columns == ["a"])
            try connection.execute("ALTER TABLE \(table) ADD COLUMN b text DEFAULT 'x'")
            var failure: PostgresError?
            do { _ = try connection.query(sql, [1]) } catch { failure = error }
            // PostgreSQL may replan transparently or refuse once; either way the statement works again after.
            if let failure { #expect(failure.sqlState == "0A000", "\(failure)") }
            let row = try connection.query(sql, [1]).single()
            #expect(try row.decode("b", as: String.self) == "x")
        }

        @Test("a statement that cannot be prepared inside a transaction is an error; after the rollback the connection works")
        func failedPrepareInTransaction() throws {
            let connection = try PostgresConnection(url: TestStack.databaseURL)
            defer { connection.close() }
            #expect(throws: PostgresError.self) {
                try connection.transaction { connection in
                    try connection.query("SELEKT $1::integer", [1])
                }
            }
            #expect(throws: PostgresError.self) { try connection.query("SELECT no_such_column FROM pg_class WHERE oid = $1", [1]) }
            #expect(try connection.query("SELECT $1::integer AS one", [1]).single().decode("one", as: Int.self) == 1)
        }

        @Test("text built with values in it: past the bound it still runs, unprepared, and the server keeps no more")
        func bounded() throws {
            let connection = try PostgresConnection(url: TestStack.databaseURL)
            defer { connection.close() }
            let count = PostgresConnection.maxPrepared + 50
            for value in 0..<count {
                #expect(try connection.query("SELECT \(value) + $1::integer AS n", [1]).single().decode("n", as: Int.self) == value + 1)
            }
            #expect(try Self.prepared(connection) == PostgresConnection.maxPrepared)
        }
    }
}
