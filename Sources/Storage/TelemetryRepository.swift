import Postgres

/// Where the next page of observations starts (keyset pagination over the index order, newest first).
public struct ObservationCursor: Sendable, Equatable {
    public var observedAtMicros: Int64
    public var quantity: String
    public var messageKey: [UInt8]
    public var recordIndex: Int

    public init(observedAtMicros: Int64, quantity: String, messageKey: [UInt8], recordIndex: Int) {
        self.observedAtMicros = observedAtMicros
        self.quantity = quantity
        self.messageKey = messageKey
        self.recordIndex = recordIndex
    }

    public init(after observation: Observation) {
        self.init(observedAtMicros: observation.observedAtMicros, quantity: observation.quantity,
                  messageKey: observation.messageKey, recordIndex: observation.recordIndex)
    }
}

public struct ObservationQuery: Sendable {
    public var deviceID: String
    public var quantity: String?
    public var fromMicros: Int64?
    /// Exclusive upper bound.
    public var toMicros: Int64?
    public var limit: Int
    public var after: ObservationCursor?
    /// Values of a higher confidentiality class are left out (unclassified values count as class 3).
    public var maxConfidentiality: Int = 3

    public init(deviceID: String, quantity: String? = nil, fromMicros: Int64? = nil, toMicros: Int64? = nil,
                limit: Int, after: ObservationCursor? = nil, maxConfidentiality: Int = 3) {
        self.maxConfidentiality = maxConfidentiality
        self.deviceID = deviceID
        self.quantity = quantity
        self.fromMicros = fromMicros
        self.toMicros = toMicros
        self.limit = limit
        self.after = after
    }
}

/// Read access to what the pipeline stored; the API's view of storage.
public protocol TelemetryRepository: Sendable {
    /// True when the gateway has received anything from this device.
    func deviceIsKnown(_ deviceID: String) async throws -> Bool
    /// Newest first; at most `query.limit`.
    func observations(_ query: ObservationQuery) async throws -> [Observation]
    /// The newest value per quantity, of confidentiality class `maxConfidentiality` or lower.
    func latest(deviceID: String, maxConfidentiality: Int) async throws -> [Observation]
    /// Newest first.
    func recentMessages(deviceID: String, limit: Int) async throws -> [RawMessage]
    /// Newest first, strictly older than `beforeID` when given.
    /// With `tenants`, only dead letters of registered devices of those tenants.
    func deadLetters(limit: Int, beforeID: Int64?, tenants: [String]?) async throws -> [DeadLetter]
}

public struct PostgresTelemetryRepository: TelemetryRepository {
    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    private static func us(_ column: String) -> String { "\(PostgresSQL.epochMicros(column)) AS \(column)_us" }
    private static let valueColumns = """
        quantity, value_number, value_string, value_boolean, encode(value_data, 'hex') AS value_data, value_sum, unit,
        \(us("observed_at")), \(us("received_at")), encode(message_key, 'hex') AS message_key, confidentiality
        """

    public func deviceIsKnown(_ deviceID: String) async throws -> Bool {
        try await pool.withConnection { connection in
            let rows = try connection.query("""
                SELECT EXISTS (SELECT 1 FROM latest_observations WHERE device_id = $1)
                    OR EXISTS (SELECT 1 FROM raw_messages WHERE device_id = $1) AS known
                """, [deviceID])
            return rows.first?["known"] == "t"
        }
    }

    public func observations(_ query: ObservationQuery) async throws -> [Observation] {
        try await pool.withConnection { connection in
            var conditions = ["device_id = $1"]
            var parameters: [String?] = [query.deviceID]
            func parameter(_ value: String) -> String {
                parameters.append(value)
                return "$\(parameters.count)"
            }
            let epoch = "timestamptz 'epoch' + interval '1 microsecond' *"
            if let quantity = query.quantity { conditions.append("quantity = \(parameter(quantity))") }
            if query.maxConfidentiality < 3 {
                conditions.append("coalesce(confidentiality, 3) <= \(parameter(String(query.maxConfidentiality)))::smallint")
            }
            if let from = query.fromMicros { conditions.append("observed_at >= \(epoch) \(parameter(String(from)))::bigint") }
            if let to = query.toMicros { conditions.append("observed_at < \(epoch) \(parameter(String(to)))::bigint") }
            if let after = query.after {
                let time = parameter(String(after.observedAtMicros))
                let quantity = parameter(after.quantity)
                let key = parameter(Hex.encode(after.messageKey))
                let index = parameter(String(after.recordIndex))
                conditions.append("""
                    (observed_at, quantity, message_key, record_index)
                        < (\(epoch) \(time)::bigint, \(quantity), decode(\(key), 'hex'), \(index)::integer)
                    """)
            }
            let sql = """
                SELECT \(Self.valueColumns), record_index
                FROM observations WHERE \(conditions.joined(separator: " AND "))
                ORDER BY observed_at DESC, quantity DESC, message_key DESC, record_index DESC
                LIMIT \(parameter(String(query.limit)))::integer
                """
            return try connection.query(sql, parameters).all.map { Self.observation($0, deviceID: query.deviceID) }
        }
    }

    public func latest(deviceID: String, maxConfidentiality: Int) async throws -> [Observation] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT \(Self.valueColumns), 0 AS record_index
                FROM latest_observations WHERE device_id = $1 AND coalesce(confidentiality, 3) <= $2::smallint
                ORDER BY quantity
                """, [deviceID, String(maxConfidentiality)]).all.map { Self.observation($0, deviceID: deviceID) }
        }
    }

    public func recentMessages(deviceID: String, limit: Int) async throws -> [RawMessage] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT device_id, topic, encode(payload, 'hex') AS payload, \(Self.us("received_at")),
                       encode(message_key, 'hex') AS message_key, journal_sequence, outcome,
                       records_accepted, records_rejected
                FROM raw_messages WHERE device_id = $1
                ORDER BY received_at DESC, message_key DESC LIMIT $2::integer
                """, [deviceID, String(limit)]).all.map { row in
                RawMessage(
                    deviceID: row["device_id"], topic: row["topic"] ?? "", payload: unhex(row["payload"]),
                    receivedAtMicros: Int64(row["received_at_us"] ?? "") ?? 0, messageKey: unhex(row["message_key"]),
                    journalSequence: UInt64(row["journal_sequence"] ?? "") ?? 0,
                    outcome: MessageOutcome(rawValue: row["outcome"] ?? "") ?? .rejected,
                    recordsAccepted: Int(row["records_accepted"] ?? "") ?? 0,
                    recordsRejected: Int(row["records_rejected"] ?? "") ?? 0)
            }
        }
    }

    public func deadLetters(limit: Int, beforeID: Int64?, tenants: [String]?) async throws -> [DeadLetter] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT id, \(Self.us("received_at")), topic, device_id, encode(payload, 'hex') AS payload, reason,
                       record_index, encode(message_key, 'hex') AS message_key
                FROM dead_letters l WHERE ($1::bigint IS NULL OR id < $1::bigint)
                  AND ($3::text[] IS NULL OR EXISTS (SELECT 1 FROM devices d WHERE d.device_id = l.device_id
                                                                               AND d.tenant = ANY($3::text[])))
                ORDER BY id DESC LIMIT $2::integer
                """, [beforeID.map(String.init), String(limit), tenants.map(PostgresArray.text)]).all.map { row in
                let index = Int(row["record_index"] ?? "") ?? -1
                return DeadLetter(
                    id: Int64(row["id"] ?? ""), receivedAtMicros: Int64(row["received_at_us"] ?? "") ?? 0,
                    topic: row["topic"] ?? "", deviceID: row["device_id"], payload: unhex(row["payload"]),
                    reason: row["reason"] ?? "", recordIndex: index < 0 ? nil : index,
                    messageKey: unhex(row["message_key"]))
            }
        }
    }

    private static func observation(_ row: PostgresRow, deviceID: String) -> Observation {
        let value: ObservationValue
        if let number = row["value_number"].flatMap(Double.init) {
            value = .number(number)
        } else if let string = row["value_string"] {
            value = .string(string)
        } else if let boolean = row["value_boolean"] {
            value = .boolean(boolean == "t")
        } else if let data = row["value_data"] {
            value = .data(unhex(data))
        } else {
            value = .none
        }
        return Observation(
            deviceID: deviceID, quantity: row["quantity"] ?? "", value: value,
            sum: row["value_sum"].flatMap(Double.init), unit: row["unit"],
            observedAtMicros: Int64(row["observed_at_us"] ?? "") ?? 0,
            receivedAtMicros: Int64(row["received_at_us"] ?? "") ?? 0,
            messageKey: unhex(row["message_key"]), recordIndex: Int(row["record_index"] ?? "") ?? 0,
            confidentiality: row["confidentiality"].flatMap { Int($0) })
    }
}

/// Hex columns read back from the server (always well-formed); NULL is empty.
private func unhex(_ text: String?) -> [UInt8] {
    text.flatMap(Hex.decode) ?? []
}
