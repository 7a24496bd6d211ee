import Foundation
import Ingest
import Models
import Postgres
import Registry
import Storage
import Testing

extension IntegrationTests {
    /// Registered devices' messages go through the catalogue: the adapter chosen by type and model, catalogue
    /// quantities in canonical units with their class, events in their own table, rejected values dead-lettered.
    @Suite(.serialized) struct CatalogueIngest {
        static func normalizer() throws -> CatalogueNormalizer {
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("DataModels")
            return try CatalogueNormalizer(catalogue: try TestStack.catalogue(),
                                           mappings: try VendorMapping.loadAll(from: root.appendingPathComponent("mappings")))
        }

        static func register(_ database: TestDatabase, _ rows: [(String, String, String?)]) async throws {
            let repository = PostgresDeviceRepository(pool: PostgresPool(url: database.url, size: 1, logger: TestStack.logger))
            let imported = rows.enumerated().map { index, row in
                ImportedRow(line: index + 2, row: DeviceImportRow(
                    deviceId: row.0, serialNumber: "SN-\(row.0)", type: row.1, vendor: nil, model: row.2,
                    firmwareVersion: nil, tenant: "elderly-care", placement: nil, careRecipientRef: nil, tags: []))
            }
            let result = try await repository.register(imported, actor: "test", claimValiditySeconds: 3600)
            #expect(result.rejected.isEmpty)
        }

        @Test("vendor JSON, SenML and SCAIP from registered devices land as catalogue values and events")
        func normalizesRegisteredDevices() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            try await Self.register(database, [("gps-9", "gps-alarm", "tryggpos-tp3"), ("sensor-9", "sensor", nil),
                                               ("safety-9", "safety-alarm", nil), ("lock-9", "digital-lock", nil)])
            let suspend = PostgresDeviceRepository(pool: PostgresPool(url: database.url, size: 1, logger: TestStack.logger))
            _ = try await suspend.apply(.decommission, to: "lock-9", actor: "test", reason: "lost")

            try await Pipeline.withGateway(database: database, catalogue: try Self.normalizer()) { _ in
                let device = try makePublisher("catalogue-device")
                defer { device.stop() }
                let messages: [(String, String)] = [
                    ("devices/gps-9/telemetry", """
                        {"imei":"359881234567890","t":1760000000,"pos":{"lat":59.329323,"lon":18.068581,"acc":12.5,"spd":4.5,"fix":"3D"},
                         "bat":{"pct":76,"chg":true,"low":false},"gsm":{"rssi":-85},"sos":true,"fall":false,"zone":{"state":"EXITED","id":"home"}}
                        """),
                    ("devices/sensor-9/telemetry", #"[{"bt":1760000000,"n":"temperature","u":"[degF]","v":68},{"n":"no_such_thing","v":1},{"n":"humidity","u":"%RH","v":41.5}]"#),
                    ("devices/safety-9/events", """
                        <?xml version="1.0" encoding="UTF-8"?><mrq><ref>ab12</ref><cid>0046701234567</cid><dty>0003</dty>
                        <mty>ME</mty><stc>0010</stc><pri>1</pri><lte>Hallway</lte></mrq>
                        """),
                    ("devices/lock-9/telemetry", #"[{"bt":1760000000,"n":"lock_state","vs":"locked"}]"#),
                    ("devices/unregistered-9/telemetry", #"[{"bt":1760000000,"n":"whatever","v":1}]"#),
                ]
                for (topic, payload) in messages {
                    try device.publish(topic: topic, payload: Array(payload.utf8))
                }
                #expect(device.waitForAcknowledgements(timeout: 10))
                #expect(try await eventually(timeout: 20) { try database.count("SELECT count(*) FROM raw_messages") == messages.count })
            }
            // Sensor: °F converted to the catalogue's Cel, open data; the unknown name is dead-lettered with its path.
            #expect(try database.count("SELECT count(*) FROM observations WHERE device_id = 'sensor-9' AND quantity = 'temperature' AND unit = 'Cel' AND value_number = 20 AND confidentiality = 1") == 1)
            #expect(try database.count("SELECT count(*) FROM observations WHERE device_id = 'sensor-9' AND quantity = 'humidity'") == 1)
            #expect(try database.count("SELECT count(*) FROM dead_letters WHERE device_id = 'sensor-9' AND reason LIKE 'records[1]%no_such_thing%'") == 1)
            // GPS alarm through its vendor mapping: catalogue quantities, a sensitive position, events of their own.
            #expect(try database.count("SELECT count(*) FROM observations WHERE device_id = 'gps-9' AND quantity = 'battery' AND value_number = 76") == 1)
            #expect(try database.count("SELECT count(*) FROM observations WHERE device_id = 'gps-9' AND quantity = 'latitude' AND confidentiality = 3") == 1)
            #expect(try database.count("SELECT count(*) FROM events WHERE device_id = 'gps-9' AND event = 'sos'") == 1)
            // Safety alarm in SCAIP: the button alarm is an event with the SCAIP attributes.
            #expect(try database.count("SELECT count(*) FROM events WHERE device_id = 'safety-9' AND event = 'alarm_button' AND attributes->>'ref' = 'ab12' AND confidentiality = 3") == 1)
            // A decommissioned device is refused; an unregistered one is quarantined.
            #expect(try database.count("SELECT count(*) FROM observations WHERE device_id = 'lock-9'") == 0)
            #expect(try database.count("SELECT count(*) FROM dead_letters WHERE device_id = 'lock-9' AND reason LIKE '%decommissioned%'") == 1)
            #expect(try database.count("SELECT count(*) FROM observations WHERE device_id = 'unregistered-9'") == 0)
            #expect(try database.count("SELECT message_count FROM unknown_devices WHERE device_id = 'unregistered-9'") == 1)
        }
    }
}
