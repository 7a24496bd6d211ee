import Foundation
import Geofence
import Models
import Postgres

/// Safe zones in PostgreSQL: the one home of tables `safe_zones` and `geofence_state` (migration 0013). Shapes,
/// schedules and states are stored as the JSON of their Swift types.
public struct PostgresZoneRepository: ZoneRepository {
    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    private static let columns = """
        id, device_id, name, shape::text AS shape, schedule::text AS schedule, exit_buffer_m, max_accuracy_m,
        confirm_fixes, confirm_seconds, created_by, \(PostgresSQL.epochMicros("created_at")) AS created_us,
        \(PostgresSQL.epochMicros("updated_at")) AS updated_us
        """

    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String, column: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(text.utf8))
        } catch {
            throw PostgresError(kind: .decoding, message: "\(column) is not a stored \(T.self): \(error)")
        }
    }

    private static func parameters(_ spec: ZoneSpec) throws -> [(any PostgresBindable)?] {
        [spec.name, try json(spec.shape), try json(spec.schedule), spec.tuning.exitBufferMeters, spec.tuning.maxAccuracyMeters,
         spec.tuning.confirmFixes, spec.tuning.confirmSeconds]
    }

    public func create(_ spec: ZoneSpec, deviceId: String, by: String) async throws -> SafeZone {
        let values = try Self.parameters(spec)
        return try await pool.withConnection { connection in
            try Self.zone(connection.query("""
                INSERT INTO safe_zones (name, shape, schedule, exit_buffer_m, max_accuracy_m, confirm_fixes, confirm_seconds,
                                        device_id, created_by)
                VALUES ($1, $2::jsonb, $3::jsonb, $4::double precision, $5::double precision, $6::integer, $7::integer, $8, $9)
                RETURNING \(Self.columns)
                """, values + [deviceId, by]).single())
        }
    }

    public func zones(deviceId: String) async throws -> [SafeZone] {
        try await pool.withConnection { connection in
            try connection.query("SELECT \(Self.columns) FROM safe_zones WHERE device_id = $1 ORDER BY id", [deviceId])
                .all.map { try Self.zone($0) }
        }
    }

    public func update(_ id: Int64, deviceId: String, to spec: ZoneSpec) async throws -> SafeZone? {
        let values = try Self.parameters(spec)
        return try await pool.withConnection { connection in
            try connection.query("""
                UPDATE safe_zones SET name = $1, shape = $2::jsonb, schedule = $3::jsonb, exit_buffer_m = $4::double precision,
                       max_accuracy_m = $5::double precision, confirm_fixes = $6::integer, confirm_seconds = $7::integer,
                       updated_at = clock_timestamp()
                WHERE id = $8 AND device_id = $9
                RETURNING \(Self.columns)
                """, values + [id, deviceId]).first.map { try Self.zone($0) }
        }
    }

    public func delete(_ id: Int64, deviceId: String) async throws -> Bool {
        try await pool.withConnection { connection in
            try connection.query("DELETE FROM safe_zones WHERE id = $1 AND device_id = $2 RETURNING id", [id, deviceId]).count == 1
        }
    }

    public func allZones() async throws -> [String: [SafeZone]] {
        try await pool.withConnection { connection in
            Dictionary(grouping: try connection.query("SELECT \(Self.columns) FROM safe_zones ORDER BY id").all.map { try Self.zone($0) },
                       by: \.deviceId)
        }
    }

    public func zonesVersion() async throws -> String {
        try await pool.withConnection { connection in
            let row = try connection.query("""
                SELECT count(*) AS zones, coalesce(max(id), 0) AS last_id,
                       coalesce(\(PostgresSQL.epochMicros("max(updated_at)")), 0) AS last_update
                FROM safe_zones
                """).single()
            let zones: Int64 = try row.decode("zones"), lastId: Int64 = try row.decode("last_id"), lastUpdate: Int64 = try row.decode("last_update")
            return "\(zones)/\(lastId)/\(lastUpdate)"
        }
    }

    public func states() async throws -> [String: DeviceGeofence] {
        try await pool.withConnection { connection in
            var states: [String: DeviceGeofence] = [:]
            // One state that no longer decodes (hand-edited, an older format) starts that device afresh; the others
            // keep theirs.
            for row in try connection.query("SELECT device_id, state::text AS state FROM geofence_state").all {
                let device: String = try row.decode("device_id")
                states[device] = try? Self.decode(DeviceGeofence.self, try row.decode("state"), column: "geofence_state.state")
            }
            return states
        }
    }

    public func saveStates(_ states: [String: DeviceGeofence]) async throws {
        try await pool.withConnection { connection in try Self.saveStates(states, on: connection) }
    }

    /// Stores states on the caller's connection: the geofence monitor stores a device's state in the same
    /// transaction as the exit or return it concluded, so a crash leaves both or neither.
    public static func saveStates(_ states: [String: DeviceGeofence], on connection: PostgresConnection) throws {
        guard !states.isEmpty else { return }
        let ids = states.keys.sorted()
        let documents = try ids.map { try Self.json(states[$0]!) }
        try connection.query("""
            INSERT INTO geofence_state (device_id, state, updated_at)
            SELECT device_id, state::jsonb, clock_timestamp() FROM unnest($1::text[], $2::text[]) AS s(device_id, state)
            WHERE EXISTS (SELECT 1 FROM devices d WHERE d.device_id = s.device_id)
            ON CONFLICT (device_id) DO UPDATE SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at
            """, [PostgresArray.text(ids), PostgresArray.text(documents)])
    }

    static func zone(_ row: PostgresRow) throws -> SafeZone {
        var tuning = ZoneTuning()
        tuning.exitBufferMeters = try row.decodeIfPresent("exit_buffer_m")
        tuning.maxAccuracyMeters = try row.decode("max_accuracy_m")
        tuning.confirmFixes = try row.decode("confirm_fixes")
        tuning.confirmSeconds = try row.decode("confirm_seconds")
        return SafeZone(
            id: try row.decode("id"), deviceId: try row.decode("device_id"), name: try row.decode("name"),
            shape: try decode(ZoneShape.self, try row.decode("shape"), column: "safe_zones.shape"),
            schedule: try decode([WeeklyWindow].self, try row.decode("schedule"), column: "safe_zones.schedule"),
            tuning: tuning, createdBy: try row.decode("created_by"), createdAtMicros: try row.decode("created_us"),
            updatedAtMicros: try row.decode("updated_us"))
    }
}
