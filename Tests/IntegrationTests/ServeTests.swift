import Foundation
import Testing

extension IntegrationTests {
    /// `cip-gateway serve` as an operator starts it.
    @Suite(.serialized) struct Serve {
        @Test("serve migrates an empty database at start and is ready before any message arrives")
        func migratesAtStart() async throws {
            let database = try TestDatabase.createEmpty()
            defer { database.drop() }
            let gateway = GatewayProcess(databaseURL: database.url)
            defer { gateway.cleanUp() }
            try gateway.start()
            try await gateway.waitUntilReady()
            #expect(try database.count("SELECT count(*) FROM schema_migrations") >= 1)
            #expect(try database.count("SELECT count(*) FROM observations") == 0)
            let (status, body) = try gateway.httpGet("/readyz")
            #expect(status == 200)
            #expect(body.contains(#""database":"ok""#))
        }

        @Test("SIGTERM stops the gateway cleanly after draining what it journaled")
        func stopsOnSIGTERM() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let gateway = GatewayProcess(databaseURL: database.url)
            defer { gateway.cleanUp() }
            try gateway.start()
            try await gateway.waitUntilReady()
            let device = try makePublisher("sigterm-device")
            defer { device.stop() }
            for index in 0..<500 {
                try device.publish(topic: "devices/sigterm-1/telemetry",
                                   payload: Array(#"[{"bt":\#(1_760_000_000 + index),"n":"v","v":\#(index)}]"#.utf8))
            }
            #expect(device.waitForAcknowledgements(timeout: 20))
            #expect(gateway.terminate() == 0)
            // Everything acknowledged before the stop is in the database, latest values included.
            #expect(try database.count("SELECT count(*) FROM observations") == 500)
            #expect(try database.count("SELECT value_number::int FROM latest_observations WHERE device_id = 'sigterm-1'") == 499)
            #expect(gateway.logTail().contains("ingest pipeline stopped"))
        }
    }
}
