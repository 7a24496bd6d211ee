import Postgres

/// Events the gateway itself concludes from what devices sent (an unplanned unlock, a safe-zone exit or return):
/// stored in `events` beside the devices' own, so the alarm engine raises their alarms from the catalogue like any
/// other. `events` stays written by one home: `IngestStore`.
extension IngestStore {
    /// Stores one derived event in the caller's transaction, taking the events' advisory lock first (ids commit in
    /// order). A replay with the same `messageKey`, event and source adds nothing; true when it was stored.
    @discardableResult
    public static func insertDerivedEvent(deviceId: String, event: String, observedMicros: Int64, attributesJSON: String,
                                          confidentiality: Int, messageKey: [UInt8], sourcePath: String,
                                          on connection: PostgresConnection) throws(PostgresError) -> Bool {
        try connection.query(AdvisoryLock.statement(AdvisoryLock.events))
        return try connection.query("""
            INSERT INTO events (device_id, event, observed_at, received_at, attributes, confidentiality, message_key, source_path)
            VALUES ($1, $2, \(PostgresSQL.timestamp(micros: "$3::bigint")), clock_timestamp(), $4::jsonb, $5::smallint, $6, $7)
            ON CONFLICT DO NOTHING
            RETURNING id
            """, [deviceId, event, observedMicros, attributesJSON, confidentiality, messageKey, sourcePath]).count == 1
    }
}
