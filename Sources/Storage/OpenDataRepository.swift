import Postgres
import Telemetry

public struct PostgresOpenDataRepository: OpenDataRepository {
    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    public func devices(conditions: [OpenValueCondition], tenants: [String]?, offset: Int, limit: Int) async throws -> [String] {
        try await pool.withConnection { connection in
            var parameters = PostgresParameters([tenants.map(PostgresArray.text), limit, offset])
            var clauses: [String] = []
            for condition in conditions {
                let quantity = parameters.add(condition.quantity)
                let comparison: String
                if let number = condition.number {
                    comparison = "c.value_number \(condition.op.rawValue == "==" ? "=" : condition.op.rawValue) \(parameters.add(number))::float8"
                } else {
                    comparison = "c.value_string \(condition.op == .equal ? "=" : "<>") \(parameters.add(condition.text))"
                }
                clauses.append("""
                    AND EXISTS (SELECT 1 FROM latest_observations c WHERE c.device_id = l.device_id
                                AND c.confidentiality = 1 AND c.quantity = \(quantity) AND \(comparison))
                    """)
            }
            return try connection.query("""
                SELECT DISTINCT l.device_id FROM latest_observations l JOIN devices d ON d.device_id = l.device_id
                WHERE l.confidentiality = 1 AND d.lifecycle_state <> 'decommissioned'
                  AND ($1::text[] IS NULL OR d.tenant = ANY($1::text[]))
                  \(clauses.joined(separator: "\n"))
                ORDER BY l.device_id LIMIT $2::integer OFFSET $3::integer
                """, parameters.values).all.map { row throws(PostgresError) in try row.decode("device_id") }
        }
    }

    private static let columns = """
        device_id, quantity, value_number, value_string, value_boolean, unit,
        \(PostgresSQL.epochMicros("observed_at")) AS observed_us
        """

    private static func value(_ row: PostgresRow) throws(PostgresError) -> OpenValue {
        try OpenValue(deviceID: row.decode("device_id"), quantity: row.decode("quantity"),
                      number: row.decodeIfPresent("value_number"), text: row.decodeIfPresent("value_string"),
                      boolean: row.decodeIfPresent("value_boolean"), unit: row.decodeIfPresent("unit"),
                      observedAtMicros: row.decode("observed_us"))
    }

    public func latest(deviceIDs: [String], quantities: [String]?) async throws -> [OpenValue] {
        guard !deviceIDs.isEmpty else { return [] }
        return try await pool.withConnection { connection in
            try connection.query("""
                SELECT \(Self.columns) FROM latest_observations
                WHERE confidentiality = 1 AND device_id = ANY($1::text[]) AND ($2::text[] IS NULL OR quantity = ANY($2::text[]))
                ORDER BY device_id, quantity
                """, [PostgresArray.text(deviceIDs), quantities.map(PostgresArray.text)]).all.map { row throws(PostgresError) in try Self.value(row) }
        }
    }

    public func history(deviceID: String, quantities: [String]?, fromMicros: Int64?, toMicros: Int64?, lastN: Int) async throws -> [OpenValue] {
        try await pool.withConnection { connection in
            // The time bounds are written only when given: as `($3 IS NULL OR observed_at >= ...)` a prepared
            // statement's generic plan could not leave out the day partitions outside them.
            var parameters = PostgresParameters([deviceID, quantities.map(PostgresArray.text), lastN])
            var bounds = ""
            if let fromMicros { bounds += " AND observed_at >= to_timestamp(\(parameters.add(fromMicros))::bigint / 1e6)" }
            if let toMicros { bounds += " AND observed_at < to_timestamp(\(parameters.add(toMicros))::bigint / 1e6)" }
            return try connection.query("""
                SELECT \(Self.columns) FROM (
                    SELECT *, row_number() OVER (PARTITION BY quantity ORDER BY observed_at DESC) AS n
                    FROM observations
                    WHERE device_id = $1 AND confidentiality = 1 AND ($2::text[] IS NULL OR quantity = ANY($2::text[]))\(bounds)
                ) o WHERE n <= $3::integer ORDER BY quantity, observed_at DESC
                """, parameters.values).all.map { row throws(PostgresError) in try Self.value(row) }
        }
    }

    public func tenant(of deviceID: String) async throws -> String?? {
        try await pool.withConnection { connection in
            guard let row = try connection.query(
                "SELECT tenant FROM devices WHERE device_id = $1 AND lifecycle_state <> 'decommissioned'", [deviceID]).first
            else { return nil }
            return .some(try row.decodeIfPresent("tenant"))
        }
    }
}
