import CLibPQ

/// One libpq connection. Not thread-safe: it is used by one caller at a time, which `PostgresPool` guarantees.
/// All calls block; the pool runs them on the connection's own thread, off Swift's cooperative pool. Only this
/// module opens one (the pool, the listener): everyone else borrows one from a pool.
public final class PostgresConnection: @unchecked Sendable {
    private var handle: OpaquePointer?
    public let url: String
    /// Sees every parameterized statement (the pool's, for benchmarks).
    let observer: StatementObserver?
    /// Statements prepared on this connection, so the server parses and plans each once rather than on every call
    /// (and keeps a generic plan where one is as good); see `PreparedStatements` for which and how many.
    private var statements = PreparedStatements(capacity: PostgresConnection.maxPrepared)
    static let maxPrepared = 256

    /// Connects with a libpq connection string or URI (`postgresql://user:pass@host:port/db`).
    /// Unless the URL says otherwise, connecting gives up after 5 seconds.
    init(url: String, observer: StatementObserver? = nil) throws(PostgresError) {
        self.url = url
        self.observer = observer
        // Later keywords override earlier ones, so the URL's own settings win over these defaults.
        let keywords = ["connect_timeout", "application_name", "dbname"]
        let values = ["5", "cip-gateway", url]
        let connection = withCStrings(keywords) { keys in
            withCStrings(values) { vals in
                PQconnectdbParams(keys + [nil], vals + [nil], 1)
            }
        }
        guard let conn = connection else {
            throw PostgresError(kind: .connection, message: "libpq could not allocate a connection")
        }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = Self.trimmed(PQerrorMessage(conn))
            PQfinish(conn)
            throw PostgresError(kind: .connection, message: message)
        }
        handle = conn
        // Notices (for example "relation already exists, skipping") would go to stderr by default.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
        // `[UInt8]` rows decode PostgreSQL's hex form of bytea; a server or role set to the old escape form
        // would otherwise make every bytea read fail.
        try execute("SET bytea_output = 'hex'")
    }

    deinit { close() }

    public func close() {
        if let handle { PQfinish(handle) }
        handle = nil
    }

    /// False once the server or network dropped the connection; the pool then replaces it.
    public var isOpen: Bool {
        guard let handle else { return false }
        return PQstatus(handle) == CONNECTION_OK
    }

    /// Runs one statement with parameters `$1...$n` (nil is SQL NULL), sent in text format, and returns its rows.
    @discardableResult
    public func query(_ sql: String, _ parameters: [(any PostgresBindable)?] = []) throws(PostgresError) -> PostgresRows {
        let conn = try liveHandle()
        let texts = parameters.map { $0?.postgresText }
        observer?(sql, texts)
        if PQtransactionStatus(conn) == PQTRANS_IDLE {
            for name in statements.takeStale() { PQclear(PQexec(conn, "DEALLOCATE \(name)")) }
        }
        return try run(sql, texts, conn: conn, retry: true)
    }

    private func run(_ sql: String, _ texts: [String?], conn: OpaquePointer, retry: Bool) throws(PostgresError) -> PostgresRows {
        var name: String?
        switch statements.plan(for: sql, canPrepare: PQtransactionStatus(conn) != PQTRANS_INERROR) {
        case .run(let prepared):
            name = prepared
        case .prepare(let prepared):
            do {
                _ = try rows(from: PQprepare(conn, prepared, sql, 0, nil), conn: conn)
            } catch {
                statements.prepareFailed(sql)
                throw error
            }
            name = prepared
        case .unprepared:
            name = nil
        }
        let result = withCStrings(texts) { values in
            if let name {
                PQexecPrepared(conn, name, Int32(texts.count), values, nil, nil, 0)
            } else {
                PQexecParams(conn, sql, Int32(texts.count), nil, values, nil, nil, 0)
            }
        }
        do {
            return try rows(from: result, conn: conn)
        } catch {
            // The server refused the prepared statement itself: a table changed shape under it (0A000, "cached plan
            // must not change result type") or it is gone (26000). Forget it; outside a transaction the statement
            // did nothing, so it is run once more, afresh.
            let changedShape = error.sqlState == "0A000" && error.message.contains("cached plan must not change result type")
            guard name != nil, changedShape || error.sqlState == "26000" else { throw error }
            statements.refused(sql, stillOnServer: changedShape)
            guard retry, PQtransactionStatus(conn) == PQTRANS_IDLE else { throw error }
            return try run(sql, texts, conn: conn, retry: false)
        }
    }

    /// Runs one or more statements without parameters (migrations, `BEGIN`, `COMMIT`).
    public func execute(_ sql: String) throws(PostgresError) {
        let conn = try liveHandle()
        let result = PQexec(conn, sql)
        _ = try rows(from: result, conn: conn)
    }

    /// Runs `COPY ... FROM STDIN` and streams `data` (in the statement's format) to the server.
    /// Returns the number of rows the server copied.
    @discardableResult
    public func copyIn(_ sql: String, data: [UInt8]) throws(PostgresError) -> Int {
        let conn = try liveHandle()
        let start = PQexec(conn, sql)
        let status = PQresultStatus(start)
        if status != PGRES_COPY_IN {
            _ = try rows(from: start, conn: conn)
            throw PostgresError(kind: .usage, message: "statement did not start COPY FROM STDIN: \(sql)")
        }
        PQclear(start)
        var sent: Int32 = 1
        // libpq buffers internally; hand it the data in large slices.
        let chunk = 1 << 20
        var offset = 0
        data.withUnsafeBufferPointer { buffer in
            while offset < buffer.count, sent == 1 {
                let length = min(chunk, buffer.count - offset)
                sent = buffer.baseAddress!.advanced(by: offset).withMemoryRebound(to: CChar.self, capacity: length) {
                    PQputCopyData(conn, $0, Int32(length))
                }
                offset += length
            }
        }
        if sent != 1 {
            throw PostgresError(kind: .connection, message: Self.trimmed(PQerrorMessage(conn)))
        }
        if PQputCopyEnd(conn, nil) != 1 {
            throw PostgresError(kind: .connection, message: Self.trimmed(PQerrorMessage(conn)))
        }
        var copied = 0
        // Drain every result of the COPY; the last one tells success or failure.
        var failure: PostgresError?
        while let result = PQgetResult(conn) {
            do {
                let rows = try self.rows(from: result, conn: conn)
                copied = rows.affected
            } catch {
                failure = failure ?? error
            }
        }
        if let failure { throw failure }
        return copied
    }

    /// Runs `body` inside `BEGIN ... COMMIT`; any error rolls back and is rethrown.
    @discardableResult
    public func transaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        try execute("BEGIN")
        do {
            let value = try body(self)
            try execute("COMMIT")
            return value
        } catch {
            if isOpen { try? execute("ROLLBACK") }
            throw error
        }
    }

    /// Waits up to `timeout` seconds for notifications on the channels this connection `LISTEN`s to, and returns
    /// those that arrived (possibly none). Throws when the connection is lost.
    public func notifications(timeout: Double) throws(PostgresError) -> [PostgresNotification] {
        let conn = try liveHandle()
        var received = drainNotifications(conn)
        if !received.isEmpty { return received }
        var descriptor = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, Int32(max(0, timeout * 1000)))
        if ready < 0, errno != EINTR {
            throw PostgresError(kind: .connection, message: "poll: \(String(cString: strerror(errno)))")
        }
        if ready > 0 {
            if PQconsumeInput(conn) != 1 {
                throw PostgresError(kind: .connection, message: Self.trimmed(PQerrorMessage(conn)))
            }
            received = drainNotifications(conn)
        }
        return received
    }

    private func drainNotifications(_ conn: OpaquePointer) -> [PostgresNotification] {
        _ = PQconsumeInput(conn)
        var received: [PostgresNotification] = []
        while let notification = PQnotifies(conn) {
            received.append(PostgresNotification(channel: String(cString: notification.pointee.relname),
                                                 payload: String(cString: notification.pointee.extra)))
            PQfreemem(notification)
        }
        return received
    }

    // MARK: - libpq details

    private func liveHandle() throws(PostgresError) -> OpaquePointer {
        guard let handle else {
            throw PostgresError(kind: .connection, message: "connection is closed")
        }
        if PQstatus(handle) != CONNECTION_OK {
            throw PostgresError(kind: .connection, message: Self.trimmed(PQerrorMessage(handle)))
        }
        return handle
    }

    /// Turns a PGresult into rows (copying the values out) or an error, and always frees it.
    private func rows(from result: OpaquePointer?, conn: OpaquePointer) throws(PostgresError) -> PostgresRows {
        guard let result else {
            throw PostgresError(kind: .connection, message: Self.trimmed(PQerrorMessage(conn)))
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return PostgresRows(columns: [], values: [], affected: Int(String(cString: PQcmdTuples(result))) ?? 0)
        case PGRES_TUPLES_OK, PGRES_SINGLE_TUPLE:
            let rowCount = Int(PQntuples(result))
            let columnCount = Int(PQnfields(result))
            var columns: [String] = []
            columns.reserveCapacity(columnCount)
            for c in 0..<columnCount { columns.append(String(cString: PQfname(result, Int32(c)))) }
            var values: [String?] = []
            values.reserveCapacity(rowCount * columnCount)
            for r in 0..<rowCount {
                for c in 0..<columnCount {
                    if PQgetisnull(result, Int32(r), Int32(c)) == 1 {
                        values.append(nil)
                    } else {
                        values.append(String(cString: PQgetvalue(result, Int32(r), Int32(c))))
                    }
                }
            }
            return PostgresRows(columns: columns, values: values, affected: rowCount)
        default:
            let message = Self.trimmed(PQresultErrorMessage(result))
            let sqlState = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            let broken = PQstatus(conn) != CONNECTION_OK
            throw PostgresError(kind: broken ? .connection : .statement,
                                message: message.isEmpty ? Self.trimmed(PQerrorMessage(conn)) : message,
                                sqlState: sqlState)
        }
    }

    private static func trimmed(_ message: UnsafePointer<CChar>?) -> String {
        guard let message else { return "unknown libpq error" }
        let text = String(cString: message)
        var end = text.endIndex
        while end > text.startIndex, text[text.index(before: end)].isWhitespace { end = text.index(before: end) }
        return String(text[..<end])
    }
}

/// Sees a statement and its parameters (PostgreSQL's text format) before it runs: a benchmark records the
/// statements a route runs and replays them as the database's own rate.
public typealias StatementObserver = @Sendable (_ sql: String, _ parameters: [String?]) -> Void

/// A `NOTIFY` received on a channel the connection listens to.
public struct PostgresNotification: Sendable, Equatable {
    public var channel: String
    public var payload: String
}

/// Calls `body` with a C array of NUL-terminated copies of `strings` (nil stays a null pointer).
private func withCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let pointers: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0) } ?? nil }
    defer { for pointer in pointers { free(pointer) } }
    return body(pointers.map { $0.map { UnsafePointer($0) } })
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
