import Postgres
import Telemetry

public struct PostgresTelemetryRepository: TelemetryRepository {
    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    private static func us(_ column: String) -> String { "\(PostgresSQL.epochMicros(column)) AS \(column)_us" }
    private static let valueColumns = """
        quantity, value_number, value_string, value_boolean, value_data, value_sum, unit,
        \(us("observed_at")), \(us("received_at")), message_key, confidentiality
        """

    public func deviceIsKnown(_ deviceID: String) async throws -> Bool {
        try await pool.withConnection { connection in
            let rows = try connection.query("""
                SELECT EXISTS (SELECT 1 FROM latest_observations WHERE device_id = $1)
                    OR EXISTS (SELECT 1 FROM raw_messages WHERE device_id = $1) AS known
                """, [deviceID])
            return try rows.single().decode("known", as: Bool.self)
        }
    }

    public func observations(_ query: ObservationQuery) async throws -> [Observation] {
        try await pool.withConnection { connection in
            var conditions = ["device_id = $1"]
            var parameters = PostgresParameters([query.deviceID])
            let epoch = "timestamptz 'epoch' + interval '1 microsecond' *"
            if let quantity = query.quantity { conditions.append("quantity = \(parameters.add(quantity))") }
            if query.maxConfidentiality < 3 {
                conditions.append("coalesce(confidentiality, 3) <= \(parameters.add(query.maxConfidentiality))::smallint")
            }
            if let from = query.fromMicros { conditions.append("observed_at >= \(epoch) \(parameters.add(from))::bigint") }
            if let to = query.toMicros { conditions.append("observed_at < \(epoch) \(parameters.add(to))::bigint") }
            if let after = query.after {
                let time = parameters.add(after.observedAtMicros)
                let quantity = parameters.add(after.quantity)
                let key = parameters.add(after.messageKey)
                let index = parameters.add(after.recordIndex)
                conditions.append("""
                    (observed_at, quantity, message_key, record_index)
                        < (\(epoch) \(time)::bigint, \(quantity), \(key)::bytea, \(index)::integer)
                    """)
            }
            let sql = """
                SELECT \(Self.valueColumns), record_index
                FROM observations WHERE \(conditions.joined(separator: " AND "))
                ORDER BY observed_at DESC, quantity DESC, message_key DESC, record_index DESC
                LIMIT \(parameters.add(query.limit))::integer
                """
            return try connection.query(sql, parameters.values).all.map { row throws(PostgresError) in try Self.observation(row, deviceID: query.deviceID) }
        }
    }

    public func latest(deviceID: String, maxConfidentiality: Int) async throws -> [Observation] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT \(Self.valueColumns), 0 AS record_index
                FROM latest_observations WHERE device_id = $1 AND coalesce(confidentiality, 3) <= $2::smallint
                ORDER BY quantity
                """, [deviceID, maxConfidentiality]).all.map { row throws(PostgresError) in try Self.observation(row, deviceID: deviceID) }
        }
    }

    public func recentMessages(deviceID: String, limit: Int) async throws -> [RawMessage] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT device_id, topic, payload, \(Self.us("received_at")),
                       message_key, journal_sequence, outcome,
                       records_accepted, records_rejected
                FROM raw_messages WHERE device_id = $1
                ORDER BY received_at DESC, message_key DESC LIMIT $2::integer
                """, [deviceID, limit]).all.map { row throws(PostgresError) in
                try RawMessage(
                    deviceID: row.decodeIfPresent("device_id"), topic: row.decode("topic"), payload: row.decode("payload"),
                    receivedAtMicros: row.decode("received_at_us"), messageKey: row.decode("message_key"),
                    journalSequence: row.decode("journal_sequence"), outcome: row.decode("outcome"),
                    recordsAccepted: row.decode("records_accepted"), recordsRejected: row.decode("records_rejected"))
            }
        }
    }

    public func deadLetters(limit: Int, beforeID: Int64?, tenants: [String]?) async throws -> [DeadLetter] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT id, \(Self.us("received_at")), topic, device_id, payload, reason,
                       nullif(record_index, -1) AS record_index, message_key
                FROM dead_letters l WHERE ($1::bigint IS NULL OR id < $1::bigint)
                  AND ($3::text[] IS NULL OR EXISTS (SELECT 1 FROM devices d WHERE d.device_id = l.device_id
                                                                               AND d.tenant = ANY($3::text[])))
                ORDER BY id DESC LIMIT $2::integer
                """, [beforeID, limit, tenants.map(PostgresArray.text)]).all.map { row throws(PostgresError) in
                try DeadLetter(
                    id: row.decode("id"), receivedAtMicros: row.decode("received_at_us"),
                    topic: row.decode("topic"), deviceID: row.decodeIfPresent("device_id"), payload: row.decode("payload"),
                    reason: row.decode("reason"), recordIndex: row.decodeIfPresent("record_index"),
                    messageKey: row.decode("message_key"))
            }
        }
    }

    private static func observation(_ row: PostgresRow, deviceID: String) throws(PostgresError) -> Observation {
        let value: ObservationValue
        if let number = try row.decodeIfPresent("value_number", as: Double.self) {
            value = .number(number)
        } else if let string = try row.decodeIfPresent("value_string", as: String.self) {
            value = .string(string)
        } else if let boolean = try row.decodeIfPresent("value_boolean", as: Bool.self) {
            value = .boolean(boolean)
        } else if let data = try row.decodeIfPresent("value_data", as: [UInt8].self) {
            value = .data(data)
        } else {
            value = .none
        }
        return try Observation(
            deviceID: deviceID, quantity: row.decode("quantity"), value: value,
            sum: row.decodeIfPresent("value_sum"), unit: row.decodeIfPresent("unit"),
            observedAtMicros: row.decode("observed_at_us"), receivedAtMicros: row.decode("received_at_us"),
            messageKey: row.decode("message_key"), recordIndex: row.decode("record_index"),
            confidentiality: row.decodeIfPresent("confidentiality"))
    }
}
