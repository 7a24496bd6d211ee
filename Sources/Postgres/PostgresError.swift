import Models

/// An error from libpq or the server, carrying libpq's own message and, where the server sent one, the SQLSTATE.
public struct PostgresError: TransientFailure, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Could not connect, or the connection broke: worth retrying later.
        case connection
        /// The server refused a statement (syntax, constraint, ...): retrying the same statement will not help.
        case statement
        /// The caller misused the API (for example, a COPY without a COPY statement).
        case usage
        /// A row did not have the shape the caller decodes (a missing column, NULL, text of another type):
        /// the statement and its reader disagree.
        case decoding
    }

    public var kind: Kind
    public var message: String
    /// Five-character SQLSTATE code, when the server sent one (for example `23505` unique violation).
    public var sqlState: String?

    public init(kind: Kind, message: String, sqlState: String? = nil) {
        self.kind = kind
        self.message = message
        self.sqlState = sqlState
    }

    /// Connection failures and server-side conditions that go away by themselves are worth a retry.
    public var isTransient: Bool {
        if kind == .connection { return true }
        guard let sqlState else { return false }
        // 08: connection exception, 57P: operator intervention (shutdown), 53: insufficient resources,
        // 40001/40P01: serialization failure / deadlock.
        return sqlState.hasPrefix("08") || sqlState.hasPrefix("57P") || sqlState.hasPrefix("53")
            || sqlState == "40001" || sqlState == "40P01"
    }

    public var description: String {
        if let sqlState { return "PostgreSQL \(sqlState): \(message)" }
        return "PostgreSQL: \(message)"
    }
}
