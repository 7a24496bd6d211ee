import Foundation
import Testing
import Models

// MARK: - The real catalogue in DataModels/

/// `<repo>/DataModels`, found from this file: Tests/ModelsTests/CatalogueTests.swift -> repo root.
private let repoDataModels = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // ModelsTests
    .deletingLastPathComponent()  // Tests
    .deletingLastPathComponent()  // repo root
    .appendingPathComponent("DataModels", isDirectory: true)

private func loadRealCatalogue() throws -> Catalogue {
    do {
        return try Catalogue.load(from: repoDataModels)
    } catch {
        Issue.record("the catalogue in \(repoDataModels.path) does not load:\n\(error)")
        throw error
    }
}

@Suite("Real catalogue")
struct RealCatalogueTests {
    @Test func loadsWithoutErrors() throws {
        let catalogue = try loadRealCatalogue()
        #expect(!catalogue.quantities.isEmpty)
        #expect(!catalogue.events.isEmpty)
        #expect(!catalogue.outcomes.isEmpty)
        #expect(catalogue.deviceTypes.map(\.id) == ["digital-lock", "gps-alarm", "safety-alarm", "sensor"])
    }

    static let requiredQuantities = [
        "battery", "battery_voltage", "signal_strength", "temperature", "humidity", "firmware_version", "status",
        "heartbeat", "lock_state", "lock_change_method", "door_state", "tamper", "jammed", "latitude", "longitude",
        "position_accuracy", "position", "charging", "speed", "alarm_button", "fall_detected", "door_sensor", "smoke",
        "location_text", "location_code",
    ]

    static let requiredEvents = [
        "sos", "fall", "geofence_exit", "alarm_button", "fall_detector", "door_sensor_open", "smoke", "forced_entry",
        "tamper", "lock_jammed", "low_battery", "device_fault", "heartbeat_missed", "device_offline", "device_online",
        "alarm_cancelled", "unlocked", "locked", "heartbeat",
    ]

    static let requiredOutcomes = [
        "false_alarm", "handled_by_phone", "visit_made", "emergency_services", "technical_fault_fixed",
        "cancelled_by_device",
    ]

    @Test func hasTheRequiredIDs() throws {
        let catalogue = try loadRealCatalogue()
        for id in Self.requiredQuantities {
            #expect(catalogue.quantity(id) != nil, "missing quantity \(id)")
        }
        for id in Self.requiredEvents {
            #expect(catalogue.event(id) != nil, "missing event \(id)")
        }
        for id in Self.requiredOutcomes {
            #expect(catalogue.outcome(id) != nil, "missing outcome \(id)")
        }
        #expect(catalogue.quantity("no_such_quantity") == nil)
        #expect(catalogue.event("no_such_event") == nil)
    }

    @Test func requiredQuantitiesHaveTheAgreedUnitsAndTypes() throws {
        let c = try loadRealCatalogue()
        let units: [String: String?] = [
            "battery": "%", "battery_voltage": "V", "signal_strength": "dBm", "temperature": "Cel",
            "humidity": "%RH", "latitude": "lat", "longitude": "lon", "position_accuracy": "m", "speed": "m/s",
            "firmware_version": nil, "position": nil,
        ]
        for (id, unit) in units {
            #expect(c.quantity(id)?.unit == unit, "unit of \(id)")
        }
        #expect(c.quantity("firmware_version")?.type == .string)
        #expect(c.quantity("status")?.type == .enumeration(values: ["online", "offline"]))
        #expect(c.quantity("lock_state")?.type == .enumeration(values: ["locked", "unlocked"]))
        #expect(c.quantity("lock_change_method")?.type == .enumeration(
            values: ["staff_credential", "key", "inside_knob", "remote", "automatic", "unknown"]))
        #expect(c.quantity("door_state")?.type == .enumeration(values: ["open", "closed"]))
        #expect(c.quantity("door_sensor")?.type == .enumeration(values: ["open", "closed"]))
        for id in ["heartbeat", "tamper", "jammed", "charging", "alarm_button", "fall_detected", "smoke"] {
            #expect(c.quantity(id)?.type == .boolean, "type of \(id)")
        }
        #expect(c.quantity("position")?.type == .position)
        #expect(c.quantity("latitude")?.range == ValueRange(min: -90, max: 90))
        #expect(c.quantity("longitude")?.range == ValueRange(min: -180, max: 180))
        #expect(c.quantity("battery")?.range == ValueRange(min: 0, max: 100))
        #expect(c.quantity("battery")?.ngsiLd == NGSILDName(property: "batteryLevel", smartDataModel: "Device"))
        #expect(c.quantity("temperature")?.ngsiLd?.property == "temperature")
        #expect(c.quantity("position")?.ngsiLd?.property == "location")
    }

    @Test func deviceTypeReferencesResolve() throws {
        let catalogue = try loadRealCatalogue()
        for type in catalogue.deviceTypes {
            for id in type.quantities {
                #expect(catalogue.quantity(id) != nil, "\(type.id) lists unknown quantity \(id)")
            }
            for id in type.events {
                #expect(catalogue.event(id) != nil, "\(type.id) lists unknown event \(id)")
            }
            #expect(catalogue.quantities(of: type).count == type.quantities.count)
            #expect(catalogue.events(of: type).count == type.events.count)
            #expect(!type.payloadFormats.isEmpty)
            #expect(type.heartbeatIntervalSeconds > 0)
        }
    }

    @Test func deviceTypesHaveTheAgreedFormatsAndHeartbeats() throws {
        let c = try loadRealCatalogue()
        #expect(c.deviceType("safety-alarm")?.payloadFormats == [.scaipXML, .senml])
        #expect(c.deviceType("digital-lock")?.payloadFormats == [.senml, .vendorJSON])
        #expect(c.deviceType("gps-alarm")?.payloadFormats == [.senml, .vendorJSON])
        #expect(c.deviceType("sensor")?.payloadFormats == [.senml])
        #expect(c.deviceType("safety-alarm")?.heartbeatIntervalSeconds == 900)
        #expect(c.deviceType("gps-alarm")?.heartbeatIntervalSeconds == 600)
        #expect(c.deviceType("digital-lock")?.heartbeatIntervalSeconds == 3600)
        #expect(c.deviceType("sensor")?.heartbeatIntervalSeconds == 3600)
        #expect(c.deviceType("digital-lock")?.produces(quantity: "lock_state") == true)
        #expect(c.deviceType("digital-lock")?.produces(event: "forced_entry") == true)
        #expect(c.deviceType("gps-alarm")?.produces(quantity: "position") == true)
        #expect(c.deviceType("gps-alarm")?.produces(event: "sos") == true)
        #expect(c.deviceType("safety-alarm")?.produces(event: "alarm_button") == true)
        #expect(c.deviceType("safety-alarm")?.produces(event: "heartbeat_missed") == true)
        #expect(c.deviceType("sensor")?.produces(quantity: "temperature") == true)
    }

    @Test func sensitiveQuantitiesAreKeptAtMostAYear() throws {
        let catalogue = try loadRealCatalogue()
        let sensitive = catalogue.quantities.filter { $0.classification.confidentiality == .sensitive }
        #expect(!sensitive.isEmpty)
        for q in sensitive {
            #expect(q.classification.retentionDays <= 365, "\(q.id) is class 3 but kept \(q.classification.retentionDays) days")
        }
    }

    @Test func positionsAreSensitivePersonalDataKeptForDays() throws {
        let catalogue = try loadRealCatalogue()
        for id in ["position", "latitude", "longitude", "position_accuracy", "location_text", "location_code"] {
            let q = try #require(catalogue.quantity(id))
            #expect(q.classification.confidentiality == .sensitive, "\(id)")
            #expect(q.classification.personalData, "\(id)")
            #expect(q.classification.retentionDays <= 31, "\(id) is a position and must be kept days, not months")
        }
    }

    @Test func classificationsAreConsistent() throws {
        let c = try loadRealCatalogue()
        // Personal data is never open, and only class-1 data may be served outward.
        for q in c.quantities where q.classification.personalData {
            #expect(q.classification.confidentiality > .open, "\(q.id)")
        }
        #expect(c.quantity("lock_state")?.classification == Classification(confidentiality: .sensitive, personalData: true, retentionDays: 90))
        #expect(c.quantity("lock_change_method")?.classification.confidentiality == .sensitive)
        #expect(c.quantity("battery")?.classification.confidentiality == .internal)
        #expect(c.quantity("temperature")?.classification.confidentiality == .open)
        // Care alarms are the highest priority, info events never open an alarm.
        #expect(c.event("sos")?.alarm?.priority == 1)
        #expect(c.event("alarm_button")?.alarm?.priority == 1)
        for e in c.events where e.kind == .info {
            #expect(e.alarm == nil, "\(e.id)")
        }
        #expect(c.event("heartbeat")?.kind == .info)
        #expect(c.event("heartbeat_missed")?.raisesAlarm == true)
    }

    @Test func scaipTableMapsTheKnownCodes() throws {
        let catalogue = try loadRealCatalogue()
        func event(_ mty: String, dty: String? = nil, stc: String? = nil) -> String? {
            catalogue.scaipRule(messageType: mty, deviceType: dty, statusCode: stc)?.event
        }
        #expect(event("ME", dty: "0005") == "fall_detector")
        #expect(event("ME", dty: "0005", stc: "0016") == "low_battery")
        #expect(event("ME", dty: "0099") == "alarm_button")
        #expect(event("RE") == "alarm_cancelled")
        #expect(event("PI") == "heartbeat")
        #expect(event("IN", stc: "0127") == "unlocked")
        #expect(event("IN", stc: "0042") == nil)
        #expect(event("IN") == nil)
    }

    @Test func codableMirrorsTheFiles() throws {
        let catalogue = try loadRealCatalogue()

        struct QuantitiesFile: Decodable { var version: Int; var quantities: [Quantity] }
        struct EventsFile: Decodable { var version: Int; var events: [EventCode]; var outcomes: [Outcome] }
        let decoder = JSONDecoder()
        let q = try decoder.decode(
            QuantitiesFile.self,
            from: Data(contentsOf: repoDataModels.appendingPathComponent("catalogue/quantities.json")))
        #expect(q.quantities == catalogue.quantities)
        let e = try decoder.decode(
            EventsFile.self, from: Data(contentsOf: repoDataModels.appendingPathComponent("catalogue/events.json")))
        #expect(e.events == catalogue.events)
        #expect(e.outcomes == catalogue.outcomes)
        let lock = try decoder.decode(
            DeviceType.self,
            from: Data(contentsOf: repoDataModels.appendingPathComponent("device-types/digital-lock.json")))
        #expect(lock == catalogue.deviceType("digital-lock"))

        // Round trip through the encoder, which writes "type"/"values" and explicit null alarms.
        let encoder = JSONEncoder()
        let quantities = try decoder.decode([Quantity].self, from: encoder.encode(catalogue.quantities))
        #expect(quantities == catalogue.quantities)
        let events = try decoder.decode([EventCode].self, from: encoder.encode(catalogue.events))
        #expect(events == catalogue.events)
        let status = String(decoding: try encoder.encode(catalogue.quantity("status")), as: UTF8.self)
        #expect(status.contains("\"type\":\"enum\""))
        #expect(status.contains("\"values\":[\"online\",\"offline\"]"))
        let heartbeat = String(decoding: try encoder.encode(catalogue.event("heartbeat")), as: UTF8.self)
        #expect(heartbeat.contains("\"alarm\":null"))
    }
}

// MARK: - Broken catalogues

/// A small valid catalogue, written to a temporary `.../DataModels` directory. Tests break one
/// thing with `replacing(...)` and check the message.
struct Fixture: Sendable {
    enum File: Sendable { case quantities, events, deviceType(String) }

    var quantities = """
        {
          "version": 1,
          "quantities": [
            {
              "id": "battery",
              "description": {"sv": "Batterinivå", "en": "Battery level"},
              "unit": "%",
              "type": "number",
              "range": {"min": 0, "max": 100},
              "classification": {"confidentiality": 2, "personalData": false, "retentionDays": 365},
              "ngsiLd": {"property": "batteryLevel", "smartDataModel": "Device"}
            },
            {
              "id": "lock_state",
              "description": {"sv": "Låsläge", "en": "Lock state"},
              "type": "enum",
              "values": ["locked", "unlocked"],
              "classification": {"confidentiality": 3, "personalData": true, "retentionDays": 90}
            },
            {
              "id": "firmware_version",
              "description": {"sv": "Firmwareversion", "en": "Firmware version"},
              "type": "string",
              "classification": {"confidentiality": 2, "personalData": false, "retentionDays": 366}
            }
          ]
        }
        """

    var events = """
        {
          "version": 1,
          "events": [
            {
              "id": "forced_entry",
              "description": {"sv": "Inbrott", "en": "Forced entry"},
              "kind": "care",
              "alarm": {"priority": 2},
              "classification": {"confidentiality": 3, "personalData": true, "retentionDays": 365}
            },
            {
              "id": "heartbeat",
              "description": {"sv": "Livstecken", "en": "Heartbeat"},
              "kind": "info",
              "alarm": null,
              "classification": {"confidentiality": 2, "personalData": false, "retentionDays": 30}
            }
          ],
          "outcomes": [
            {"id": "false_alarm", "description": {"sv": "Falsklarm", "en": "False alarm"}}
          ]
        }
        """

    var deviceTypes: [String: String] = [
        "digital-lock": """
            {
              "id": "digital-lock",
              "description": {"sv": "Digitalt lås", "en": "Digital lock"},
              "payloadFormats": ["senml", "vendor-json"],
              "heartbeatIntervalSeconds": 3600,
              "quantities": ["lock_state", "battery"],
              "events": ["forced_entry", "heartbeat"]
            }
            """,
    ]

    /// Replaces `old` (which must occur exactly once) in one file.
    func replacing(_ old: String, with new: String, in file: File) -> Fixture {
        var copy = self
        func replace(_ text: String) -> String {
            let parts = text.components(separatedBy: old)
            precondition(parts.count == 2, "fixture text \(old) occurs \(parts.count - 1) times, not once")
            return parts.joined(separator: new)
        }
        switch file {
        case .quantities: copy.quantities = replace(quantities)
        case .events: copy.events = replace(events)
        case .deviceType(let name): copy.deviceTypes[name] = replace(deviceTypes[name]!)
        }
        return copy
    }

    /// Writes the files into a fresh temporary directory and returns its `DataModels` folder.
    func write() throws -> URL {
        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("models-tests-\(UUID().uuidString)", isDirectory: true)
        let dataModels = root.appendingPathComponent("DataModels", isDirectory: true)
        let catalogue = dataModels.appendingPathComponent("catalogue", isDirectory: true)
        let types = dataModels.appendingPathComponent("device-types", isDirectory: true)
        try FileManager.default.createDirectory(at: catalogue, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: types, withIntermediateDirectories: true)
        try Data(quantities.utf8).write(to: catalogue.appendingPathComponent("quantities.json"))
        try Data(events.utf8).write(to: catalogue.appendingPathComponent("events.json"))
        for (name, text) in deviceTypes {
            try Data(text.utf8).write(to: types.appendingPathComponent("\(name).json"))
        }
        return dataModels
    }

    /// Loads the fixture; returns the catalogue or the error.
    func load() throws -> Result<Catalogue, CatalogueError> {
        let directory = try write()
        defer { try? FileManager.default.removeItem(at: directory.deletingLastPathComponent()) }
        do {
            return .success(try Catalogue.load(from: directory))
        } catch {
            return .failure(error)
        }
    }

    /// The error from loading the fixture, or nil (recording a test issue) if it loaded.
    func failure(sourceLocation: SourceLocation = #_sourceLocation) throws -> CatalogueError? {
        switch try load() {
        case .success:
            Issue.record("expected the broken catalogue to fail loading", sourceLocation: sourceLocation)
            return nil
        case .failure(let error):
            return error
        }
    }
}

@Suite("Broken catalogues")
struct BrokenCatalogueTests {
    @Test func theFixtureItselfLoads() throws {
        let catalogue = try Fixture().load().get()
        #expect(catalogue.quantities.map(\.id) == ["battery", "lock_state", "firmware_version"])
        #expect(catalogue.events.map(\.id) == ["forced_entry", "heartbeat"])
        #expect(catalogue.outcome("false_alarm")?.description.en == "False alarm")
        #expect(catalogue.deviceType("digital-lock")?.quantities == ["lock_state", "battery"])
        #expect(catalogue.quantity("battery")?.description.sv == "Batterinivå")
    }

    @Test func wrongConfidentiality() throws {
        let fixture = Fixture().replacing(
            #""confidentiality": 2, "personalData": false, "retentionDays": 365"#,
            with: #""confidentiality": 4, "personalData": false, "retentionDays": 365"#, in: .quantities)
        let error = try #require(try fixture.failure())
        #expect(error.issues.count == 1)
        #expect(error.description == #"DataModels/catalogue/quantities.json: quantity "battery": field "classification.confidentiality": must be 1, 2 or 3, got 4"#)
        #expect(error.issues.first == CatalogueError.Issue(
            file: "DataModels/catalogue/quantities.json", entry: #"quantity "battery""#,
            field: "classification.confidentiality", message: "must be 1, 2 or 3, got 4"))
    }

    @Test func unknownQuantityReferencedByADeviceType() throws {
        let fixture = Fixture().replacing(
            #"["lock_state", "battery"]"#, with: #"["lock_state", "batery"]"#, in: .deviceType("digital-lock"))
        let error = try #require(try fixture.failure())
        #expect(error.description == #"DataModels/device-types/digital-lock.json: device type "digital-lock": field "quantities[1]": unknown quantity "batery"; it is not in DataModels/catalogue/quantities.json"#)
    }

    @Test func unknownEventReferencedByADeviceType() throws {
        let fixture = Fixture().replacing(
            #""heartbeat"]"#, with: #""heartbeat", "sos"]"#, in: .deviceType("digital-lock"))
        let error = try #require(try fixture.failure())
        #expect(error.description == #"DataModels/device-types/digital-lock.json: device type "digital-lock": field "events[2]": unknown event "sos"; it is not in DataModels/catalogue/events.json"#)
    }

    @Test func duplicateID() throws {
        let fixture = Fixture().replacing(#""id": "firmware_version""#, with: #""id": "battery""#, in: .quantities)
        let error = try #require(try fixture.failure())
        #expect(error.description == #"DataModels/catalogue/quantities.json: quantity "battery": field "id": duplicate id: quantities[0] and quantities[2] are both "battery""#)
    }

    @Test func truncatedJSON() throws {
        var fixture = Fixture()
        // Cut the file in the middle of the second quantity's classification.
        let cut = try #require(fixture.quantities.range(of: #""confidentiality": 3"#))
        fixture.quantities = String(fixture.quantities[..<cut.upperBound])
        let error = try #require(try fixture.failure())
        #expect(error.issues.count == 1, "a broken file must not also produce unknown-reference errors: \(error)")
        #expect(error.description == #"DataModels/catalogue/quantities.json: field "quantities[1].classification": invalid JSON at line 18, column 46: unexpected end of file, expected ',' or '}'"#)
    }

    @Test func trailingCommaAndDuplicateKeysAreInvalidJSON() throws {
        let comma = Fixture().replacing(#""unlocked"]"#, with: #""unlocked",]"#, in: .quantities)
        let commaError = try #require(try comma.failure())
        #expect(commaError.description == #"DataModels/catalogue/quantities.json: field "quantities[1].values": invalid JSON at line 17, column 39: trailing comma before ']'"#)

        let duplicate = Fixture().replacing(#""unit": "%","#, with: #""unit": "%", "unit": "V","#, in: .quantities)
        let duplicateError = try #require(try duplicate.failure())
        #expect(duplicateError.description == #"DataModels/catalogue/quantities.json: field "quantities[0]": invalid JSON at line 7, column 20: duplicate key "unit""#)
    }

    @Test func enumWithoutValues() throws {
        let missing = Fixture().replacing(#""values": ["locked", "unlocked"],"#, with: "", in: .quantities)
        let missingError = try #require(try missing.failure())
        #expect(missingError.description == #"DataModels/catalogue/quantities.json: quantity "lock_state": field "values": missing; an "enum" quantity must list its allowed values"#)

        let empty = Fixture().replacing(#"["locked", "unlocked"]"#, with: "[]", in: .quantities)
        let emptyError = try #require(try empty.failure())
        #expect(emptyError.description == #"DataModels/catalogue/quantities.json: quantity "lock_state": field "values": an "enum" quantity must list at least one allowed value"#)

        let repeated = Fixture().replacing(#"["locked", "unlocked"]"#, with: #"["locked", "locked"]"#, in: .quantities)
        let repeatedError = try #require(try repeated.failure())
        #expect(repeatedError.description == #"DataModels/catalogue/quantities.json: quantity "lock_state": field "values[1]": duplicate value "locked" (already at values[0])"#)
    }

    @Test func rangeOnAString() throws {
        let fixture = Fixture().replacing(
            #""type": "string","#, with: #""type": "string", "range": {"min": 0, "max": 10},"#, in: .quantities)
        let error = try #require(try fixture.failure())
        #expect(error.description == #"DataModels/catalogue/quantities.json: quantity "firmware_version": field "range": only allowed when type is "number", not "string""#)
    }

    @Test func deviceTypeIDDiffersFromFileName() throws {
        var fixture = Fixture()
        fixture.deviceTypes = ["lock": fixture.deviceTypes["digital-lock"]!]
        let error = try #require(try fixture.failure())
        #expect(error.description == #"DataModels/device-types/lock.json: device type "digital-lock": field "id": must match the file name "lock.json"; got "digital-lock""#)
    }

    @Test func scaipRulesAreCheckedAgainstTheCatalogue() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("scaip-\(UUID())/DataModels")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("catalogue"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("device-types"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory.deletingLastPathComponent()) }
        let fixture = Fixture()
        try fixture.quantities.write(to: directory.appendingPathComponent("catalogue/quantities.json"), atomically: true, encoding: .utf8)
        try fixture.events.write(to: directory.appendingPathComponent("catalogue/events.json"), atomically: true, encoding: .utf8)
        try #"{"version": 1, "rules": [{"mty": "ME", "event": "forced_entry", "path": "mty"}, {"mty": "XX", "dty": "12", "event": "nope", "path": "ref"}]}"#
            .write(to: directory.appendingPathComponent("catalogue/scaip.json"), atomically: true, encoding: .utf8)
        #expect(throws: CatalogueError.self) { try Catalogue.load(from: directory) }
        do {
            _ = try Catalogue.load(from: directory)
        } catch {
            let lines = error.description.split(separator: "\n").map(String.init)
            #expect(lines == [
                #"DataModels/catalogue/scaip.json: rule 1: field "mty": unknown message type "XX"; expected one of ME, RE, IN, PI"#,
                #"DataModels/catalogue/scaip.json: rule 1: field "dty": must be exactly 4 digits, got "12""#,
                #"DataModels/catalogue/scaip.json: rule 1: field "event": unknown event "nope"; it is not in DataModels/catalogue/events.json"#,
                #"DataModels/catalogue/scaip.json: rule 1: field "path": must be mty, dty or stc, got "ref""#,
            ])
        }
    }

    @Test func nameAliasesMustNameWhatTheTypeProduces() throws {
        let fixture = Fixture().replacing(#""heartbeatIntervalSeconds": 3600"#,
                                          with: #""heartbeatIntervalSeconds": 3600, "nameAliases": {"batt": "battery", "temp": "temperature"}"#,
                                          in: .deviceType("digital-lock"))
        let error = try #require(try fixture.failure())
        #expect(error.description == #"DataModels/device-types/digital-lock.json: device type "digital-lock": field "nameAliases.temp": alias of "temperature", which is neither a quantity nor an event of this device type"#)
    }

    @Test func allProblemsAreReportedOnePerLine() throws {
        let fixture = Fixture()
            .replacing(#""confidentiality": 3, "personalData": true, "retentionDays": 90"#,
                       with: #""confidentiality": 3, "personalData": true, "retentionDays": 0"#, in: .quantities)
            .replacing(#""alarm": {"priority": 2}"#, with: #""alarm": {"priority": 9}"#, in: .events)
            .replacing(#""heartbeatIntervalSeconds": 3600"#, with: #""heartbeatIntervalSeconds": -1"#, in: .deviceType("digital-lock"))
        let error = try #require(try fixture.failure())
        let lines = error.description.split(separator: "\n").map(String.init)
        #expect(lines == [
            #"DataModels/catalogue/quantities.json: quantity "lock_state": field "classification.retentionDays": must be greater than 0, got 0"#,
            #"DataModels/catalogue/events.json: event "forced_entry": field "alarm.priority": must be between 1 (highest) and 5, got 9"#,
            #"DataModels/device-types/digital-lock.json: device type "digital-lock": field "heartbeatIntervalSeconds": must be greater than 0, got -1"#,
        ])
    }

    /// One broken thing each, with the exact message expected.
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var file: Fixture.File
        var old: String
        var new: String
        var message: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "version", file: .quantities, old: #""version": 1"#, new: #""version": 2"#,
             message: #"DataModels/catalogue/quantities.json: field "version": must be 1, got 2"#),
        Case(name: "bad id", file: .quantities, old: #""id": "lock_state""#, new: #""id": "Lock-State""#,
             message: #"DataModels/catalogue/quantities.json: quantity "Lock-State": field "id": "Lock-State" is not a valid id; ids must match [a-z][a-z0-9_]*"#),
        Case(name: "missing id", file: .quantities, old: #""id": "lock_state","#, new: "",
             message: #"DataModels/catalogue/quantities.json: quantities[1]: field "id": missing"#),
        Case(name: "empty English description", file: .quantities, old: #""en": "Lock state""#, new: #""en": " ""#,
             message: #"DataModels/catalogue/quantities.json: quantity "lock_state": field "description.en": must not be empty"#),
        Case(name: "missing Swedish description", file: .events, old: #""sv": "Inbrott", "#, new: "",
             message: #"DataModels/catalogue/events.json: event "forced_entry": field "description.sv": missing"#),
        Case(name: "unknown type", file: .quantities, old: #""type": "number""#, new: #""type": "float""#,
             message: #"DataModels/catalogue/quantities.json: quantity "battery": field "type": unknown type "float"; expected one of number, string, boolean, enum, position"#),
        Case(name: "range min > max", file: .quantities, old: #""min": 0, "max": 100"#, new: #""min": 100, "max": 0"#,
             message: #"DataModels/catalogue/quantities.json: quantity "battery": field "range": min (100) must not be greater than max (0)"#),
        Case(name: "empty unit", file: .quantities, old: #""unit": "%""#, new: #""unit": """#,
             message: #"DataModels/catalogue/quantities.json: quantity "battery": field "unit": must not be empty; leave it out (or null) for a unitless quantity"#),
        Case(name: "unit on a string", file: .quantities, old: #""type": "string","#, new: #""type": "string", "unit": "V","#,
             message: #"DataModels/catalogue/quantities.json: quantity "firmware_version": field "unit": only allowed when type is "number", not "string""#),
        Case(name: "values on a number", file: .quantities, old: #""type": "number","#, new: #""type": "number", "values": ["a"],"#,
             message: #"DataModels/catalogue/quantities.json: quantity "battery": field "values": only allowed when type is "enum", not "number""#),
        Case(name: "retention as text", file: .quantities, old: #""retentionDays": 366"#, new: #""retentionDays": "a year""#,
             message: #"DataModels/catalogue/quantities.json: quantity "firmware_version": field "classification.retentionDays": expected an integer, got string "a year""#),
        Case(name: "personal data marked open", file: .quantities, old: #""confidentiality": 3, "personalData": true"#, new: #""confidentiality": 1, "personalData": true"#,
             message: #"DataModels/catalogue/quantities.json: quantity "lock_state": field "classification.personalData": personal data cannot be class 1 (open); use confidentiality 2 or 3"#),
        Case(name: "unknown field", file: .quantities, old: #""unit": "%","#, new: #""unit": "%", "unti": "%","#,
             message: #"DataModels/catalogue/quantities.json: quantity "battery": field "unti": unknown field; expected one of id, description, unit, type, values, range, classification, ngsiLd"#),
        Case(name: "alarm on an info event", file: .events, old: #""alarm": null"#, new: #""alarm": {"priority": 3}"#,
             message: #"DataModels/catalogue/events.json: event "heartbeat": field "alarm": an "info" event never opens an alarm; use null or another kind"#),
        Case(name: "alarm left out", file: .events, old: #""alarm": null,"#, new: "",
             message: #"DataModels/catalogue/events.json: event "heartbeat": field "alarm": missing; give {"priority": 1...5}, or null for an event that never opens an alarm"#),
        Case(name: "unknown kind", file: .events, old: #""kind": "care""#, new: #""kind": "medical""#,
             message: #"DataModels/catalogue/events.json: event "forced_entry": field "kind": unknown kind "medical"; expected one of care, technical, info"#),
        Case(name: "bad outcome id", file: .events, old: #""id": "false_alarm""#, new: #""id": "false alarm""#,
             message: #"DataModels/catalogue/events.json: outcome "false alarm": field "id": "false alarm" is not a valid id; ids must match [a-z][a-z0-9_]*"#),
        Case(name: "no payload formats", file: .deviceType("digital-lock"), old: #"["senml", "vendor-json"]"#, new: "[]",
             message: #"DataModels/device-types/digital-lock.json: device type "digital-lock": field "payloadFormats": must list at least one payload format"#),
        Case(name: "unknown payload format", file: .deviceType("digital-lock"), old: #""vendor-json""#, new: #""xml""#,
             message: #"DataModels/device-types/digital-lock.json: device type "digital-lock": field "payloadFormats[1]": unknown payload format "xml"; expected one of senml, vendor-json, scaip-xml"#),
        Case(name: "heartbeat zero", file: .deviceType("digital-lock"), old: #""heartbeatIntervalSeconds": 3600"#, new: #""heartbeatIntervalSeconds": 0"#,
             message: #"DataModels/device-types/digital-lock.json: device type "digital-lock": field "heartbeatIntervalSeconds": must be greater than 0, got 0"#),
        Case(name: "quantity listed twice", file: .deviceType("digital-lock"), old: #"["lock_state", "battery"]"#, new: #"["lock_state", "battery", "lock_state"]"#,
             message: #"DataModels/device-types/digital-lock.json: device type "digital-lock": field "quantities[2]": duplicate quantity "lock_state" (already at quantities[0])"#),
        Case(name: "unbalanced braces", file: .events, old: #""outcomes": ["#, new: #""outcomes": {"x": ["#,
             message: #"DataModels/catalogue/events.json: invalid JSON at line 22, column 2: unexpected end of file, expected ',' or '}'"#),
        Case(name: "mismatched bracket", file: .events, old: #""kind": "care","#, new: #""kind": ["care"},"#,
             message: #"DataModels/catalogue/events.json: field "events[0].kind": invalid JSON at line 7, column 22: unexpected character '}', expected ',' or ']'"#),
        Case(name: "number where a string belongs", file: .quantities, old: #""unit": "%""#, new: #""unit": 1"#,
             message: #"DataModels/catalogue/quantities.json: quantity "battery": field "unit": expected a string, got 1"#),
    ]

    /// The first issue is the one the case is about; a few cases have consequences further on
    /// (a quantity whose id is broken is also unknown to the device type that lists it).
    @Test(arguments: cases)
    func singleProblem(_ c: Case) throws {
        let error = try #require(try Fixture().replacing(c.old, with: c.new, in: c.file).failure())
        #expect(error.issues.first?.description == c.message)
    }

    @Test func consequencesAreReportedWhereTheyOccur() throws {
        let fixture = Fixture().replacing(#""id": "lock_state","#, with: "", in: .quantities)
        let error = try #require(try fixture.failure())
        #expect(error.description.split(separator: "\n") == [
            #"DataModels/catalogue/quantities.json: quantities[1]: field "id": missing"#,
            #"DataModels/device-types/digital-lock.json: device type "digital-lock": field "quantities[0]": unknown quantity "lock_state"; it is not in DataModels/catalogue/quantities.json"#,
        ])
    }

    @Test func wrongTopLevelShapes() throws {
        var notAnObject = Fixture()
        notAnObject.events = "[]"
        let error = try #require(try notAnObject.failure())
        #expect(error.description == "DataModels/catalogue/events.json: expected a JSON object at the top level, got an array")

        let notAnArray = Fixture().replacing(#""outcomes": ["#, with: #""outcomes": 3, "unused": ["#, in: .events)
        let arrayError = try #require(try notAnArray.failure())
        #expect(arrayError.description.split(separator: "\n") == [
            #"DataModels/catalogue/events.json: field "unused": unknown field; expected one of version, events, outcomes"#,
            #"DataModels/catalogue/events.json: field "outcomes": expected an array, got 3"#,
        ])
    }

    @Test func missingFilesAreNamed() throws {
        let directory = try Fixture().write()
        defer { try? FileManager.default.removeItem(at: directory.deletingLastPathComponent()) }
        try FileManager.default.removeItem(at: directory.appendingPathComponent("catalogue/events.json"))
        #expect {
            try Catalogue.load(from: directory)
        } throws: { error in
            // Events unknown, so the device type's event references are not reported as well.
            (error as? CatalogueError)?.description == "DataModels/catalogue/events.json: file not found"
        }
    }
}

// MARK: - Locating DataModels

@Suite("Locating DataModels")
struct LocateTests {
    private func makeTree() throws -> URL {
        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("models-locate-\(UUID().uuidString)", isDirectory: true)
        let catalogue = root.appendingPathComponent("repo/DataModels/catalogue", isDirectory: true)
        try FileManager.default.createDirectory(at: catalogue, withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: catalogue.appendingPathComponent("quantities.json"))
        let bin = root.appendingPathComponent("repo/.build/x86_64-unknown-linux-gnu/debug", isDirectory: true)
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(
            at: root.appendingPathComponent("elsewhere", isDirectory: true), withIntermediateDirectories: true)
        return root
    }

    @Test func environmentVariableWins() throws {
        let root = try makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let found = Catalogue.locateDataModels(
            environment: ["CIP_DATA_MODELS": "/etc/cip/models"],
            currentDirectory: root.appendingPathComponent("repo"), executables: [])
        #expect(found?.path == "/etc/cip/models")
        let relative = Catalogue.locateDataModels(
            environment: ["CIP_DATA_MODELS": "conf/models"],
            currentDirectory: root.appendingPathComponent("elsewhere"), executables: [])
        #expect(relative?.path == root.appendingPathComponent("elsewhere/conf/models").standardizedFileURL.path)
    }

    @Test func currentDirectory() throws {
        let root = try makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let found = Catalogue.locateDataModels(
            environment: ["CIP_DATA_MODELS": ""],
            currentDirectory: root.appendingPathComponent("repo"), executables: [])
        #expect(found?.resolvingSymlinksInPath().path
            == root.appendingPathComponent("repo/DataModels").resolvingSymlinksInPath().path)
    }

    @Test func walksUpFromTheExecutable() throws {
        let root = try makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let executable = root.appendingPathComponent("repo/.build/x86_64-unknown-linux-gnu/debug/cip-gateway")
        let found = Catalogue.locateDataModels(
            environment: [:], currentDirectory: root.appendingPathComponent("elsewhere"), executables: [executable])
        #expect(found?.resolvingSymlinksInPath().path
            == root.appendingPathComponent("repo/DataModels").resolvingSymlinksInPath().path)

        let nowhere = Catalogue.locateDataModels(
            environment: [:], currentDirectory: root.appendingPathComponent("elsewhere"),
            executables: [root.appendingPathComponent("elsewhere/tool")])
        #expect(nowhere == nil)
    }
}
