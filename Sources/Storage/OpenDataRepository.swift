import Postgres

/// One open (class 1) value of a device, for the CIP facade.
public struct OpenValue: Sendable, Equatable {
    public var deviceID: String
    public var quantity: String
    public var number: Double?
    public var text: String?
    public var boolean: Bool?
    public var unit: String?
    public var observedAtMicros: Int64
}

/// A condition on an open value: `quantity op literal` (numbers compare numerically, text by equality).
public struct OpenValueCondition: Sendable, Equatable {
    public enum Operator: String, Sendable, CaseIterable { case equal = "==", notEqual = "!=", greater = ">", greaterOrEqual = ">=", less = "<", lessOrEqual = "<=" }
    public var quantity: String
    public var op: Operator
    public var number: Double?
    public var text: String?

    public init(quantity: String, op: Operator, number: Double?, text: String?) {
        self.quantity = quantity
        self.op = op
        self.number = number
        self.text = text
    }
}

/// Read access to open data only: the facade cannot reach a class 2 or 3 value through this type, because every
/// query it runs is restricted to `confidentiality = 1`.
public protocol OpenDataRepository: Sendable {
    /// Devices with open values (ids in order), after `offset`, at most `limit`, matching every condition.
    func devices(conditions: [OpenValueCondition], tenants: [String]?, offset: Int, limit: Int) async throws -> [String]
    /// The newest open values of these devices.
    func latest(deviceIDs: [String], quantities: [String]?) async throws -> [OpenValue]
    /// Open values of one device over time, newest first, at most `lastN` per quantity.
    func history(deviceID: String, quantities: [String]?, fromMicros: Int64?, toMicros: Int64?, lastN: Int) async throws -> [OpenValue]
    /// The tenant of a device, to scope single-entity reads; nil when it is not registered.
    func tenant(of deviceID: String) async throws -> String??
}

public struct PostgresOpenDataRepository: OpenDataRepository {
    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    public func devices(conditions: [OpenValueCondition], tenants: [String]?, offset: Int, limit: Int) async throws -> [String] {
        try await pool.withConnection { connection in
            var parameters: [String?] = [tenants.map(PostgresArray.text), String(limit), String(offset)]
            func parameter(_ value: String?) -> String {
                parameters.append(value)
                return "$\(parameters.count)"
            }
            var clauses: [String] = []
            for condition in conditions {
                let quantity = parameter(condition.quantity)
                let comparison: String
                if let number = condition.number {
                    comparison = "c.value_number \(condition.op.rawValue == "==" ? "=" : condition.op.rawValue) \(parameter(String(number)))::float8"
                } else {
                    comparison = "c.value_string \(condition.op == .equal ? "=" : "<>") \(parameter(condition.text))"
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
                """, parameters).all.compactMap { $0["device_id"] }
        }
    }

    private static let columns = """
        device_id, quantity, value_number, value_string, value_boolean, unit,
        \(PostgresSQL.epochMicros("observed_at")) AS observed_us
        """

    private static func value(_ row: PostgresRow) -> OpenValue {
        OpenValue(deviceID: row["device_id"] ?? "", quantity: row["quantity"] ?? "",
                  number: row["value_number"].flatMap(Double.init), text: row["value_string"],
                  boolean: row["value_boolean"].map { $0 == "t" }, unit: row["unit"],
                  observedAtMicros: row["observed_us"].flatMap { Int64($0) } ?? 0)
    }

    public func latest(deviceIDs: [String], quantities: [String]?) async throws -> [OpenValue] {
        guard !deviceIDs.isEmpty else { return [] }
        return try await pool.withConnection { connection in
            try connection.query("""
                SELECT \(Self.columns) FROM latest_observations
                WHERE confidentiality = 1 AND device_id = ANY($1::text[]) AND ($2::text[] IS NULL OR quantity = ANY($2::text[]))
                ORDER BY device_id, quantity
                """, [PostgresArray.text(deviceIDs), quantities.map(PostgresArray.text)]).all.map(Self.value)
        }
    }

    public func history(deviceID: String, quantities: [String]?, fromMicros: Int64?, toMicros: Int64?, lastN: Int) async throws -> [OpenValue] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT \(Self.columns) FROM (
                    SELECT *, row_number() OVER (PARTITION BY quantity ORDER BY observed_at DESC) AS n
                    FROM observations
                    WHERE device_id = $1 AND confidentiality = 1 AND ($2::text[] IS NULL OR quantity = ANY($2::text[]))
                      AND ($3::bigint IS NULL OR observed_at >= to_timestamp($3::bigint / 1e6))
                      AND ($4::bigint IS NULL OR observed_at < to_timestamp($4::bigint / 1e6))
                ) o WHERE n <= $5::integer ORDER BY quantity, observed_at DESC
                """, [deviceID, quantities.map(PostgresArray.text), fromMicros.map(String.init), toMicros.map(String.init),
                      String(lastN)]).all.map(Self.value)
        }
    }

    public func tenant(of deviceID: String) async throws -> String?? {
        try await pool.withConnection { connection in
            guard let row = try connection.query(
                "SELECT tenant FROM devices WHERE device_id = $1 AND lifecycle_state <> 'decommissioned'", [deviceID]).first
            else { return nil }
            return .some(row["tenant"])
        }
    }
}
