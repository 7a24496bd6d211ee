import Foundation
import Testing

extension IntegrationTests {
    /// `cip-gateway serve` as an operator starts it.
    @Suite(.serialized) struct Serve {
        @Test("serve as the database's owner (one role for everything) migrates an empty database at start and is ready before any message arrives")
        func migratesAtStart() async throws {
            let database = try TestDatabase.createEmpty()
            defer { database.drop() }
            let gateway = GatewayProcess(databaseURL: database.ownerURL)
            defer { gateway.cleanUp() }
            try gateway.start()
            try await gateway.waitUntilReady()
            #expect(try database.count("SELECT count(*) FROM schema_migrations") >= 1)
            #expect(try database.count("SELECT count(*) FROM observations") == 0)
            let (status, body) = try gateway.httpGet("/readyz")
            #expect(status == 200)
            #expect(body.contains(#""database":"ok""#))
        }

        @Test("serve as the least-privileged gateway role on a database that is not migrated waits, says to run migrate as the owner, and starts once it ran")
        func leastPrivilegedServeDoesNotMigrate() async throws {
            let database = try TestDatabase.createEmpty()
            defer { database.drop() }
            let gateway = GatewayProcess(databaseURL: database.url)
            defer { gateway.cleanUp() }
            try gateway.start()
            let said = await eventually(timeout: 60) { gateway.logTail().contains("run `cip-gateway migrate` with the owner's DATABASE_URL first") }
            #expect(said, "log: \(gateway.logTail())")
            #expect(try gateway.httpStatus("/readyz") == 503)
            #expect(try database.count("SELECT count(*) FROM pg_class WHERE relname = 'schema_migrations'") == 0)

            let log = NSTemporaryDirectory() + TestStack.uniqueName("migrate") + ".log"
            defer { try? FileManager.default.removeItem(atPath: log) }
            let migrate = try ChildProcess([GatewayProcess.binary, "migrate", "--database-url", database.ownerURL],
                                           environment: TestStack.environment, logPath: log)
            #expect(migrate.wait() == 0)
            try await gateway.waitUntilReady()
            #expect(gateway.pid != nil)
        }

        @Test("SIGTERM stops the gateway cleanly after draining what it journaled")
        func stopsOnSIGTERM() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            try database.register(["sigterm-1"])
            let gateway = GatewayProcess(databaseURL: database.url)
            defer { gateway.cleanUp() }
            try gateway.start()
            try await gateway.waitUntilReady()
            let device = try makePublisher("sigterm-device")
            defer { device.stop() }
            for index in 0..<500 {
                try device.publish(topic: "devices/sigterm-1/telemetry",
                                   payload: Array(#"[{"bt":\#(1_760_000_000 + index),"n":"counter","v":\#(index)}]"#.utf8))
            }
            #expect(device.waitForAcknowledgements(timeout: 20))
            // Wait until the gateway has received (journaled) all 500, then stop it at once: whatever was not yet
            // committed must be drained before it exits.
            let received = await eventually(timeout: 20) {
                ((try? gateway.httpGet("/metrics").body) ?? "").contains("cip_mqtt_messages_total 500")
            }
            #expect(received)
            #expect(gateway.terminate() == 0)
            // Everything the gateway acknowledged before the stop is in the database, latest values included.
            #expect(try database.count("SELECT count(*) FROM observations") == 500)
            #expect(try database.count("SELECT value_number::int FROM latest_observations WHERE device_id = 'sigterm-1'") == 499)
            #expect(gateway.logTail().contains("ingest pipeline stopped"))
        }
    }
}

extension IntegrationTests.Serve {
    @Test("a broken catalogue stops serve with the file, the entry and the field")
    func brokenCatalogueStopsTheGateway() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("DataModels")
        let broken = NSTemporaryDirectory() + TestStack.uniqueName("datamodels")
        defer { try? FileManager.default.removeItem(atPath: broken) }
        try FileManager.default.copyItem(atPath: root.path, toPath: broken)
        let quantities = broken + "/catalogue/quantities.json"
        let text = try String(contentsOfFile: quantities, encoding: .utf8)
        // The first confidentiality in the file becomes 4, which no class is.
        let range = try #require(text.range(of: #""confidentiality": "#))
        let digit = text.index(range.upperBound, offsetBy: 0)
        try text.replacingCharacters(in: digit...digit, with: "4").write(toFile: quantities, atomically: true, encoding: .utf8)

        let gateway = GatewayProcess(databaseURL: TestStack.databaseURL)
        defer { gateway.cleanUp() }
        gateway.extraEnvironment["CIP_DATA_MODELS"] = broken
        try gateway.start()
        let status = gateway.waitForExit()
        #expect(status != 0)
        let log = gateway.logTail()
        #expect(log.contains("quantities.json"))
        #expect(log.contains("classification.confidentiality"))
        #expect(log.contains("must be 1, 2 or 3"))
    }
}
