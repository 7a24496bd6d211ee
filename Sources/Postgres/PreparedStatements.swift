/// Which statements a connection keeps prepared on the server, as a value that decides and leaves the libpq calls to
/// the connection. A text is prepared on its second use (text built with values in it, used once, never is), at
/// most `capacity` at a time; a new one then takes the place of the least recently used. Statements given up (the
/// least recently used, or one the server refused because a table changed shape under it) are deallocated by the
/// connection when it is outside any transaction, so that a failing `DEALLOCATE` can never abort a caller's.
struct PreparedStatements {
    /// What to do for one call.
    enum Plan: Equatable {
        /// Run the statement prepared under `name`.
        case run(name: String)
        /// Prepare the text under `name`, then run it.
        case prepare(name: String)
        /// Run the text unprepared (its first use, or the connection is in a failed transaction).
        case unprepared
    }

    let capacity: Int
    private var entries: [String: (name: String, lastUse: UInt64)] = [:]
    /// Texts used once and not prepared; cleared when it reaches the capacity (a text seen again then waits for
    /// a third use, no harm).
    private var seenOnce: Set<String> = []
    /// Names to deallocate on the server at the next chance.
    private var stale: [String] = []
    private var uses: UInt64 = 0
    private var names = 0

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    var count: Int { entries.count }

    /// The plan for `sql`. `canPrepare` is false inside a failed transaction, where the server refuses everything
    /// but a rollback.
    mutating func plan(for sql: String, canPrepare: Bool) -> Plan {
        uses += 1
        if let entry = entries[sql] {
            entries[sql]!.lastUse = uses
            return .run(name: entry.name)
        }
        guard canPrepare else { return .unprepared }
        guard seenOnce.contains(sql) else {
            if seenOnce.count >= capacity { seenOnce.removeAll(keepingCapacity: true) }
            seenOnce.insert(sql)
            return .unprepared
        }
        seenOnce.remove(sql)
        if entries.count >= capacity, let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
            entries[oldest.key] = nil
            stale.append(oldest.value.name)
        }
        names += 1
        let name = "cip_\(names)"
        entries[sql] = (name, uses)
        return .prepare(name: name)
    }

    /// `sql` failed to prepare: nothing of it is on the server.
    mutating func prepareFailed(_ sql: String) {
        entries[sql] = nil
    }

    /// The server refused the statement prepared for `sql` (`0A000`: its result changed shape; `26000`: it is gone):
    /// forget it; one still on the server is deallocated at the next chance.
    mutating func refused(_ sql: String, stillOnServer: Bool) {
        guard let entry = entries.removeValue(forKey: sql) else { return }
        if stillOnServer { stale.append(entry.name) }
    }

    /// Names to deallocate now (the connection is outside any transaction); they count as done.
    mutating func takeStale() -> [String] {
        defer { stale.removeAll() }
        return stale
    }
}
