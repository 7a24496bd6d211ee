import Foundation
@testable import Postgres
import Retention
import Testing

extension IntegrationTests {
    /// Retention on the real stack (issue 14): a real gateway purges what the catalogue and the settings say has
    /// expired, keeps everything else, and the append-only care records give way only to the purge functions.
    @Suite(.serialized) struct Retention {
        /// The database with a little of everything, some of it expired, put in place as old rows (no clock games).
        static func seeded() throws -> TestDatabase {
            let database = try TestDatabase.create()
            try database.register(["ret-gps", "ret-lock", "ret-sensor"], type: "sensor")
            let connection = try database.connect()
            defer { connection.close() }
            try connection.execute("""
                SELECT cip_ensure_daily_partitions('observations', current_date - 734, current_date - 733);
                SELECT cip_ensure_daily_partitions('observations', current_date - 100, current_date - 99);
                SELECT cip_ensure_daily_partitions('observations', current_date - 40, current_date - 39);
                SELECT cip_ensure_daily_partitions('raw_messages', current_date - 10, current_date - 9);
                -- value rows: (device, quantity, days ago)
                INSERT INTO observations (device_id, quantity, value_number, observed_at, received_at, message_key, record_index, confidentiality)
                SELECT d, q, 1, now() - make_interval(days => a), now(), decode(md5(d || q || a || i), 'hex'), i, 3
                FROM (VALUES ('ret-gps', 'latitude', 734), ('ret-gps', 'temperature', 734),
                             ('ret-gps', 'latitude', 40), ('ret-sensor', 'temperature', 40),
                             ('ret-lock', 'lock_state', 100), ('ret-sensor', 'temperature', 100),
                             ('ret-gps', 'latitude', 50), ('ret-sensor', 'temperature', 50),
                             ('ret-gps', 'latitude', 0), ('ret-gps', 'not_in_catalogue', 800), ('ret-gps', 'not_in_catalogue', 40))
                     AS v(d, q, a), generate_series(1, 3) AS i;
                INSERT INTO latest_observations (device_id, quantity, value_number, observed_at, received_at, message_key, confidentiality)
                VALUES ('ret-gps', 'latitude', 1, now() - interval '40 days', now(), '\\x01', 3),
                       ('ret-sensor', 'temperature', 1, now() - interval '40 days', now(), '\\x02', 1),
                       ('ret-lock', 'latitude', 1, now() - interval '1 hour', now(), '\\x03', 3);
                INSERT INTO raw_messages (device_id, topic, payload, received_at, message_key, journal_sequence, outcome, records_accepted, records_rejected)
                VALUES ('ret-gps', 'devices/ret-gps/telemetry', '\\x7b7d', now() - interval '10 days' + interval '1 hour', '\\x10', 1, 'accepted', 1, 0),
                       ('ret-gps', 'devices/ret-gps/telemetry', '\\x7b7d', now() - interval '30 days', '\\x11', 2, 'accepted', 1, 0),
                       ('ret-gps', 'devices/ret-gps/telemetry', '\\x7b7d', now(), '\\x12', 3, 'accepted', 1, 0);
                INSERT INTO dead_letters (received_at, topic, device_id, payload, reason, message_key)
                VALUES (now() - interval '8 days', 't', 'ret-gps', '\\x00', 'old', '\\x20'),
                       (now() - interval '1 day', 't', 'ret-gps', '\\x00', 'recent', '\\x21');
                INSERT INTO events (device_id, event, observed_at, received_at, confidentiality, message_key, source_path)
                VALUES ('ret-gps', 'sos', now() - interval '2000 days', now() - interval '2000 days', 3, '\\x30', 'old'),
                       ('ret-gps', 'sos', now() - interval '1 day', now() - interval '1 day', 3, '\\x31', 'recent');
                UPDATE alarm_engine_cursor SET last_event = (SELECT max(id) FROM events);
                UPDATE lock_monitor_cursor SET last_event = (SELECT max(id) FROM events);
                INSERT INTO alarms (device_id, type, kind, priority, state, raised_at, opened_at, last_triggered_at, ack_deadline,
                                    resolved_at, confidentiality, source_event_id, note)
                VALUES ('ret-gps', 'sos', 'care', 1, 'resolved', now() - interval '2000 days', now() - interval '2000 days',
                        now() - interval '2000 days', now() - interval '2000 days', now() - interval '1999 days', 3, 1, 'old-closed'),
                       ('ret-gps', 'fall', 'care', 1, 'open', now() - interval '2000 days', now() - interval '2000 days',
                        now() - interval '2000 days', now() - interval '2000 days', NULL, 3, 1, 'old-open'),
                       ('ret-lock', 'sos', 'care', 1, 'resolved', now() - interval '400 days', now() - interval '400 days',
                        now() - interval '400 days', now() - interval '400 days', now() - interval '399 days', 3, 1, 'young-closed');
                INSERT INTO alarm_changes (alarm_id, change, actor, at)
                SELECT id, 'opened', 'gateway', raised_at FROM alarms;
                INSERT INTO alarm_changes (alarm_id, change, actor, at)
                SELECT id, 'resolved', 'operator', resolved_at FROM alarms WHERE resolved_at IS NOT NULL;
                INSERT INTO device_history (device_id, to_state, action, actor, at)
                VALUES ('ret-gps', 'active', 'old-1', 'test', now() - interval '2000 days'),
                       ('ret-gps', 'active', 'old-2', 'test', now() - interval '1990 days'),
                       ('ret-gps', 'active', 'newest', 'test', now() - interval '1900 days');
                INSERT INTO audit_log (at, client, roles, method, endpoint, path, records, class, status)
                VALUES (now() - interval '2000 days', 'old-reader', 'auditor', 'GET', '/x', '/x', 1, 3, 200),
                       (now() - interval '10 days', 'recent-reader', 'auditor', 'GET', '/x', '/x', 1, 3, 200);
                """)
            return database
        }

        @Test("a run purges exactly what has expired, per quantity, per table, and reports it")
        func aRunPurgesWhatHasExpired() async throws {
            let database = try Self.seeded()
            defer { database.drop() }
            let beforeHistory = try database.count("SELECT count(*) FROM device_history WHERE device_id = 'ret-lock'")
            let gateway = GatewayProcess(databaseURL: database.url)
            gateway.extraEnvironment = ["CIP_RETENTION_FIRST_RUN_DELAY": "0", "CIP_RETENTION_INTERVAL": "3600"]
            defer { gateway.cleanUp() }
            try gateway.start()
            try await gateway.waitUntilReady()
            let finished = try await eventually(timeout: 60) {
                try database.count("SELECT count(*) FROM retention_runs") >= 1
            }
            #expect(finished, "log: \(gateway.logTail())")
            #expect(try database.strings("SELECT coalesce(error, '') FROM retention_runs") == [""])

            // Observations: the 734-day partition dropped whole; latitude (30 days) gone from days 40 and 50 (a day
            // partition and the default one), lock_state (90) from day 100; temperature (730) kept everywhere else.
            #expect(try database.count("SELECT count(*) FROM pg_class WHERE relname = 'observations_p' || to_char(current_date - 734, 'YYYYMMDD')") == 0)
            func stored(_ quantity: String, _ days: Int) throws -> Int {
                try database.count("SELECT count(*) FROM observations WHERE quantity = $1 AND observed_at::date = current_date - $2::integer",
                                   [quantity, days])
            }
            #expect(try stored("latitude", 734) == 0)
            #expect(try stored("temperature", 734) == 0)
            #expect(try stored("latitude", 40) == 0)
            #expect(try stored("latitude", 50) == 0)
            #expect(try stored("lock_state", 100) == 0)
            #expect(try stored("temperature", 40) == 3)
            #expect(try stored("temperature", 50) == 3)
            #expect(try stored("temperature", 100) == 3)
            #expect(try stored("latitude", 0) == 3)
            // A quantity the catalogue does not know goes with the longest retention (730 days), not before.
            #expect(try stored("not_in_catalogue", 800) == 0)
            #expect(try stored("not_in_catalogue", 40) == 3)
            // Latest values older than their quantity's retention.
            #expect(try database.strings("SELECT device_id || '/' || quantity FROM latest_observations ORDER BY 1")
                    == ["ret-lock/latitude", "ret-sensor/temperature"])
            // Raw messages (7 days): the 10-day partition dropped, the 30-day one in the default partition deleted.
            #expect(try database.strings("SELECT encode(message_key, 'hex') FROM raw_messages") == ["12"])
            #expect(try database.strings("SELECT reason FROM dead_letters") == ["recent"])
            // Care records (5 years): old events, closed alarms with their timelines; an open alarm is never purged.
            #expect(try database.strings("SELECT source_path FROM events ORDER BY id") == ["recent"])
            #expect(try database.strings("SELECT note FROM alarms ORDER BY id") == ["old-open", "young-closed"])
            #expect(try database.count("SELECT count(*) FROM alarm_changes WHERE change = 'opened'") == 2, "the purged alarm's timeline went with it")
            #expect(try database.count("SELECT count(*) FROM alarm_changes WHERE change = 'resolved'") == 1)
            #expect(try database.strings("SELECT action FROM device_history WHERE device_id = 'ret-gps'") == ["newest"])
            #expect(try database.count("SELECT count(*) FROM device_history WHERE device_id = 'ret-lock'") == beforeHistory)
            #expect(try database.strings("SELECT client FROM audit_log WHERE client LIKE '%-reader'") == ["recent-reader"])

            // Visible: the run's counts in /readyz and the metrics, retention in the catalogue.
            let ready = try gateway.httpGet("/readyz")
            let readyBody = try #require(try JSONSerialization.jsonObject(with: Data(ready.body.utf8)) as? [String: Any])
            let section = try #require(readyBody["retention"] as? [String: Any], "\(ready.body)")
            #expect(section["lastRunFinishedAt"] is String)
            let deleted = try #require(section["lastRunDeleted"] as? [String: Int])
            // Day 734 dropped (6 rows), latitude of days 40 and 50, lock_state of day 100, the unknown quantity of day 800.
            #expect(deleted["observations"] == 18, "\(deleted)")
            #expect(deleted["latest_observations"] == 1, "\(deleted)")
            #expect(deleted["raw_messages"] == 2)
            #expect(deleted["audit_log"] == 1)
            #expect(deleted["alarms"] == 3, "one alarm and its two changes")
            let metrics = try gateway.httpGet("/metrics").body
            #expect(metrics.contains(#"cip_retention_deleted_total{table="raw_messages"} 2"#), "\(metrics.split(separator: "\n").filter { $0.contains("retention") })")
            let models = try gateway.httpGet("/integration/v1/models").body
            let catalogue = try #require(try JSONSerialization.jsonObject(with: Data(models.utf8)) as? [String: Any])
            let retention = try #require(catalogue["retention"] as? [String: Int])
            #expect(retention["rawMessageDays"] == 7 && retention["careRecordDays"] == 1_826 && retention["auditDays"] == 1_826)

            // The append-only tables still refuse anyone else's DELETE; the purge functions never go below the
            // owner's floors, whatever the gateway's role asks, and judge an alarm's age by its timeline.
            let connection = try database.connect()
            defer { connection.close() }
            #expect(throws: (any Error).self) { try connection.execute("DELETE FROM audit_log") }
            #expect(throws: (any Error).self) { try connection.execute("DELETE FROM alarm_changes") }
            let gatewayRole = try PostgresConnection(url: database.url)
            defer { gatewayRole.close() }
            let alarmsBefore = try database.count("SELECT count(*) FROM alarms")
            // An attacker with the gateway's role closes a young alarm and backdates it, on the alarm and on its
            // timeline: the purge ignores it (the timeline's times are the database's own for anyone but the owner).
            _ = try gatewayRole.query("UPDATE alarms SET state = 'resolved', resolved_at = '2000-01-01', raised_at = '2000-01-01' WHERE note = 'old-open'")
            _ = try gatewayRole.query("""
                INSERT INTO alarm_changes (alarm_id, change, actor, at) SELECT id, 'resolved', 'x', '2000-01-01' FROM alarms WHERE note = 'old-open'
                """)
            #expect(try gatewayRole.query("SELECT cip_retention_purge_alarms(0, 100) AS n").single().decode("n", as: Int64.self) == 0)
            #expect(try gatewayRole.query("SELECT cip_retention_purge_audit(1, 100) AS n").single().decode("n", as: Int64.self) == 0)
            #expect(try gatewayRole.query("SELECT cip_retention_purge_device_history(1, 100) AS n").single().decode("n", as: Int64.self) == 0)
            #expect(try database.count("SELECT count(*) FROM alarms") == alarmsBefore)
            #expect(throws: (any Error).self) {
                try gatewayRole.execute("SELECT cip_retention_drop_partition('devices', 'devices_p20200101')")
            }
            #expect(throws: (any Error).self, "younger than the observations' floor (730 days)") {
                try gatewayRole.execute("SELECT cip_retention_drop_partition('observations', 'observations_p' || to_char(current_date - 40, 'YYYYMMDD'))")
            }
            #expect(throws: (any Error).self, "only the owner sets the floors") {
                try gatewayRole.execute("UPDATE retention_floors SET care_record_days = 30")
            }
        }

        @Test("events the alarm engine or the lock monitor has not read yet are never purged, however old")
        func unreadEventsStay() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let connection = try database.connect()
            defer { connection.close() }
            try connection.execute("""
                INSERT INTO events (device_id, event, observed_at, received_at, confidentiality, message_key, source_path)
                SELECT 'x', 'sos', now() - interval '2000 days', now() - interval '2000 days', 3, decode(md5(i::text), 'hex'), 'e' || i
                FROM generate_series(1, 5) AS i;
                UPDATE alarm_engine_cursor SET last_event = (SELECT min(id) + 3 FROM events);
                UPDATE lock_monitor_cursor SET last_event = (SELECT min(id) + 1 FROM events);
                """)
            let pool = PostgresPool(url: database.url, size: 1, logger: TestStack.logger)
            let store = PostgresRetentionStore(pool: pool)
            let cutoff = Int64(Date().timeIntervalSince1970) - 1_826 * 86_400
            let step = try await store.step(.purgeEvents(expiredBefore: cutoff), cursor: 0, limits: RetentionLimits())
            #expect(step.deleted == 2, "only the two both readers have read")
            #expect(try database.strings("SELECT source_path FROM events ORDER BY id") == ["e3", "e4", "e5"])
            await pool.shutDown()
        }

        @Test("a purged day is not scanned again, unless late values arrived in it; ingest goes on during a run")
        func lateValuesInAPurgedDayArePurgedByTheNextRun() async throws {
            let database = try Self.seeded()
            defer { database.drop() }
            let gateway = GatewayProcess(databaseURL: database.url)
            gateway.extraEnvironment = ["CIP_RETENTION_FIRST_RUN_DELAY": "0", "CIP_RETENTION_INTERVAL": "2"]
            defer { gateway.cleanUp() }
            try gateway.start()
            try await gateway.waitUntilReady()
            #expect(try await eventually(timeout: 60) { try database.count("SELECT count(*) FROM retention_runs") >= 1 })
            let day40 = try database.strings("SELECT 'observations_p' || to_char(current_date - 40, 'YYYYMMDD')")[0]
            #expect(try database.count("SELECT count(*) FROM retention_purged_partitions WHERE partition_name = $1 AND retention_days = 30",
                                       [day40]) == 1)
            // A device that was offline for 40 days sends its old positions now, through the broker.
            let publisher = try makePublisher("retention-late")
            defer { publisher.stop() }
            let old = Int(Date().timeIntervalSince1970) - 40 * 86_400
            try publisher.publish(topic: "devices/ret-gps/telemetry",
                                  payload: Array(#"[{"bt":\#(old),"n":"temperature","u":"Cel","v":4.5}]"#.utf8), qos: 1)
            try database.connect().execute("""
                INSERT INTO observations (device_id, quantity, value_number, observed_at, received_at, message_key, record_index, confidentiality)
                VALUES ('ret-gps', 'latitude', 9, now() - interval '40 days', now(), '\\x99', 0, 3)
                """)
            #expect(try await eventually(timeout: 60) {
                try database.count("SELECT count(*) FROM observations WHERE value_number = 9") == 0
            }, "the late latitude of a purged day is purged by a later run; log: \(gateway.logTail())")
            #expect(try await eventually(timeout: 30) {
                try database.count("SELECT count(*) FROM observations WHERE value_number = 4.5") == 1
            }, "the late temperature (730 days) is kept")
        }
    }
}
