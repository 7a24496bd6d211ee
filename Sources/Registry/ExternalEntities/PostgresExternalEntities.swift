import Digest
import Foundation
import Postgres
import Telemetry

/// Entities other city systems write through the CIP tier, in PostgreSQL: the home of `cip_entities`. Each entity is
/// a registered device of type `external` (active from the start, never on the broker: it has no account there), so
/// its values are observations like any device's and retention, subject access and the read APIs treat them alike.
public struct PostgresExternalEntities: OpenDataWriter {
    /// The device type of entities written through the CIP tier; reserved (the registry does not register it).
    public static let deviceType = "external"

    public typealias ValueStore = @Sendable ([OpenValue], _ messageKey: [UInt8], _ receivedAtMicros: Int64, PostgresConnection) throws -> Void

    let pool: PostgresPool
    /// Stores the values in the caller's transaction (the observations' own home, `IngestStore`).
    let storeValues: ValueStore

    public init(pool: PostgresPool, storeValues: @escaping ValueStore) {
        self.pool = pool
        self.storeValues = storeValues
    }

    public func create(_ write: OpenEntityWrite, tenant: String, writer: String, atMicros: Int64) async throws -> OpenWriteOutcome {
        let deviceID = "ext-" + (0..<12).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        do {
            return try await pool.withConnection { connection in
                try connection.transaction { connection in
                    if try connection.query(
                        "SELECT 1 FROM cip_entities WHERE entity_id = $1 AND tenant = $2 AND deleted_at IS NULL", [write.entityID, tenant]).first != nil {
                        return .alreadyExists
                    }
                    try connection.query("""
                        INSERT INTO devices (device_id, serial_number, type, tenant, lifecycle_state)
                        VALUES ($1, $1, $2, $3, 'active')
                        """, [deviceID, Self.deviceType, tenant])
                    try connection.query("""
                        INSERT INTO device_history (device_id, from_state, to_state, action, actor, reason, client)
                        VALUES ($1, NULL, 'active', 'register', $2, $3, $2)
                        """, [deviceID, writer, "NGSI-LD entity \(write.entityID)"])
                    try connection.query("""
                        INSERT INTO cip_entities (device_id, tenant, entity_id, entity_type, latitude, longitude, created_by,
                                                  created_at, modified_at)
                        VALUES ($1, $2, $3, $4, $5::float8, $6::float8, $7, to_timestamp($8::bigint / 1e6), to_timestamp($8::bigint / 1e6))
                        """, [deviceID, tenant, write.entityID, write.entityType ?? "", write.location?.latitude,
                              write.location?.longitude, writer, atMicros])
                    try storeValues(write.values.map { Self.owned($0, by: deviceID) }, Self.key(write), atMicros, connection)
                    return .created(deviceID: deviceID)
                }
            }
        } catch let error as PostgresError where error.sqlState == "23505" {
            // Another write created the same id between the check and the insert.
            return .alreadyExists
        }
    }

    public func update(_ write: OpenEntityWrite, tenant: String, writer: String, atMicros: Int64) async throws -> OpenWriteOutcome {
        try await pool.withConnection { connection in
            try connection.transaction { connection in
                guard let row = try connection.query("""
                    SELECT device_id FROM cip_entities WHERE entity_id = $1 AND tenant = $2 AND deleted_at IS NULL FOR UPDATE
                    """, [write.entityID, tenant]).first else { return .notFound }
                let deviceID: String = try row.decode("device_id")
                try connection.query("""
                    UPDATE cip_entities SET modified_at = to_timestamp($2::bigint / 1e6),
                        latitude = coalesce($3::float8, latitude), longitude = coalesce($4::float8, longitude)
                    WHERE device_id = $1
                    """, [deviceID, atMicros, write.location?.latitude, write.location?.longitude])
                try storeValues(write.values.map { Self.owned($0, by: deviceID) }, Self.key(write), atMicros, connection)
                return .updated(deviceID: deviceID)
            }
        }
    }

    public func delete(entityID: String, tenant: String, writer: String, atMicros: Int64) async throws -> OpenWriteOutcome {
        try await pool.withConnection { connection in
            try connection.transaction { connection in
                guard let row = try connection.query("""
                    UPDATE cip_entities SET deleted_at = to_timestamp($3::bigint / 1e6)
                    WHERE entity_id = $1 AND tenant = $2 AND deleted_at IS NULL RETURNING device_id
                    """, [entityID, tenant, atMicros]).first else { return .notFound }
                let deviceID: String = try row.decode("device_id")
                try connection.query("""
                    UPDATE devices SET lifecycle_state = 'decommissioned', updated_at = now() WHERE device_id = $1
                    """, [deviceID])
                try connection.query("""
                    INSERT INTO device_history (device_id, from_state, to_state, action, actor, reason, client)
                    VALUES ($1, 'active', 'decommissioned', 'decommission', $2, $3, $2)
                    """, [deviceID, writer, "NGSI-LD entity \(entityID) deleted"])
                return .updated(deviceID: deviceID)
            }
        }
    }

    private static func owned(_ value: OpenValue, by deviceID: String) -> OpenValue {
        var value = value
        value.deviceID = deviceID
        return value
    }

    /// Names one write by the entity and its values with their times, not by when it arrived: a client that sends
    /// the same write again (a retry after a timeout) stores it once. Values without a time of their own got the time
    /// they arrived, so two such writes stay two.
    private static func key(_ write: OpenEntityWrite) -> [UInt8] {
        var text = "ngsi-ld|\(write.entityID)"
        for value in write.values { text += "|\(value.quantity)=\(value.number.map { "\($0)" } ?? value.text ?? value.boolean.map { "\($0)" } ?? "")@\(value.observedAtMicros)" }
        return SHA256.hash(Array(text.utf8))
    }
}
