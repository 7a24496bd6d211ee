import Foundation
import Postgres
@testable import Storage
import Telemetry
import Testing

extension IntegrationTests {
    /// The one statement that appends device events (issue 16: one round trip for the fast path), tried with what
    /// the two writers send it: a batch inside the pipeline's transaction, one alarm on its own with an
    /// asynchronous commit, repeats of both, odd text, and times at the edges.
    @Suite struct EventStore {
        static func event(_ device: String, _ name: String, observed: Int64, key: UInt8, path: String = "/0",
                          attributes: [String: String] = [:]) -> DeviceEvent {
            DeviceEvent(deviceID: device, event: name, observedAtMicros: observed, receivedAtMicros: observed + 7,
                        attributes: attributes, confidentiality: 2, messageKey: [UInt8](repeating: key, count: 16), sourcePath: path)
        }

        @Test("events are stored exactly (times to the microsecond, attributes, keys), in observed order, once")
        func storedExactlyInOrder() throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let connection = try database.connect()
            defer { connection.close() }
            let early: Int64 = 946_684_800_000_001   // 2000-01-01 00:00:00.000001
            let late: Int64 = 4_102_444_799_999_999  // 2099-12-31 23:59:59.999999
            let odd = ["quote": #"a "b" \c"#, "unicode": "Nödlarm ☎", "braces": "{x}, {y}"]
            let events = [
                Self.event("dev-a", "sos", observed: late, key: 1, attributes: odd),
                Self.event("dev-a", "fall", observed: early, key: 2, path: #"/{"x"}"#),
                Self.event("dev-b", "sos", observed: early, key: 3),
            ]
            try connection.transaction { try IngestStore.insertEvents(events, on: $0) }
            let rows = try connection.query("""
                SELECT device_id, event, \(PostgresSQL.epochMicros("observed_at")) AS observed,
                       \(PostgresSQL.epochMicros("received_at")) AS received, attributes::text AS attributes,
                       confidentiality, message_key, source_path
                FROM events ORDER BY id
                """).all
            // Ids follow the observed time; equal times keep the order they were given in.
            #expect(try rows.map { try $0.decode("device_id", as: String.self) + "/" + $0.decode("event", as: String.self) }
                    == ["dev-a/fall", "dev-b/sos", "dev-a/sos"])
            #expect(try rows.map { try $0.decode("observed", as: Int64.self) } == [early, early, late])
            #expect(try rows.map { try $0.decode("received", as: Int64.self) } == [early + 7, early + 7, late + 7])
            #expect(try rows[0].decode("source_path", as: String.self) == #"/{"x"}"#)
            #expect(try rows[0].decode("message_key", as: [UInt8].self) == [UInt8](repeating: 2, count: 16))
            #expect(try rows[2].decode("confidentiality", as: Int.self) == 2)
            let stored = try JSONSerialization.jsonObject(with: Data(try rows[2].decode("attributes", as: String.self).utf8))
            #expect(stored as? [String: String] == odd)

            // The same events again, alone and with a new one: only the new one is added.
            try IngestStore.insertEvents(events, on: connection)
            try IngestStore.insertEvents(events + [Self.event("dev-c", "sos", observed: early, key: 4)], on: connection)
            #expect(try database.count("SELECT count(*) FROM events") == 4)
        }

        @Test("on its own (the fast path) it commits asynchronously, and only its own transaction; inside one, it leaves the commit alone")
        func asynchronousCommitStaysLocal() throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let connection = try database.connect()
            defer { connection.close() }
            try IngestStore.insertEvents([Self.event("dev-a", "sos", observed: 1_760_000_000_000_000, key: 9)],
                                         asynchronousCommit: true, on: connection)
            // Visible to another session at once (an asynchronous commit is a commit).
            #expect(try database.count("SELECT count(*) FROM events") == 1)
            // The setting was the statement's transaction's only.
            #expect(try connection.query("SHOW synchronous_commit").single().decode("synchronous_commit", as: String.self) == "on")
            let inside = try connection.transaction { connection -> String in
                try IngestStore.insertEvents([Self.event("dev-a", "fall", observed: 1_760_000_000_000_001, key: 10)], on: connection)
                return try connection.query("SHOW synchronous_commit").single().decode("synchronous_commit")
            }
            #expect(inside == "on")
            try IngestStore.insertEvents([], asynchronousCommit: true, on: connection)  // nothing to do, no statement
            #expect(try database.count("SELECT count(*) FROM events") == 2)
        }

        @Test("what the pipeline leaves out before taking the lock: exactly the events stored already, by key, event and path")
        func notStored() throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let connection = try database.connect()
            defer { connection.close() }
            let stored = Self.event("dev-a", "sos", observed: 1_760_000_000_000_000, key: 1)
            try IngestStore.insertEvents([stored], on: connection)
            var otherEvent = stored; otherEvent.event = "fall"
            var otherPath = stored; otherPath.sourcePath = "/1"
            var otherKey = stored; otherKey.messageKey[15] = 0
            let candidates = [stored, otherEvent, otherPath, otherKey, stored]
            #expect(try IngestStore.notStored(candidates, on: connection) == [otherEvent, otherPath, otherKey])
            #expect(try IngestStore.notStored([], on: connection).isEmpty)
        }
    }
}
