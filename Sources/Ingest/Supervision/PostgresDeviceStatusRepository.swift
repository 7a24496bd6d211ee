import Postgres
import Storage
import Telemetry

/// Device statuses in PostgreSQL: the one home of table `device_status` (the registry's queries join it).
public struct PostgresDeviceStatusRepository: DeviceStatusRepository {
    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    public func statuses() async throws -> [String: DeviceStatus] {
        try await pool.withConnection { connection in
            var statuses: [String: DeviceStatus] = [:]
            for row in try connection.query("""
                SELECT device_id, connectivity,
                       \(PostgresSQL.epochMicros("connectivity_since")) AS since,
                       \(PostgresSQL.epochMicros("last_seen")) AS last_seen,
                       battery, signal_strength, reported_firmware
                FROM device_status
                """).all {
                let id: String = try row.decode("device_id")
                statuses[id] = try DeviceStatus(
                    connectivity: row.decode("connectivity"), connectivitySinceMicros: row.decodeIfPresent("since"),
                    lastSeenMicros: row.decodeIfPresent("last_seen"), battery: row.decodeIfPresent("battery"),
                    signalStrength: row.decodeIfPresent("signal_strength"), firmware: row.decodeIfPresent("reported_firmware"))
            }
            return statuses
        }
    }

    public func save(_ changed: [(deviceID: String, status: DeviceStatus)], events: [DeviceEvent]) async throws {
        guard !changed.isEmpty || !events.isEmpty else { return }
        try await pool.withConnection { connection in
            try connection.transaction { connection in
                try Self.write(changed, on: connection)
                if !events.isEmpty { try IngestStore.insertEvents(events, on: connection) }
            }
        }
    }

    private static func write(_ changed: [(deviceID: String, status: DeviceStatus)], on connection: PostgresConnection) throws {
        guard !changed.isEmpty else { return }
        try connection.query("""
            INSERT INTO device_status AS status (device_id, connectivity, connectivity_since, last_seen, battery,
                                                 signal_strength, reported_firmware, updated_at)
            SELECT s.id, s.connectivity, to_timestamp(s.since / 1e6), to_timestamp(s.seen / 1e6), s.battery, s.signal,
                   s.firmware, now()
            FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::float8[], $6::float8[], $7::text[])
                AS s(id, connectivity, since, seen, battery, signal, firmware)
            WHERE EXISTS (SELECT 1 FROM devices d WHERE d.device_id = s.id)
            ON CONFLICT (device_id) DO UPDATE SET
                connectivity = EXCLUDED.connectivity, connectivity_since = EXCLUDED.connectivity_since,
                last_seen = EXCLUDED.last_seen, battery = EXCLUDED.battery, signal_strength = EXCLUDED.signal_strength,
                reported_firmware = EXCLUDED.reported_firmware, updated_at = now()
            """, [
                PostgresArray.text(changed.map(\.deviceID)),
                PostgresArray.text(changed.map(\.status.connectivity.rawValue)),
                PostgresArray.text(changed.map(\.status.connectivitySinceMicros)),
                PostgresArray.text(changed.map(\.status.lastSeenMicros)),
                PostgresArray.text(changed.map(\.status.battery)),
                PostgresArray.text(changed.map(\.status.signalStrength)),
                PostgresArray.text(changed.map(\.status.firmware)),
            ])
    }
}
