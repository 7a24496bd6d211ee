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
}

/// One row; columns are read by name.
public struct PostgresRow: Sendable {
    let rows: PostgresRows
    let row: Int

    public subscript(column: String) -> String? {
        guard let index = rows.columns.firstIndex(of: column) else { return nil }
        return rows.values[row * rows.columns.count + index]
    }

    public subscript(index: Int) -> String? {
        rows.values[row * rows.columns.count + index]
    }
}
