import Foundation
import Testing

extension IntegrationTests {
    /// A stalled alarm-stream consumer cannot make the gateway buffer without limit: it is disconnected after the
    /// changes it already had (no gap), and resumes with Last-Event-ID.
    @Suite(.serialized) struct StalledStream {
        @Test("a consumer that stops reading while 20,000 changes go by is disconnected with a gap-free prefix")
        func stalledConsumerIsDisconnected() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            try database.register(["stall-1"], type: "gps-alarm")
            let gateway = GatewayProcess(databaseURL: database.url)
            defer { gateway.cleanUp() }
            try gateway.start()
            try await gateway.waitUntilReady()
            let token = try #require(gateway.token)
            let fd = try connectLoopback(port: gateway.httpPort)
            defer { Glibc.close(fd) }
            let request = "GET /integration/v1/alarms/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n\r\n"
            _ = request.withCString { send(fd, $0, strlen($0), 0) }
            try await Task.sleep(for: .seconds(1))
            // 20,000 changes of about 1 KB each while the client reads nothing: far more than socket buffers hold.
            let connection = try database.connect()
            defer { connection.close() }
            try connection.execute("""
                INSERT INTO alarms (device_id, type, kind, priority, tenant, raised_at, last_triggered_at, ack_deadline, confidentiality, source_event_id)
                    VALUES ('stall-1', 'sos', 'care', 1, 'test', now(), now(), now() + interval '1 hour', 1, 1);
                INSERT INTO alarm_changes (alarm_id, change, actor, details)
                    SELECT a.id, 'retriggered', 'device', jsonb_build_object('pad', repeat('x', 1000))
                    FROM alarms a, generate_series(1, 20000);
                """)
            let first = try database.count("SELECT min(id) FROM alarm_changes")
            try await Task.sleep(for: .seconds(5))
            // Now read what the gateway sends until the response ends (its last chunk; the connection itself may
            // stay open for another request) or it closes the connection, or 60 s pass.
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            var ended = false
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                let count = recv(fd, &buffer, buffer.count, 0)
                if count == 0 { ended = true; break }
                if count < 0 { continue }
                received.append(contentsOf: buffer[0..<count])
                if received.suffix(7) == Array("\r\n0\r\n\r\n".utf8) { ended = true; break }
            }
            let text = String(decoding: received, as: UTF8.self)
            let ids = text.split(separator: "\n").compactMap { line in line.hasPrefix("id: ") ? Int(line.dropFirst(4)) : nil }
            #expect(ended, "the gateway kept the stalled stream open (\(ids.count) events so far)")
            #expect(ids.count < 20_000, "everything was buffered for the stalled consumer")
            #expect(ids == Array(first..<(first + ids.count)), "what it got must have no gap")
            #expect(gateway.logTail(20_000).contains("too slow"), "\(gateway.logTail())")
            // It resumes where it stopped, and gets the rest.
            let resumed = try SSEClient(port: gateway.httpPort, path: "/integration/v1/alarms/stream",
                                        lastEventID: Int64(ids.last ?? first - 1), token: token)
            defer { resumed.close() }
            #expect(await eventually(timeout: 30) { resumed.alarmEvents.count == 20_000 - ids.count },
                    "\(resumed.alarmEvents.count) of \(20_000 - ids.count)")
        }
    }
}
