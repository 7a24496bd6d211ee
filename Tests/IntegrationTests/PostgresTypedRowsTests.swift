import Foundation
@testable import Postgres
import Testing

extension IntegrationTests {
    /// Typed parameters and rows on the real server: values round-trip exactly, and a reader that disagrees with
    /// its statement (a misspelled column, NULL where a value is required, text of another type) gets an error
    /// instead of a silent 0 or "".
    @Suite struct PostgresTypedRows {
        @Test("parameters bind and rows decode every supported type, exactly, both ways")
        func roundTrips() throws {
            let connection = try PostgresConnection(url: TestStack.databaseURL)
            defer { connection.close() }
            let bytes: [UInt8] = [0, 1, 0x7f, 0x80, 0xff, 0x5c, 0x22]
            let row = try connection.query("""
                SELECT $1::bigint AS big, $2::integer AS int, $3::float8 AS real, $4::boolean AS yes, $5::boolean AS no,
                       $6::text AS text, $7::bytea AS bytes, $8::float8 AS nan, $9::float8 AS inf, $10::float8 AS neg_inf,
                       $11::text AS missing, $12::float8 AS tiny, $13::text AS quoted
                """, [Int64.min, Int.max >> 33, 0.1, true, false, "å \"x\" \\ ☃", bytes, Double.nan, Double.infinity,
                      -Double.infinity, nil, 5e-324, "{\"a\",NULL}"]).single()
            #expect(try row.decode("big", as: Int64.self) == Int64.min)
            #expect(try row.decode("int", as: Int.self) == Int.max >> 33)
            #expect(try row.decode("real", as: Double.self) == 0.1)
            #expect(try row.decode("yes", as: Bool.self) == true)
            #expect(try row.decode("no", as: Bool.self) == false)
            #expect(try row.decode("text", as: String.self) == "å \"x\" \\ ☃")
            #expect(try row.decode("bytes", as: [UInt8].self) == bytes)
            #expect(try row.decode("nan", as: Double.self).isNaN)
            #expect(try row.decode("inf", as: Double.self) == .infinity)
            #expect(try row.decode("neg_inf", as: Double.self) == -.infinity)
            #expect(try row.decodeIfPresent("missing", as: String.self) == nil)
            #expect(try row.decode("tiny", as: Double.self) == 5e-324)
            #expect(try row.decode("quoted", as: String.self) == "{\"a\",NULL}")
        }

        @Test("array parameters carry typed elements, NULLs and quoting")
        func arrays() throws {
            let connection = try PostgresConnection(url: TestStack.databaseURL)
            defer { connection.close() }
            let numbers = try connection.query("SELECT sum(x) AS total, count(x) AS n FROM unnest($1::bigint[]) AS t(x)",
                                               [PostgresArray.text([Int64(1), nil, Int64(1) << 40])]).single()
            #expect(try numbers.decode("total", as: Int64.self) == 1 + (1 << 40))
            #expect(try numbers.decode("n", as: Int.self) == 2)
            let texts = try connection.query("SELECT array_length($1::text[], 1) AS n, ($1::text[])[2] AS second",
                                             [PostgresArray.text(["a\"b", "c\\d,{e}", ""])]).single()
            #expect(try texts.decode("n", as: Int.self) == 3)
            #expect(try texts.decode("second", as: String.self) == "c\\d,{e}")
            let blobs = try connection.query("SELECT ($1::bytea[])[1] AS b", [PostgresArray.text([[UInt8]([0xde, 0xad])])]).single()
            #expect(try blobs.decode("b", as: [UInt8].self) == [0xde, 0xad])
        }

        @Test("a missing column, a NULL where a value is required, and text of another type are errors")
        func mismatchesThrow() throws {
            let connection = try PostgresConnection(url: TestStack.databaseURL)
            defer { connection.close() }
            let row = try connection.query("SELECT 1 AS one, NULL::bigint AS nothing, 'abc' AS word, 'registered' AS state").single()
            func decodingError(_ body: () throws -> Void) -> PostgresError? {
                do { try body() } catch let error as PostgresError { return error } catch { return nil }
                return nil
            }
            let misspelled = decodingError { _ = try row.decode("onee", as: Int.self) }
            #expect(misspelled?.kind == .decoding)
            #expect(misspelled?.message.contains("no column \"onee\"") == true)
            #expect(decodingError { _ = try row.decodeIfPresent("onee", as: Int.self) }?.kind == .decoding,
                    "an optional read of a missing column is still an error")
            #expect(decodingError { _ = try row.decode("nothing", as: Int64.self) }?.message.contains("is NULL") == true)
            #expect(decodingError { _ = try row.decode("word", as: Int.self) }?.message.contains("not a Int") == true)
            #expect(decodingError { _ = try row.decode("word", as: Bool.self) }?.kind == .decoding)
            #expect(decodingError { _ = try row.decode("word", as: [UInt8].self) }?.kind == .decoding)
            #expect(decodingError { _ = try row.decode(column: 9, as: Int.self) }?.kind == .decoding)
            #expect(decodingError { _ = try row.decode("word", as: Mode.self) }?.message.contains("not a Mode") == true)
            #expect(try row.decode("state", as: Mode.self) == .registered)
            // Positional reads for columns without telling names, even when the names repeat.
            let unnamed = try connection.query("SELECT 1, 2, NULL::int").single()
            #expect(try unnamed.decode(column: 1, as: Int.self) == 2)
            #expect(decodingError { _ = try unnamed.decode(column: 2, as: Int.self) }?.message.contains("is NULL") == true)
            // bytea in hex even where the server is told to use the escape form.
            let reconnected = try PostgresConnection(url: TestStack.databaseURL)
            defer { reconnected.close() }
            try reconnected.execute("ALTER ROLE CURRENT_USER SET bytea_output = 'escape'")
            defer { try? reconnected.execute("ALTER ROLE CURRENT_USER RESET bytea_output") }
            let fresh = try PostgresConnection(url: TestStack.databaseURL)
            defer { fresh.close() }
            #expect(try fresh.query("SELECT '\\x00ff'::bytea AS b").single().decode("b", as: [UInt8].self) == [0, 0xff])
            let none = try connection.query("SELECT 1 AS one WHERE false")
            #expect(decodingError { _ = try none.single() }?.message.contains("exactly one row, got 0") == true)
            #expect(decodingError { _ = try none.single() }?.isTransient == false)
        }

        enum Mode: String { case registered }
    }
}
