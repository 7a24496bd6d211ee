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

        @Test("a text is prepared on its second use, once, and answers every call with its own parameters")
        func preparedOnce() throws {
            let connection = try PostgresConnection(url: TestStack.databaseURL)
            defer { connection.close() }
            #expect(try Self.prepared(connection) == 0)  // the counting statement's first use: unprepared
            for value in 0..<20 {
                #expect(try connection.query("SELECT $1::integer * 2 AS doubled", [value]).single().decode("doubled", as: Int.self) == value * 2)
            }
            #expect(try Self.prepared(connection) == 2)  // the doubling and, on its second use, the counting
        }

        @Test("a table that changes shape under a prepared statement: outside a transaction the call is run afresh; inside one it fails once, then works")
        func tableChangesShape() throws {
            let connection = try PostgresConnection(url: TestStack.databaseURL)
            defer { connection.close() }
            let table = TestStack.uniqueName("shape")
            try connection.execute("CREATE TEMP TABLE \(table) (a integer)")
            try connection.execute("INSERT INTO \(table) VALUES (1)")
            let sql = "SELECT * FROM \(table) WHERE a = $1::integer"
            for _ in 0..<3 { #expect(try connection.query(sql, [1]).columns == ["a"]) }
            try connection.execute("ALTER TABLE \(table) ADD COLUMN b text DEFAULT 'x'")
            #expect(try connection.query(sql, [1]).single().decode("b", as: String.self) == "x")
            for _ in 0..<3 { _ = try connection.query(sql, [1]) }

            // Inside a transaction nothing can be retried: that call fails, the transaction rolls back, the next works.
            #expect(throws: PostgresError.self) {
                try connection.transaction { connection in
                    try connection.execute("ALTER TABLE \(table) ADD COLUMN c text DEFAULT 'y'")
                    _ = try connection.query(sql, [1])
                }
            }
            #expect(try connection.query(sql, [1]).columns == ["a", "b"])
            #expect(try Self.prepared(connection) <= 2, "the refused statement was deallocated")
        }

        @Test("a statement that cannot be prepared inside a transaction is an error; after the rollback the connection works")
        func failedPrepareInTransaction() throws {
            let connection = try PostgresConnection(url: TestStack.databaseURL)
            defer { connection.close() }
            for _ in 0..<2 {
                #expect(throws: PostgresError.self) {
                    try connection.transaction { connection in
                        try connection.query("SELEKT $1::integer", [1])
                    }
                }
            }
            #expect(throws: PostgresError.self) { try connection.query("SELECT no_such_column FROM pg_class WHERE oid = $1", [1]) }
            #expect(try connection.query("SELECT $1::integer AS one", [1]).single().decode("one", as: Int.self) == 1)
        }

        @Test("text built with values in it: used once, never prepared; used often, at most the bound stays on the server")
        func bounded() throws {
            let connection = try PostgresConnection(url: TestStack.databaseURL)
            defer { connection.close() }
            let count = PostgresConnection.maxPrepared + 50
            for value in 0..<count {
                #expect(try connection.query("SELECT \(value) + $1::integer AS n", [1]).single().decode("n", as: Int.self) == value + 1)
            }
            #expect(try Self.prepared(connection) == 0)
            for value in 0..<count {
                for _ in 0..<2 { #expect(try connection.query("SELECT \(value) * $1::integer AS n", [2]).single().decode("n", as: Int.self) == value * 2) }
            }
            // The counting statement is prepared on its second use and takes one place; what it displaced is
            // deallocated at the start of the next call.
            _ = try Self.prepared(connection)
            #expect(try Self.prepared(connection) == PostgresConnection.maxPrepared)
        }
    }
}
