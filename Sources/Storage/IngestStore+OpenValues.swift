import Postgres
import Telemetry

extension IngestStore {
    /// Stores values another city system wrote through the CIP tier (class 1, checked against the catalogue) as
    /// observations of its external device, and moves `latest_observations` forward where they are newer; on the
    /// caller's connection, inside its transaction. `messageKey` names the write: the same write stored twice is
    /// stored once.
    public static func insertOpenValues(_ values: [OpenValue], messageKey: [UInt8], receivedAtMicros: Int64,
                                        on connection: PostgresConnection) throws(PostgresError) {
        guard !values.isEmpty else { return }
        let numbers = values.map { $0.number.map { float8Text($0) } }
        let parameters: [(any PostgresBindable)?] = [
            PostgresArray.text(values.map(\.deviceID)), PostgresArray.text(values.map(\.quantity)),
            PostgresArray.text(numbers), PostgresArray.text(values.map(\.text)),
            PostgresArray.text(values.map { $0.boolean.map { $0 ? "true" : "false" } }), PostgresArray.text(values.map(\.unit)),
            PostgresArray.text(values.map { String($0.observedAtMicros) }), receivedAtMicros, messageKey,
        ]
        let rows = """
            SELECT d, q, n::float8 AS value_number, s AS value_string, b::boolean AS value_boolean, u AS unit,
                   to_timestamp(o::bigint / 1e6) AS observed_at, to_timestamp($8::bigint / 1e6) AS received_at,
                   $9::bytea AS message_key, (i - 1)::integer AS record_index
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
                 WITH ORDINALITY AS x(d, q, n, s, b, u, o, i)
            """
        try connection.query("""
            INSERT INTO observations (device_id, quantity, value_number, value_string, value_boolean, unit, observed_at,
                                      received_at, message_key, record_index, confidentiality)
            SELECT d, q, value_number, value_string, value_boolean, unit, observed_at, received_at, message_key, record_index, 1
            FROM (\(rows)) v ON CONFLICT DO NOTHING
            """, parameters)
        try connection.query("""
            INSERT INTO latest_observations AS latest (device_id, quantity, value_number, value_string, value_boolean, unit,
                                                       observed_at, received_at, message_key, confidentiality)
            SELECT DISTINCT ON (d, q) d, q, value_number, value_string, value_boolean, unit, observed_at, received_at, message_key, 1
            FROM (\(rows)) v ORDER BY d, q, observed_at DESC, record_index DESC
            ON CONFLICT (device_id, quantity) DO UPDATE SET
                value_number = EXCLUDED.value_number, value_string = EXCLUDED.value_string,
                value_boolean = EXCLUDED.value_boolean, value_data = NULL, value_sum = NULL, unit = EXCLUDED.unit,
                observed_at = EXCLUDED.observed_at, received_at = EXCLUDED.received_at, message_key = EXCLUDED.message_key,
                confidentiality = 1
            WHERE latest.observed_at <= EXCLUDED.observed_at
            """, parameters)
    }

    /// A number as text PostgreSQL reads back as the same float8 (shortest round-trip form).
    private static func float8Text(_ number: Double) -> String { "\(number)" }
}
