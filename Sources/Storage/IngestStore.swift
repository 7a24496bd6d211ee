import Foundation
import Models
import Postgres
import Telemetry

/// Writes ingest batches, one transaction per batch, with binary COPY.
///
/// The fast path copies straight into the tables inside a savepoint. A batch that repeats rows already stored
/// (a journal replay after a crash, a broker redelivery) makes that COPY fail on a unique index; the batch is then
/// rolled back to the savepoint and written through staging tables with `ON CONFLICT DO NOTHING`, so a repeated
/// write changes nothing. Repeats are rare, so nearly every batch takes the fast path.
public struct IngestStore: Sendable {
    public init() {}

    public static let observationColumns = """
        device_id, quantity, value_number, value_string, value_boolean, value_data, value_sum, unit,
        observed_at, received_at, message_key, record_index, confidentiality
        """
    static let rawMessageColumns = """
        device_id, topic, payload, received_at, message_key, journal_sequence, outcome, records_accepted, records_rejected
        """
    static let latestColumns = """
        device_id, quantity, value_number, value_string, value_boolean, value_data, value_sum, unit,
        observed_at, received_at, message_key, confidentiality
        """
    static let eventColumns = """
        device_id, event, observed_at, received_at, attributes, confidentiality, message_key, source_path
        """
    static let deadLetterColumns = "received_at, topic, device_id, payload, reason, record_index, message_key"

    /// Session staging tables, shaped like their targets; emptied at every commit.
    private static let createStaging = """
        CREATE TEMP TABLE IF NOT EXISTS stage_observations (LIKE observations) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE IF NOT EXISTS stage_raw_messages (LIKE raw_messages) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE IF NOT EXISTS stage_latest (LIKE latest_observations) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE IF NOT EXISTS stage_dead_letters (
            received_at timestamptz, topic text, device_id text, payload bytea, reason text,
            record_index integer, message_key bytea
        ) ON COMMIT DELETE ROWS;
        """

    // The newest record per device and quantity replaces the stored one unless that is newer.
    private static let upsertLatest = """
        INSERT INTO latest_observations AS latest (\(latestColumns))
        SELECT \(latestColumns) FROM stage_latest
        ON CONFLICT (device_id, quantity) DO UPDATE SET
            value_number = EXCLUDED.value_number, value_string = EXCLUDED.value_string,
            value_boolean = EXCLUDED.value_boolean, value_data = EXCLUDED.value_data,
            value_sum = EXCLUDED.value_sum, unit = EXCLUDED.unit, observed_at = EXCLUDED.observed_at,
            received_at = EXCLUDED.received_at, message_key = EXCLUDED.message_key,
            confidentiality = EXCLUDED.confidentiality
        WHERE latest.observed_at <= EXCLUDED.observed_at
        """

    /// Writes the batch, and `latest` into `latest_observations`, in one transaction; returns how many
    /// observations were new. `latest` may hold values of earlier batches: the pipeline coalesces them.
    @discardableResult
    public func write(_ batch: IngestBatch, latest: [Observation], on connection: PostgresConnection) throws -> Int {
        let observations = batch.observations.isEmpty ? nil : Self.encode(batch.observations)
        let rawMessages = batch.rawMessages.isEmpty ? nil : Self.encode(batch.rawMessages)
        return try connection.transaction { connection in
            try connection.execute(Self.createStaging)
            var inserted = 0
            try connection.execute("SAVEPOINT fast_path")
            do {
                if let observations {
                    inserted = try connection.copyIn("COPY observations (\(Self.observationColumns)) FROM STDIN BINARY",
                                                     data: observations)
                }
                if let rawMessages {
                    try connection.copyIn("COPY raw_messages (\(Self.rawMessageColumns)) FROM STDIN BINARY", data: rawMessages)
                }
                try connection.execute("RELEASE SAVEPOINT fast_path")
            } catch let error as PostgresError where error.sqlState == "23505" {
                // Some rows are stored already: take the idempotent path for this batch.
                try connection.execute("ROLLBACK TO SAVEPOINT fast_path")
                inserted = try writeSkippingDuplicates(observations: observations, rawMessages: rawMessages, on: connection)
            }
            if !latest.isEmpty {
                try connection.copyIn("COPY stage_latest (\(Self.latestColumns)) FROM STDIN BINARY",
                                      data: Self.encodeLatest(latest))
                try connection.query(Self.upsertLatest)
            }
            // Most events of a batch were written by the fast path already: those are left out before the events'
            // lock is taken, which this transaction would otherwise hold through its commit while the fast path
            // waits with the next alarm.
            let events = try Self.notStored(batch.events, on: connection)
            if !events.isEmpty {
                try Self.insertEvents(events, on: connection)
            }
            if !batch.deadLetters.isEmpty {
                try connection.copyIn("COPY stage_dead_letters (\(Self.deadLetterColumns)) FROM STDIN BINARY",
                                      data: Self.encode(batch.deadLetters))
                try connection.query("""
                    INSERT INTO dead_letters (\(Self.deadLetterColumns))
                    SELECT \(Self.deadLetterColumns) FROM stage_dead_letters ON CONFLICT DO NOTHING
                    """)
            }
            if !batch.unknownDevices.isEmpty {
                try Self.recordUnknownDevices(batch.unknownDevices, on: connection)
            }
            return inserted
        }
    }

    /// Appends events (in their observed order) in one statement that first takes the events' advisory lock, so
    /// ids commit in order; repeats (same message key, event and source path) are skipped. Inside a transaction
    /// it is part of it; outside one (the fast path) it is its own, in a single round trip, and with
    /// `asynchronousCommit` its commit does not wait for the WAL to reach the disk.
    public static func insertEvents(_ events: [DeviceEvent], asynchronousCommit: Bool = false,
                                    on connection: PostgresConnection) throws {
        guard !events.isEmpty else { return }
        try connection.query("""
            WITH first AS (
                SELECT CASE WHEN $9::bool THEN set_config('synchronous_commit', 'off', true) END,
                       pg_advisory_xact_lock(\(AdvisoryLock.events))
            )
            INSERT INTO events (\(Self.eventColumns))
            SELECT e.device_id, e.event, timestamptz 'epoch' + e.observed * interval '1 microsecond',
                   timestamptz 'epoch' + e.received * interval '1 microsecond', e.attributes::jsonb,
                   e.confidentiality::smallint, e.message_key, e.source_path
            FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::int[], $7::bytea[], $8::text[])
                 WITH ORDINALITY AS e(device_id, event, observed, received, attributes, confidentiality, message_key, source_path, n)
            CROSS JOIN first
            ORDER BY e.observed, e.n
            ON CONFLICT DO NOTHING
            """, [
                PostgresArray.text(events.map(\.deviceID)),
                PostgresArray.text(events.map(\.event)),
                PostgresArray.text(events.map(\.observedAtMicros)),
                PostgresArray.text(events.map(\.receivedAtMicros)),
                PostgresArray.text(events.map { jsonObject($0.attributes) }),
                PostgresArray.text(events.map(\.confidentiality)),
                PostgresArray.text(events.map { "\\x" + Hex.encode($0.messageKey) }),
                PostgresArray.text(events.map(\.sourcePath)),
                asynchronousCommit,
            ])
    }

    /// The events not stored yet (by message key, event and source path: the events' unique key). One that is
    /// being stored concurrently and not committed yet is not seen here; `insertEvents` skips it then.
    static func notStored(_ events: [DeviceEvent], on connection: PostgresConnection) throws -> [DeviceEvent] {
        guard !events.isEmpty else { return [] }
        struct Key: Hashable { var messageKey: [UInt8], event: String, sourcePath: String }
        let stored = try connection.query("""
            SELECT e.message_key, e.event, e.source_path
            FROM unnest($1::bytea[], $2::text[], $3::text[]) AS k(message_key, event, source_path)
            JOIN events e USING (message_key, event, source_path)
            """, [
                PostgresArray.text(events.map { "\\x" + Hex.encode($0.messageKey) }),
                PostgresArray.text(events.map(\.event)),
                PostgresArray.text(events.map(\.sourcePath)),
            ]).all.map { row in
                Key(messageKey: try row.decode("message_key"), event: try row.decode("event"), sourcePath: try row.decode("source_path"))
            }
        guard !stored.isEmpty else { return events }
        let known = Set(stored)
        return events.filter { !known.contains(Key(messageKey: $0.messageKey, event: $0.event, sourcePath: $0.sourcePath)) }
    }

    /// Adds the batch's sightings to the unknown-device inventory. A replay after a crash counts its messages again:
    /// the count is a gauge of activity, not an exact tally (the raw messages are the exact record).
    static func recordUnknownDevices(_ sightings: [UnknownDeviceSighting], on connection: PostgresConnection) throws {
        try connection.query("""
            INSERT INTO unknown_devices AS unknown (device_id, first_seen, last_seen, message_count, last_topic)
            SELECT id, to_timestamp(first / 1e6), to_timestamp(last / 1e6), count, topic
            FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[]) AS s(id, first, last, count, topic)
            ON CONFLICT (device_id) DO UPDATE SET
                first_seen = least(unknown.first_seen, EXCLUDED.first_seen),
                last_seen = greatest(unknown.last_seen, EXCLUDED.last_seen),
                message_count = unknown.message_count + EXCLUDED.message_count,
                last_topic = CASE WHEN EXCLUDED.last_seen >= unknown.last_seen THEN EXCLUDED.last_topic
                                  ELSE unknown.last_topic END
            """, [
                PostgresArray.text(sightings.map(\.deviceID)),
                PostgresArray.text(sightings.map(\.firstSeenMicros)),
                PostgresArray.text(sightings.map(\.lastSeenMicros)),
                PostgresArray.text(sightings.map(\.count)),
                PostgresArray.text(sightings.map(\.lastTopic)),
            ])
    }

    private func writeSkippingDuplicates(observations: [UInt8]?, rawMessages: [UInt8]?,
                                         on connection: PostgresConnection) throws -> Int {
        var inserted = 0
        if let observations {
            try connection.copyIn("COPY stage_observations (\(Self.observationColumns)) FROM STDIN BINARY", data: observations)
            inserted = try connection.query("""
                INSERT INTO observations (\(Self.observationColumns))
                SELECT \(Self.observationColumns) FROM stage_observations ON CONFLICT DO NOTHING
                """).affected
        }
        if let rawMessages {
            try connection.copyIn("COPY stage_raw_messages (\(Self.rawMessageColumns)) FROM STDIN BINARY", data: rawMessages)
            try connection.query("""
                INSERT INTO raw_messages (\(Self.rawMessageColumns))
                SELECT \(Self.rawMessageColumns) FROM stage_raw_messages ON CONFLICT DO NOTHING
                """)
        }
        return inserted
    }

    /// The binary COPY of observations (public for the COPY benchmark).
    public static func copyData(_ observations: [Observation]) -> [UInt8] { encode(observations) }

    static func encode(_ observations: [Observation]) -> [UInt8] {
        var copy = CopyBinaryEncoder(columns: 13, capacity: observations.count * 160)
        for row in observations {
            encodeRow(row, into: &copy)
            copy.int4(row.recordIndex)
            copy.int2(row.confidentiality)
        }
        return copy.finish()
    }

    /// `latest_observations` rows: the newest of `observations` per device and quantity (one row per key,
    /// which the upsert requires).
    static func encodeLatest(_ observations: [Observation]) -> [UInt8] {
        var latest = LatestValues()
        latest.merge(observations)
        var copy = CopyBinaryEncoder(columns: 12, capacity: latest.count * 150)
        for row in latest.rows {
            encodeRow(row, into: &copy)
            copy.int2(row.confidentiality)
        }
        return copy.finish()
    }

    /// The columns observations and latest values share, from device_id to message_key.
    private static func encodeRow(_ row: Observation, into copy: inout CopyBinaryEncoder) {
        copy.startRow()
        copy.text(row.deviceID)
        copy.text(row.quantity)
        encodeValue(row, into: &copy)
        copy.timestamp(micros: row.observedAtMicros)
        copy.timestamp(micros: row.receivedAtMicros)
        copy.bytea(row.messageKey)
    }

    /// value_number, value_string, value_boolean, value_data, value_sum, unit
    private static func encodeValue(_ row: Observation, into copy: inout CopyBinaryEncoder) {
        switch row.value {
        case .number(let value): copy.float8(value); copy.null(); copy.null(); copy.null()
        case .string(let value): copy.null(); copy.text(value); copy.null(); copy.null()
        case .boolean(let value): copy.null(); copy.null(); copy.boolean(value); copy.null()
        case .data(let value): copy.null(); copy.null(); copy.null(); copy.bytea(value)
        case .none: copy.null(); copy.null(); copy.null(); copy.null()
        }
        copy.float8(row.sum)
        copy.text(row.unit)
    }

    static func encode(_ messages: [RawMessage]) -> [UInt8] {
        var copy = CopyBinaryEncoder(columns: 9, capacity: messages.count * 250)
        for row in messages {
            copy.startRow()
            copy.text(row.deviceID)
            copy.text(row.topic)
            copy.bytea(row.payload)
            copy.timestamp(micros: row.receivedAtMicros)
            copy.bytea(row.messageKey)
            copy.int8(Int64(row.journalSequence))
            copy.text(row.outcome.rawValue)
            copy.int4(row.recordsAccepted)
            copy.int4(row.recordsRejected)
        }
        return copy.finish()
    }

    /// A flat JSON object of strings, keys sorted.
    static func jsonObject(_ attributes: [String: String]) -> String {
        func quoted(_ text: String) -> String {
            var out = "\""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case "\u{00}": continue  // jsonb cannot hold NUL
                default:
                    if scalar.value < 0x20 {
                        out += String(format: "\\u%04x", scalar.value)
                    } else {
                        out.unicodeScalars.append(scalar)
                    }
                }
            }
            return out + "\""
        }
        return "{" + attributes.sorted { $0.key < $1.key }.map { "\(quoted($0.key)):\(quoted($0.value))" }
            .joined(separator: ",") + "}"
    }

    static func encode(_ letters: [DeadLetter]) -> [UInt8] {
        var copy = CopyBinaryEncoder(columns: 7, capacity: letters.count * 300)
        for row in letters {
            copy.startRow()
            copy.timestamp(micros: row.receivedAtMicros)
            copy.text(row.topic)
            copy.text(row.deviceID)
            copy.bytea(row.payload)
            copy.text(row.reason)
            copy.int4(row.recordIndex ?? -1)
            copy.bytea(row.messageKey)
        }
        return copy.finish()
    }
}
