/// The rows of one result, copied out of libpq in text format.
public struct PostgresRows: Sendable {
    public let columns: [String]
    /// Row-major values; nil is SQL NULL.
    let values: [String?]
    /// Rows returned, or rows affected for INSERT/UPDATE/DELETE/COPY.
    public let affected: Int

    public var count: Int { columns.isEmpty ? 0 : values.count / columns.count }
    public var isEmpty: Bool { count == 0 }

    public subscript(row: Int) -> PostgresRow { PostgresRow(rows: self, row: row) }

    public var all: [PostgresRow] { (0..<count).map { self[$0] } }
    public var first: PostgresRow? { count > 0 ? self[0] : nil }

    /// The only row of a statement that always returns exactly one (`SELECT count(*)`, `... RETURNING` of one
    /// row); anything else is an error rather than a silent default.
    public func single() throws(PostgresError) -> PostgresRow {
        guard count == 1 else {
            throw PostgresError(kind: .decoding, message: "expected exactly one row, got \(count)")
        }
        return self[0]
    }
}

/// One row. Values are read by column name and type: a column the statement does not return, a NULL where a
/// value is required, or text that is not a value of the type is an error, never a silent default.
public struct PostgresRow: Sendable {
    let rows: PostgresRows
    let row: Int

    /// The value of `column`; throws when the column is missing, NULL or not a `T`.
    public func decode<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws(PostgresError) -> T {
        guard let value = try decodeIfPresent(column, as: type) else {
            throw PostgresError(kind: .decoding, message: "column \"\(column)\" is NULL, expected \(T.self)")
        }
        return value
    }

    /// The value of `column`, nil for SQL NULL; throws when the column is missing or not a `T`.
    public func decodeIfPresent<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws(PostgresError) -> T? {
        guard let text = try text(column) else { return nil }
        return try Self.value(text, column: "\"\(column)\"")
    }

    /// `column` names the column in the error only: not worked out for every value that decodes.
    private static func value<T: PostgresDecodable>(_ text: String, column: @autoclosure () -> String) throws(PostgresError) -> T {
        guard let value = T(postgresText: text) else {
            throw PostgresError(kind: .decoding, message: "column \(column()) holds \(excerpt(text)), not a \(T.self)")
        }
        return value
    }

    /// A string-backed enumeration (a lifecycle state, an outcome): an unknown value is an error.
    public func decode<T: RawRepresentable>(_ column: String, as type: T.Type = T.self) throws(PostgresError) -> T
    where T.RawValue: PostgresDecodable {
        guard let value = try decodeIfPresent(column, as: type) else {
            throw PostgresError(kind: .decoding, message: "column \"\(column)\" is NULL, expected \(T.self)")
        }
        return value
    }

    public func decodeIfPresent<T: RawRepresentable>(_ column: String, as type: T.Type = T.self) throws(PostgresError) -> T?
    where T.RawValue: PostgresDecodable {
        guard let raw = try decodeIfPresent(column, as: T.RawValue.self) else { return nil }
        guard let value = T(rawValue: raw) else {
            throw PostgresError(kind: .decoding, message: "column \"\(column)\" holds \(raw), not a \(T.self)")
        }
        return value
    }

    /// The value of the column at `index` (for statements whose column names say nothing, like `SELECT count(*)`,
    /// or repeat, like `SELECT 1, 2`).
    public func decode<T: PostgresDecodable>(column index: Int, as type: T.Type = T.self) throws(PostgresError) -> T {
        guard rows.columns.indices.contains(index) else {
            throw PostgresError(kind: .decoding, message: "the result has no column \(index) (it has \(rows.columns.count))")
        }
        let name = "\(index) (\(rows.columns[index]))"
        guard let text = rows.values[row * rows.columns.count + index] else {
            throw PostgresError(kind: .decoding, message: "column \(name) is NULL, expected \(T.self)")
        }
        return try Self.value(text, column: name)
    }

    private func text(_ column: String) throws(PostgresError) -> String? {
        guard let index = rows.columns.firstIndex(of: column) else {
            throw PostgresError(kind: .decoding, message: "the result has no column \"\(column)\" (it has \(rows.columns.joined(separator: ", ")))")
        }
        return rows.values[row * rows.columns.count + index]
    }

    private static func excerpt(_ text: String) -> String {
        text.count <= 40 ? "\"\(text)\"" : "\"\(text.prefix(40))…\""
    }
}
