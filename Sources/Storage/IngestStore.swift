import Postgres

/// Writes ingest batches: one transaction per batch, rows streamed with COPY into per-connection staging tables,
/// then moved with `ON CONFLICT DO NOTHING` so that a replayed batch changes nothing.
public struct IngestStore: Sendable {
    public init() {}

    /// Staging tables hold times as microseconds since the epoch; they live as long as the session.
    private static let createStaging = """
        CREATE TEMP TABLE IF NOT EXISTS stage_observations (
            device_id text, quantity text, value_number double precision, value_string text,
            value_boolean boolean, value_data bytea, value_sum double precision, unit text,
            observed_us bigint, received_us bigint, message_key bytea, record_index integer
        ) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE IF NOT EXISTS stage_raw_messages (
            device_id text, topic text, payload bytea, received_us bigint, message_key bytea,
            journal_sequence bigint, outcome text, records_accepted integer, records_rejected integer
        ) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE IF NOT EXISTS stage_dead_letters (
            received_us bigint, topic text, device_id text, payload bytea, reason text,
            record_index integer, message_key bytea
        ) ON COMMIT DELETE ROWS;
        """

    private static let epoch = "timestamptz 'epoch' + interval '1 microsecond' *"

    private static let moveObservations = """
        INSERT INTO observations
        SELECT device_id, quantity, value_number, value_string, value_boolean, value_data, value_sum, unit,
               \(epoch) observed_us, \(epoch) received_us, message_key, record_index
        FROM stage_observations
        ON CONFLICT DO NOTHING
        """

    // The newest record per device and quantity in the batch replaces the stored one unless that is newer.
    private static let upsertLatest = """
        INSERT INTO latest_observations AS latest
            (device_id, quantity, value_number, value_string, value_boolean, value_data, value_sum, unit,
             observed_at, received_at, message_key)
        SELECT DISTINCT ON (device_id, quantity)
               device_id, quantity, value_number, value_string, value_boolean, value_data, value_sum, unit,
               \(epoch) observed_us, \(epoch) received_us, message_key
        FROM stage_observations
        ORDER BY device_id, quantity, observed_us DESC, received_us DESC, record_index DESC
        ON CONFLICT (device_id, quantity) DO UPDATE SET
            value_number = EXCLUDED.value_number, value_string = EXCLUDED.value_string,
            value_boolean = EXCLUDED.value_boolean, value_data = EXCLUDED.value_data,
            value_sum = EXCLUDED.value_sum, unit = EXCLUDED.unit, observed_at = EXCLUDED.observed_at,
            received_at = EXCLUDED.received_at, message_key = EXCLUDED.message_key
        WHERE latest.observed_at <= EXCLUDED.observed_at
        """

    private static let moveRawMessages = """
        INSERT INTO raw_messages
        SELECT device_id, topic, payload, \(epoch) received_us, message_key, journal_sequence, outcome,
               records_accepted, records_rejected
        FROM stage_raw_messages
        ON CONFLICT DO NOTHING
        """

    private static let moveDeadLetters = """
        INSERT INTO dead_letters (received_at, topic, device_id, payload, reason, record_index, message_key)
        SELECT \(epoch) received_us, topic, device_id, payload, reason, record_index, message_key
        FROM stage_dead_letters
        ON CONFLICT DO NOTHING
        """

    /// Writes the batch in one transaction; returns how many observations were new.
    @discardableResult
    public func write(_ batch: IngestBatch, on connection: PostgresConnection) throws -> Int {
        try connection.transaction { connection in
            try connection.execute(Self.createStaging)
            var inserted = 0
            if !batch.observations.isEmpty {
                try connection.copyIn("COPY stage_observations FROM STDIN", data: Self.encode(batch.observations))
                inserted = try connection.query(Self.moveObservations).affected
                try connection.query(Self.upsertLatest)
            }
            if !batch.rawMessages.isEmpty {
                try connection.copyIn("COPY stage_raw_messages FROM STDIN", data: Self.encode(batch.rawMessages))
                try connection.query(Self.moveRawMessages)
            }
            if !batch.deadLetters.isEmpty {
                try connection.copyIn("COPY stage_dead_letters FROM STDIN", data: Self.encode(batch.deadLetters))
                try connection.query(Self.moveDeadLetters)
            }
            return inserted
        }
    }

    /// The COPY text of observations as the staging table takes them (for benchmarks of the COPY path).
    public static func copyText(_ observations: [Observation]) -> [UInt8] { encode(observations) }

    static func encode(_ observations: [Observation]) -> [UInt8] {
        var copy = CopyEncoder(capacity: observations.count * 120)
        for row in observations {
            copy.text(row.deviceID)
            copy.text(row.quantity)
            switch row.value {
            case .number(let value): copy.double(value); copy.null(); copy.null(); copy.null()
            case .string(let value): copy.null(); copy.text(value); copy.null(); copy.null()
            case .boolean(let value): copy.null(); copy.null(); copy.boolean(value); copy.null()
            case .data(let value): copy.null(); copy.null(); copy.null(); copy.bytea(value)
            case .none: copy.null(); copy.null(); copy.null(); copy.null()
            }
            copy.double(row.sum)
            copy.text(row.unit)
            copy.integer(row.observedAtMicros)
            copy.integer(row.receivedAtMicros)
            copy.bytea(row.messageKey)
            copy.integer(row.recordIndex)
            copy.endRow()
        }
        return copy.bytes
    }

    static func encode(_ messages: [RawMessage]) -> [UInt8] {
        var copy = CopyEncoder(capacity: messages.count * 300)
        for row in messages {
            copy.text(row.deviceID)
            copy.text(row.topic)
            copy.bytea(row.payload)
            copy.integer(row.receivedAtMicros)
            copy.bytea(row.messageKey)
            copy.integer(row.journalSequence)
            copy.text(row.outcome.rawValue)
            copy.integer(row.recordsAccepted)
            copy.integer(row.recordsRejected)
            copy.endRow()
        }
        return copy.bytes
    }

    static func encode(_ letters: [DeadLetter]) -> [UInt8] {
        var copy = CopyEncoder(capacity: letters.count * 300)
        for row in letters {
            copy.integer(row.receivedAtMicros)
            copy.text(row.topic)
            copy.text(row.deviceID)
            copy.bytea(row.payload)
            copy.text(row.reason)
            copy.integer(row.recordIndex ?? -1)
            copy.bytea(row.messageKey)
            copy.endRow()
        }
        return copy.bytes
    }
}
