import Postgres
import Telemetry

/// The CIP tier's reads in PostgreSQL: entities are registered devices with open values and the live entities other
/// systems wrote (`cip_entities`, whose home is the registry); every value query is restricted to class 1.
public struct PostgresOpenDataRepository: OpenDataRepository {
    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    /// Every entity the tier knows, with its id, type IRI, tenant and location: external entities by their row,
    /// registered devices (not external, not decommissioned) when they have an open value.
    private static func entitySource(_ parameters: inout PostgresParameters) -> String {
        let type = parameters.add(OpenEntity.deviceType)
        return """
            SELECT x.device_id, x.entity_id, x.entity_type, x.tenant, x.latitude, x.longitude,
                   \(PostgresSQL.epochMicros("x.created_at")) AS created_us, \(PostgresSQL.epochMicros("x.modified_at")) AS modified_us
            FROM cip_entities x WHERE x.deleted_at IS NULL
            UNION ALL
            SELECT d.device_id, 'urn:ngsi-ld:Device:' || d.device_id, \(type)::text, d.tenant, NULL::float8, NULL::float8,
                   \(PostgresSQL.epochMicros("d.created_at")), \(PostgresSQL.epochMicros("d.updated_at"))
            FROM devices d
            WHERE d.lifecycle_state <> 'decommissioned' AND d.type <> 'external'
              AND EXISTS (SELECT 1 FROM latest_observations l WHERE l.device_id = d.device_id AND l.confidentiality = 1)
            """
    }

    private static func filtered(_ query: OpenEntityQuery, _ parameters: inout PostgresParameters) -> String {
        var clauses = ["TRUE"]
        if let tenants = query.tenants { clauses.append("e.tenant = ANY(\(parameters.add(PostgresArray.text(tenants)))::text[])") }
        if let types = query.types { clauses.append("e.entity_type = ANY(\(parameters.add(PostgresArray.text(types)))::text[])") }
        if let ids = query.ids { clauses.append("e.entity_id = ANY(\(parameters.add(PostgresArray.text(ids)))::text[])") }
        if let devices = query.deviceIDs { clauses.append("e.device_id = ANY(\(parameters.add(PostgresArray.text(devices)))::text[])") }
        for condition in query.conditions {
            let quantity = parameters.add(condition.quantity)
            var comparison = "TRUE"
            if let op = condition.op {
                let sqlOp = op == .equal ? "=" : op == .notEqual ? "<>" : op.rawValue
                if let number = condition.number {
                    comparison = "c.value_number \(sqlOp) \(parameters.add(number))::float8"
                } else if let text = condition.text {
                    comparison = "c.value_string \(sqlOp) \(parameters.add(text))"
                } else if let boolean = condition.boolean {
                    comparison = "c.value_boolean \(sqlOp) \(parameters.add(boolean))"
                }
            }
            clauses.append("""
                EXISTS (SELECT 1 FROM latest_observations c WHERE c.device_id = e.device_id
                        AND c.confidentiality = 1 AND c.quantity = \(quantity) AND \(comparison))
                """)
        }
        if let geo = query.geo {
            clauses.append("e.latitude IS NOT NULL")
            switch geo {
            case .near(let center, let maxMeters, let minMeters):
                let distance = """
                    (2 * \(OpenGeoFilter.earthRadiusMeters) * asin(least(1, sqrt(
                        sin(radians(e.latitude - \(parameters.add(center.latitude))::float8) / 2) ^ 2
                        + cos(radians(\(parameters.add(center.latitude))::float8)) * cos(radians(e.latitude))
                          * sin(radians(e.longitude - \(parameters.add(center.longitude))::float8) / 2) ^ 2))))
                    """
                if let maxMeters { clauses.append("\(distance) <= \(parameters.add(maxMeters))::float8") }
                if let minMeters { clauses.append("\(distance) >= \(parameters.add(minMeters))::float8") }
            case .inside(let ring), .outside(let ring):
                let polygon = "(" + ring.map { "(\($0.longitude),\($0.latitude))" }.joined(separator: ",") + ")"
                let test = "\(parameters.add(polygon))::polygon @> point(e.longitude, e.latitude)"
                clauses.append(geo == .inside(ring) ? test : "NOT (\(test))")
            case .at(let point):
                clauses.append("e.latitude = \(parameters.add(point.latitude))::float8 AND e.longitude = \(parameters.add(point.longitude))::float8")
            }
        }
        return clauses.joined(separator: "\n  AND ")
    }

    public func entities(_ query: OpenEntityQuery, offset: Int, limit: Int) async throws -> [OpenEntity] {
        guard limit > 0 else { return [] }
        return try await pool.withConnection { connection in try Self.entities(query, offset: offset, limit: limit, on: connection) }
    }

    /// `entities` on the caller's connection (the subscription matcher reads them inside its transaction).
    public static func entities(_ query: OpenEntityQuery, offset: Int, limit: Int, on connection: PostgresConnection) throws(PostgresError) -> [OpenEntity] {
        var parameters = PostgresParameters()
        let source = entitySource(&parameters)
        let filter = filtered(query, &parameters)
        return try connection.query("""
            SELECT * FROM (\(source)) e WHERE \(filter)
            ORDER BY e.entity_id LIMIT \(parameters.add(limit))::integer OFFSET \(parameters.add(offset))::integer
            """, parameters.values).all.map { row throws(PostgresError) in try Self.entity(row) }
    }

    public func count(_ query: OpenEntityQuery) async throws -> Int {
        try await pool.withConnection { connection in
            var parameters = PostgresParameters()
            let source = Self.entitySource(&parameters)
            let filter = Self.filtered(query, &parameters)
            guard let row = try connection.query("SELECT count(*)::bigint AS n FROM (\(source)) e WHERE \(filter)", parameters.values).first else {
                return 0
            }
            return Int(try row.decode("n") as Int64)
        }
    }

    public func entity(id: String, tenants: [String]?) async throws -> OpenEntity? {
        try await entities(OpenEntityQuery(ids: [id], tenants: tenants), offset: 0, limit: 1).first
    }

    private static func entity(_ row: PostgresRow) throws(PostgresError) -> OpenEntity {
        let latitude: Double? = try row.decodeIfPresent("latitude")
        let longitude: Double? = try row.decodeIfPresent("longitude")
        return try OpenEntity(
            deviceID: row.decode("device_id"), entityID: row.decode("entity_id"), entityType: row.decode("entity_type"),
            tenant: row.decode("tenant"),
            location: latitude.flatMap { lat in longitude.map { OpenPoint(latitude: lat, longitude: $0) } },
            createdAtMicros: row.decode("created_us"), modifiedAtMicros: row.decode("modified_us"))
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
        return try await pool.withConnection { connection in try Self.latest(deviceIDs: deviceIDs, quantities: quantities, on: connection) }
    }

    /// `latest` on the caller's connection.
    public static func latest(deviceIDs: [String], quantities: [String]?, on connection: PostgresConnection) throws(PostgresError) -> [OpenValue] {
        try connection.query("""
            SELECT \(Self.columns) FROM latest_observations
            WHERE confidentiality = 1 AND device_id = ANY($1::text[]) AND ($2::text[] IS NULL OR quantity = ANY($2::text[]))
            ORDER BY device_id, quantity
            """, [PostgresArray.text(deviceIDs), quantities.map(PostgresArray.text)]).all.map { row throws(PostgresError) in try Self.value(row) }
    }

    public func history(deviceID: String, quantities: [String]?, fromMicros: Int64?, toMicros: Int64?, lastN: Int,
                        newestFirst: Bool) async throws -> [OpenValue] {
        try await pool.withConnection { connection in
            // The time bounds are written only when given: as `($3 IS NULL OR observed_at >= ...)` a prepared
            // statement's generic plan could not leave out the day partitions outside them.
            var parameters = PostgresParameters([deviceID, quantities.map(PostgresArray.text), lastN])
            var bounds = ""
            if let fromMicros { bounds += " AND observed_at >= to_timestamp(\(parameters.add(fromMicros))::bigint / 1e6)" }
            if let toMicros { bounds += " AND observed_at < to_timestamp(\(parameters.add(toMicros))::bigint / 1e6)" }
            let order = newestFirst ? "DESC" : "ASC"
            return try connection.query("""
                SELECT \(Self.columns) FROM (
                    SELECT *, row_number() OVER (PARTITION BY quantity ORDER BY observed_at \(order)) AS n
                    FROM observations
                    WHERE device_id = $1 AND confidentiality = 1 AND ($2::text[] IS NULL OR quantity = ANY($2::text[]))\(bounds)
                ) o WHERE n <= $3::integer ORDER BY quantity, observed_at \(order)
                """, parameters.values).all.map { row throws(PostgresError) in try Self.value(row) }
        }
    }

    public func aggregate(deviceID: String, quantities: [String]?, fromMicros: Int64, toMicros: Int64,
                          periodMicros: Int64) async throws -> [OpenAggregate] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT quantity, b.start_us, count(*)::bigint AS n, sum(value_number) AS total, avg(value_number) AS average,
                       min(value_number) AS lowest, max(value_number) AS highest
                FROM observations,
                     LATERAL (SELECT $3::bigint + ((\(PostgresSQL.epochMicros("observed_at")) - $3::bigint) / $5::bigint) * $5::bigint AS start_us) b
                WHERE device_id = $1 AND confidentiality = 1 AND ($2::text[] IS NULL OR quantity = ANY($2::text[]))
                  AND observed_at >= to_timestamp($3::bigint / 1e6) AND observed_at < to_timestamp($4::bigint / 1e6)
                GROUP BY quantity, b.start_us ORDER BY quantity, b.start_us
                """, [deviceID, quantities.map(PostgresArray.text), fromMicros, toMicros, periodMicros]).all.map { row throws(PostgresError) in
                let start: Int64 = try row.decode("start_us")
                return try OpenAggregate(
                    quantity: row.decode("quantity"), periodStartMicros: start, periodEndMicros: min(start + periodMicros, toMicros),
                    count: Int(row.decode("n") as Int64), sum: row.decodeIfPresent("total"), average: row.decodeIfPresent("average"),
                    minimum: row.decodeIfPresent("lowest"), maximum: row.decodeIfPresent("highest"))
            }
        }
    }

    public func typesAndAttributes(tenants: [String]?) async throws -> (types: [String: Int], attributes: [String: Set<String>]) {
        try await pool.withConnection { connection in
            var parameters = PostgresParameters()
            let source = Self.entitySource(&parameters)
            let tenantFilter = tenants.map { "e.tenant = ANY(\(parameters.add(PostgresArray.text($0)))::text[])" } ?? "TRUE"
            var types: [String: Int] = [:]
            var attributes: [String: Set<String>] = [:]
            for row in try connection.query("""
                SELECT DISTINCT e.entity_type, l.quantity FROM (\(source)) e
                JOIN latest_observations l ON l.device_id = e.device_id AND l.confidentiality = 1
                WHERE \(tenantFilter)
                """, parameters.values).all {
                attributes[try row.decode("quantity"), default: []].insert(try row.decode("entity_type"))
            }
            for row in try connection.query("""
                SELECT e.entity_type, count(*)::bigint AS n FROM (\(source)) e WHERE \(tenantFilter) GROUP BY e.entity_type
                """, parameters.values).all {
                types[try row.decode("entity_type")] = Int(try row.decode("n") as Int64)
            }
            return (types, attributes)
        }
    }
}
