import Foundation
import Models
import Postgres

/// Retention in PostgreSQL. Telemetry rows go by plain batched deletes; day partitions and the append-only care
/// records go through the purge functions of migration 0014, which refuse anything younger than their floors.
public struct PostgresRetentionStore: RetentionStore {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    public func acquireLease(holder: String, seconds: Int) async throws -> Bool {
        try await pool.withConnection { connection in
            try connection.query("""
                UPDATE retention_lease SET holder = $1, expires_at = now() + make_interval(secs => $2::integer)
                WHERE holder = $1 OR expires_at < now()
                """, [holder, seconds]).affected == 1
        }
    }

    public func releaseLease(holder: String) async throws {
        try await pool.withConnection { connection in
            _ = try connection.query("UPDATE retention_lease SET expires_at = '-infinity' WHERE holder = $1", [holder])
        }
    }

    public func partitions() async throws -> [DailyPartition] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT p.relname AS parent, c.relname AS name, coalesce(s.n_tup_ins, 0) AS inserted
                FROM pg_inherits i
                JOIN pg_class c ON c.oid = i.inhrelid
                JOIN pg_class p ON p.oid = i.inhparent
                LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
                WHERE p.relname IN ('observations', 'raw_messages') AND p.relnamespace = 'public'::regnamespace
                """).all.compactMap { row in
                DailyPartition(table: try row.decode("parent"), name: try row.decode("name"), insertedRows: try row.decode("inserted"))
            }
        }
    }

    public func purgedPartitions() async throws -> Set<PurgedPartition> {
        try await pool.withConnection { connection in
            Set(try connection.query("""
                SELECT partition_name, retention_days, array_to_string(quantities, ',') AS quantities, inserted_rows
                FROM retention_purged_partitions
                """).all.map { row in
                let quantities: String = try row.decode("quantities")
                return PurgedPartition(partition: try row.decode("partition_name"), retentionDays: try row.decode("retention_days"),
                                       quantities: quantities.isEmpty ? [] : quantities.split(separator: ",").map(String.init),
                                       insertedRows: try row.decode("inserted_rows"))
            })
        }
    }

    public func markPurged(_ key: PurgedPartition, rowsDeleted: Int64) async throws {
        try await pool.withConnection { connection in
            _ = try connection.query("""
                INSERT INTO retention_purged_partitions (partition_name, retention_days, quantities, inserted_rows, rows_deleted)
                VALUES ($1, $2, $3::text[], $4, $5)
                ON CONFLICT (partition_name, retention_days) DO UPDATE
                SET quantities = EXCLUDED.quantities, inserted_rows = EXCLUDED.inserted_rows,
                    rows_deleted = EXCLUDED.rows_deleted, purged_at = now()
                """, [key.partition, key.retentionDays, PostgresArray.text(key.quantities), key.insertedRows, rowsDeleted])
        }
    }

    public func record(_ run: RetentionRun) async throws {
        let deleted = String(decoding: try JSONEncoder().encode(run.deleted), as: UTF8.self)
        try await pool.withConnection { connection in
            _ = try connection.query("""
                INSERT INTO retention_runs (started_at, finished_at, deleted, error)
                VALUES (to_timestamp($1::bigint / 1e6), to_timestamp($2::bigint / 1e6), $3::jsonb, $4)
                """, [run.startedAtMicros, run.finishedAtMicros, deleted, run.error])
        }
    }

    public func lastRun() async throws -> RetentionRun? {
        let row = try await pool.withConnection { connection -> (Int64, Int64, String, String?)? in
            guard let row = try connection.query("""
                SELECT (extract(epoch FROM started_at) * 1e6)::bigint AS started, (extract(epoch FROM finished_at) * 1e6)::bigint AS finished,
                       deleted::text AS deleted, error
                FROM retention_runs ORDER BY id DESC LIMIT 1
                """).first else { return nil }
            return (try row.decode("started"), try row.decode("finished"), try row.decode("deleted"), try row.decodeIfPresent("error"))
        }
        guard let row else { return nil }
        let deleted = try JSONDecoder().decode([String: Int64].self, from: Data(row.2.utf8))
        return RetentionRun(startedAtMicros: row.0, finishedAtMicros: row.1, deleted: deleted, error: row.3)
    }

    public func step(_ task: RetentionTask, cursor: Int64, limits: RetentionLimits) async throws -> RetentionStep {
        try await pool.withConnection { connection in try Self.step(task, cursor: cursor, limits: limits, on: connection) }
    }

    static func step(_ task: RetentionTask, cursor: Int64, limits: RetentionLimits, on connection: PostgresConnection) throws -> RetentionStep {
        let rows = limits.rowsPerStep
        switch task {
        case .dropPartition(let partition):
            let held: Int64 = try connection.query("SELECT cip_retention_drop_partition($1, $2) AS held",
                                                   [partition.table, partition.name]).single().decode("held")
            _ = try connection.query("DELETE FROM retention_purged_partitions WHERE partition_name = $1", [partition.name])
            return RetentionStep(deleted: held, next: nil)

        case .purgePartition(let partition, _, let quantities):
            // A range of heap blocks per statement (a TID range scan): bounded work whatever the day holds.
            let blocks: Int64 = try connection.query(
                "SELECT pg_relation_size($1::regclass) / current_setting('block_size')::bigint AS blocks",
                [Self.quoted(partition.name)]).single().decode("blocks")
            guard cursor < blocks else { return RetentionStep(deleted: 0, next: nil) }
            let end = cursor + Int64(limits.blocksPerStep)
            let deleted = try connection.query("""
                DELETE FROM \(Self.quoted(partition.name))
                WHERE ctid >= '(\(cursor),0)'::tid AND ctid < '(\(end),0)'::tid AND quantity = ANY($1::text[])
                  AND observed_at < to_timestamp($2::bigint)
                """, [PostgresArray.text(quantities), partition.dayEnd]).affected
            return RetentionStep(deleted: Int64(deleted), next: end < blocks ? end : nil)

        case .purgeValues(let table, let selection, let expiredBefore):
            let (quantities, match) = switch selection {
            case .these(let list): (list, "quantity = ANY($1::text[])")
            case .allBut(let list): (list, "quantity <> ALL($1::text[])")
            }
            let deleted = try connection.query("""
                DELETE FROM \(table.rawValue) WHERE ctid = ANY(ARRAY(
                    SELECT ctid FROM \(table.rawValue) WHERE \(match) AND observed_at < to_timestamp($2::bigint) LIMIT $3))
                """, [PostgresArray.text(quantities), expiredBefore, rows]).affected
            return Self.batch(Int64(deleted), of: rows)

        case .purgeRawMessagesDefault(let expiredBefore):
            let deleted = try connection.query("""
                DELETE FROM raw_messages_default WHERE ctid = ANY(ARRAY(
                    SELECT ctid FROM raw_messages_default WHERE received_at < to_timestamp($1::bigint) LIMIT $2))
                """, [expiredBefore, rows]).affected
            return Self.batch(Int64(deleted), of: rows)

        case .purgeDeadLetters(let expiredBefore):
            let deleted = try connection.query("""
                DELETE FROM dead_letters WHERE id IN (
                    SELECT id FROM dead_letters WHERE received_at < to_timestamp($1::bigint) ORDER BY received_at LIMIT $2)
                """, [expiredBefore, rows]).affected
            return Self.batch(Int64(deleted), of: rows)

        case .purgeEvents(let expiredBefore):
            // Never an event the alarm engine or the lock monitor has yet to read.
            let deleted = try connection.query("""
                DELETE FROM events WHERE id IN (
                    SELECT id FROM events
                    WHERE received_at < to_timestamp($1::bigint)
                      AND id <= (SELECT min(last_event) FROM (SELECT last_event FROM alarm_engine_cursor
                                                             UNION ALL SELECT last_event FROM lock_monitor_cursor) cursors)
                    ORDER BY id LIMIT $2)
                """, [expiredBefore, rows]).affected
            return Self.batch(Int64(deleted), of: rows)

        case .purgeGeofenceStates(let expiredBefore):
            let deleted = try connection.query("""
                DELETE FROM geofence_state WHERE device_id IN (
                    SELECT device_id FROM geofence_state WHERE updated_at < to_timestamp($1::bigint) LIMIT $2)
                """, [expiredBefore, rows]).affected
            return Self.batch(Int64(deleted), of: rows)

        case .purgeAlarms(let days):
            // Whole alarms with their timelines: a fifth of the row budget in alarms; done when none was left.
            let deleted = try Self.purge("cip_retention_purge_alarms", days: days, limit: max(1, rows / 5), on: connection)
            return RetentionStep(deleted: deleted, next: deleted == 0 ? nil : 0)
        case .purgeDeviceHistory(let days):
            return Self.batch(try Self.purge("cip_retention_purge_device_history", days: days, limit: rows, on: connection), of: rows)
        case .purgeCareRecipientLinks(let days):
            return Self.batch(try Self.purge("cip_retention_purge_links", days: days, limit: rows, on: connection), of: rows)
        case .purgeAudit(let days):
            return Self.batch(try Self.purge("cip_retention_purge_audit", days: days, limit: rows, on: connection), of: rows)
        }
    }

    /// A step that deletes at most `rows`: the task is done once a step deleted fewer.
    static func batch(_ deleted: Int64, of rows: Int) -> RetentionStep {
        RetentionStep(deleted: deleted, next: deleted < rows ? nil : 0)
    }

    /// One call of a purge function of the schema, `function(retention_days, max_rows)`: the rows it deleted.
    static func purge(_ function: String, days: Int, limit: Int, on connection: PostgresConnection) throws -> Int64 {
        try connection.query("SELECT \(function)($1, $2) AS n", [days, limit]).single().decode("n")
    }

    /// A partition name as an identifier; names come from `DailyPartition`, which admits `<table>_pYYYYMMDD` only.
    static func quoted(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
}
