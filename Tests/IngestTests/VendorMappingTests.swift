import Foundation
import Testing
@testable import Ingest

// MARK: - Helpers (vendor-specific names: this target holds other suites too)

/// Reception time used by the tests, a little after the payloads' own times.
private let vendorReceivedAt: Double = 1_714_557_700

/// `DataModels/mappings` of this checkout: this file is `Tests/IngestTests/VendorMappingTests.swift`.
private let vendorMappingsDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // Tests/IngestTests
    .deletingLastPathComponent()  // Tests
    .deletingLastPathComponent()  // the package root
    .appendingPathComponent("DataModels")
    .appendingPathComponent("mappings")

/// Canonical units of the catalogue quantities the mappings use; quantities without a unit are absent.
private let vendorCatalogueUnits: [String: String] = [
    "battery": "%", "battery_voltage": "V", "signal_strength": "dBm", "temperature": "Cel", "humidity": "%RH",
    "latitude": "lat", "longitude": "lon", "position_accuracy": "m", "speed": "m/s",
]

private let vendorCatalogueQuantityIDs: Set<String> = Set(vendorCatalogueUnits.keys).union([
    "firmware_version", "status", "heartbeat", "lock_state", "lock_change_method", "door_state", "tamper", "jammed", "charging",
])

private let vendorCatalogueEventIDs: Set<String> = [
    "sos", "fall", "geofence_exit", "forced_entry", "tamper", "lock_jammed", "low_battery", "device_fault", "unlocked", "locked",
    "command_result", "grant_list_loaded",
]

private let vendorCatalogueUnit: @Sendable (String) -> String? = { vendorCatalogueUnits[$0] }

/// The shipped mapping with `id`, with a mapper over the test catalogue.
private func vendorShippedMapper(_ id: String) throws -> VendorMapper {
    let mappings = try VendorMapping.loadAll(from: vendorMappingsDirectory)
    let mapping = try #require(mappings.first { $0.id == id }, "no shipped mapping \(id)")
    return VendorMapper(mapping: mapping, canonicalUnit: vendorCatalogueUnit)
}

private func vendorInlineMapping(_ json: String, file: String = "inline.json") throws -> VendorMapping {
    try VendorMapping.decode(Array(json.utf8), file: file)
}

private func vendorInlineMapper(_ json: String) throws -> VendorMapper {
    VendorMapper(mapping: try vendorInlineMapping(json), canonicalUnit: vendorCatalogueUnit)
}

private func vendorMap(_ mapper: VendorMapper, _ payload: String, receivedAt: Double = vendorReceivedAt) throws -> MappingResult {
    try mapper.map(Array(payload.utf8), receivedAt: receivedAt)
}

/// The issue that rejects `payload` as a whole, or nil when it maps.
private func vendorRejection(_ mapper: VendorMapper, _ payload: String) -> MappingIssue? {
    do {
        return try mapper.map(Array(payload.utf8), receivedAt: vendorReceivedAt).timeIssue
    } catch {
        return error
    }
}

/// The validation error for a mapping document, or nil when it is valid.
private func vendorMappingError(_ json: String, file: String = "bad.json") -> VendorMappingError? {
    do {
        _ = try VendorMapping.decode(Array(json.utf8), file: file)
        return nil
    } catch {
        return error
    }
}

/// A value mapped from `path` at `time`.
private func vendorValue(_ quantity: String, _ value: MappedScalar, _ unit: String?, _ path: String, _ time: Double) -> MappedValue {
    MappedValue(quantity: quantity, value: value, unit: unit, time: time, sourcePath: path)
}

/// Rule-set used by the issue tests.
private let vendorIssueMappingJSON = """
    {
      "version": 1, "id": "vendor-issue-test", "vendor": "Test", "model": "T1", "deviceType": "digital-lock",
      "time": {"pointer": "/ts", "format": "epoch-s"},
      "values": [
        {"pointer": "/lock/state", "quantity": "lock_state", "map": {"LOCKED": "locked", "UNLOCKED": "unlocked"}},
        {"pointer": "/power/mv", "quantity": "battery_voltage", "unit": "mV"},
        {"pointer": "/temp", "quantity": "temperature", "optional": true},
        {"pointer": "/fw", "quantity": "firmware_version", "optional": true},
        {"pointer": "/acc_km", "quantity": "position_accuracy", "unit": "km", "optional": true},
        {"pointer": "/extra/rssi", "quantity": "signal_strength", "optional": true}
      ],
      "events": [{"pointer": "/alarm", "equals": "FORCED", "event": "forced_entry"}]
    }
    """

/// A minimal mapping with the given time rule (JSON text, or nil for none).
private func vendorTimeMapper(_ timeRule: String?) throws -> VendorMapper {
    let time = timeRule.map { "\"time\": \($0)," } ?? ""
    return try vendorInlineMapper("""
        {"version": 1, "id": "vendor-time-test", "vendor": "Test", "model": "T2", "deviceType": "gps-alarm", \(time)
         "values": [{"pointer": "/b", "quantity": "battery", "optional": true}]}
        """)
}

// MARK: - Golden vectors for the shipped mappings

@Suite("Vendor JSON: shipped mappings")
struct VendorMappingGoldenTests {
    @Test func allShippedMappingsLoadAndFitTheCatalogue() throws {
        let mappings = try VendorMapping.loadAll(from: vendorMappingsDirectory)
        #expect(mappings.map(\.id) == ["hemlas-hl5", "nordlock-nl200", "senioren-gx", "tryggpos-tp3"])
        #expect(mappings.map(\.file) == ["hemlas-hl5.json", "nordlock-nl200.json", "senioren-gx.json", "tryggpos-tp3.json"])
        #expect(mappings.map(\.deviceType) == ["digital-lock", "digital-lock", "gps-alarm", "gps-alarm"])
        for mapping in mappings {
            #expect(Set(mapping.quantityIDs).isSubset(of: vendorCatalogueQuantityIDs), "\(mapping.id): \(mapping.quantityIDs)")
            #expect(Set(mapping.eventIDs).isSubset(of: vendorCatalogueEventIDs), "\(mapping.id): \(mapping.eventIDs)")
            let mapper = VendorMapper(mapping: mapping, canonicalUnit: vendorCatalogueUnit)
            #expect(mapper.configurationIssues.isEmpty, "\(mapping.id): \(mapper.configurationIssues)")
        }
        // The four cover the three time formats.
        #expect(Set(mappings.compactMap { $0.time?.format }) == [.epochSeconds, .epochMilliseconds, .rfc3339])
    }

    /// The shipped files against the city's catalogue as data (`DataModels/catalogue`, `DataModels/device-types`):
    /// ids exist and are allowed for the device type, map targets are values of their quantity, units convert.
    @Test func shippedMappingsFitTheCatalogueFiles() throws {
        let dataModels = vendorMappingsDirectory.deletingLastPathComponent()
        func document(_ path: String) throws -> JSONObject {
            let data = try Data(contentsOf: dataModels.appendingPathComponent(path))
            guard case .object(let object) = try JSONParser.parse(Array(data)) else {
                throw VendorRobustnessViolation(text: "\(path) is not a JSON object")
            }
            return object
        }
        func strings(_ value: JSONValue?) -> [String] {
            guard case .array(let elements)? = value else { return [] }
            return elements.compactMap { if case .string(let text) = $0 { text } else { nil } }
        }
        guard case .array(let quantityList)? = try document("catalogue/quantities.json")["quantities"] else {
            Issue.record("catalogue/quantities.json has no \"quantities\" array")
            return
        }
        var quantities: [String: JSONObject] = [:]
        for case .object(let quantity) in quantityList {
            if case .string(let id)? = quantity["id"] { quantities[id] = quantity }
        }
        let units: [String: String] = quantities.compactMapValues { if case .string(let unit)? = $0["unit"] { unit } else { nil } }

        let mappings = try VendorMapping.loadAll(from: vendorMappingsDirectory)
        #expect(mappings.count == 4)
        for mapping in mappings {
            let deviceType = try document("device-types/\(mapping.deviceType).json")
            let allowedQuantities = Set(strings(deviceType["quantities"]))
            let allowedEvents = Set(strings(deviceType["events"]))
            #expect(!allowedQuantities.isEmpty && !allowedEvents.isEmpty, "\(mapping.deviceType)")
            for rule in mapping.values {
                #expect(allowedQuantities.contains(rule.quantity), "\(mapping.file): \(rule.quantity) is not a \(mapping.deviceType) quantity")
                let quantity = try #require(quantities[rule.quantity], "\(mapping.file): unknown quantity \(rule.quantity)")
                let targets = (rule.map ?? []).map(\.value) + (rule.defaultValue.map { [$0] } ?? [])
                switch quantity["type"] {
                case .string("enum")?:
                    let values = Set(strings(quantity["values"]))
                    #expect(!targets.isEmpty, "\(mapping.file): enum \(rule.quantity) needs a map")
                    for target in targets {
                        guard case .string(let text) = target else {
                            Issue.record("\(mapping.file): \(rule.quantity) target \(target) is not a string")
                            continue
                        }
                        #expect(values.contains(text), "\(mapping.file): \(text) is not a value of \(rule.quantity)")
                    }
                case .string("boolean")?:
                    #expect(targets.allSatisfy { if case .boolean = $0 { true } else { false } }, "\(mapping.file): \(rule.quantity)")
                case .string("number")?:
                    #expect(targets.allSatisfy { if case .number = $0 { true } else { false } }, "\(mapping.file): \(rule.quantity)")
                case .string("string")?:
                    #expect(targets.allSatisfy { if case .string = $0 { true } else { false } }, "\(mapping.file): \(rule.quantity)")
                default:
                    Issue.record("\(mapping.file): \(rule.quantity) has a type the vendor mapping cannot produce")
                }
            }
            for event in mapping.eventIDs {
                #expect(allowedEvents.contains(event), "\(mapping.file): \(event) is not a \(mapping.deviceType) event")
            }
            let mapper = VendorMapper(mapping: mapping, canonicalUnit: { units[$0] })
            #expect(mapper.configurationIssues.isEmpty, "\(mapping.file): \(mapper.configurationIssues)")
        }
    }

    @Test func nordlockStatusReport() throws {
        let mapper = try vendorShippedMapper("nordlock-nl200")
        let result = try vendorMap(mapper, """
            {"dev":"NL200-04A1B2","ts":1714557600123,"lock":{"state":"LOCKED","by":"CARD","door":"CLOSED"},
             "power":{"mv":3712},"rssi":-71,"temp_f":68,"fw":"2.4.1","alarm":"NONE","evt":"LOCK",
             "flags":{"jam":false,"tamper":false}}
            """)
        let t = 1_714_557_600.123
        #expect(result.values == [
            vendorValue("lock_state", .string("locked"), nil, "/lock/state", t),
            vendorValue("lock_change_method", .string("staff_credential"), nil, "/lock/by", t),
            vendorValue("door_state", .string("closed"), nil, "/lock/door", t),
            vendorValue("battery_voltage", .number(3.712), "V", "/power/mv", t),
            vendorValue("signal_strength", .number(-71), "dBm", "/rssi", t),
            vendorValue("firmware_version", .string("2.4.1"), nil, "/fw", t),
            vendorValue("tamper", .boolean(false), nil, "/flags/tamper", t),
            vendorValue("jammed", .boolean(false), nil, "/flags/jam", t),
        ])
        #expect(result.events == [MappedEvent(event: "locked", time: t, sourcePath: "/evt")])
        #expect(result.issues.isEmpty)  // "/temp_f" and "/dev" have no rule: ignored
    }

    @Test func nordlockForcedEntryWithJamAndUnknownMethod() throws {
        let mapper = try vendorShippedMapper("nordlock-nl200")
        let result = try vendorMap(mapper, """
            {"ts":1714557660000,"lock":{"state":"UNLOCKED","by":"PIN","door":"OPEN"},"power":{"mv":3398},
             "alarm":"FORCED","evt":"UNLOCK","flags":{"jam":true,"tamper":true}}
            """)
        let t: Double = 1_714_557_660
        #expect(result.values == [
            vendorValue("lock_state", .string("unlocked"), nil, "/lock/state", t),
            vendorValue("lock_change_method", .string("unknown"), nil, "/lock/by", t),  // "PIN" is unmapped: default
            vendorValue("door_state", .string("open"), nil, "/lock/door", t),
            vendorValue("battery_voltage", .number(3.398), "V", "/power/mv", t),
            vendorValue("tamper", .boolean(true), nil, "/flags/tamper", t),
            vendorValue("jammed", .boolean(true), nil, "/flags/jam", t),
        ])
        #expect(result.events == [
            MappedEvent(event: "forced_entry", time: t, sourcePath: "/alarm"),
            MappedEvent(event: "lock_jammed", time: t, sourcePath: "/flags/jam"),
            MappedEvent(event: "unlocked", time: t, sourcePath: "/evt"),
        ])
        #expect(result.issues.isEmpty)
    }

    @Test func nordlockUnknownLockStateIsAnIssueButTheRestMaps() throws {
        let mapper = try vendorShippedMapper("nordlock-nl200")
        let result = try vendorMap(mapper, #"{"ts":1714557600000,"lock":{"state":"AJAR"},"power":{"mv":3000},"alarm":"LOW_BATT"}"#)
        #expect(result.values == [vendorValue("battery_voltage", .number(3), "V", "/power/mv", 1_714_557_600)])
        #expect(result.events == [MappedEvent(event: "low_battery", time: 1_714_557_600, sourcePath: "/alarm")])
        #expect(result.issues == [MappingIssue(
            path: "/lock/state",
            reason: #"lock_state: the string "AJAR" is not in the map (mapped: "LOCKED", "UNLOCKED") and the rule has no default"#
        )])
    }

    @Test func hemlasStatusReport() throws {
        let mapper = try vendorShippedMapper("hemlas-hl5")
        let result = try vendorMap(mapper, """
            {"serial":"HL5-0042","time":"2024-05-01T12:00:00.250+02:00",
             "status":{"locked":false,"doorOpen":true,"jammed":false,"tampered":false},
             "lastAction":{"method":"rfid"},"battery":0.83,"radio":{"rssi":-64},"info":{"firmware":"5.1.0-se"},
             "event":{"code":2}}
            """)
        let t = 1_714_557_600.25  // 12:00:00.250+02:00 is 10:00:00.250Z
        #expect(result.values == [
            vendorValue("lock_state", .string("unlocked"), nil, "/status/locked", t),
            vendorValue("door_state", .string("open"), nil, "/status/doorOpen", t),
            vendorValue("jammed", .boolean(false), nil, "/status/jammed", t),
            vendorValue("tamper", .boolean(false), nil, "/status/tampered", t),
            vendorValue("lock_change_method", .string("staff_credential"), nil, "/lastAction/method", t),
            vendorValue("battery", .number(83), "%", "/battery", t),  // ratio 0.83 → 83 %
            vendorValue("signal_strength", .number(-64), "dBm", "/radio/rssi", t),
            vendorValue("firmware_version", .string("5.1.0-se"), nil, "/info/firmware", t),
        ])
        #expect(result.events == [MappedEvent(event: "unlocked", time: t, sourcePath: "/event/code")])
        #expect(result.issues.isEmpty)
    }

    @Test func hemlasForcedDoorWhileJammed() throws {
        let mapper = try vendorShippedMapper("hemlas-hl5")
        let result = try vendorMap(mapper, """
            {"time":"2024-05-01T09:59:58Z","status":{"locked":true,"jammed":true},"battery":0.07,"event":{"code":21}}
            """)
        let t: Double = 1_714_557_598
        #expect(result.values == [
            vendorValue("lock_state", .string("locked"), nil, "/status/locked", t),
            vendorValue("jammed", .boolean(true), nil, "/status/jammed", t),
            vendorValue("battery", .number(7), "%", "/battery", t),
        ])
        #expect(result.events == [MappedEvent(event: "forced_entry", time: t, sourcePath: "/event/code")])
        #expect(result.issues.isEmpty)
    }

    @Test func hemlasLocalTimeWithoutOffsetRejectsTheMessage() throws {
        let mapper = try vendorShippedMapper("hemlas-hl5")
        let issue = vendorRejection(mapper, #"{"time":"2024-05-01T12:00:00","status":{"locked":true,"jammed":false},"battery":0.5}"#)
        #expect(issue == MappingIssue(
            path: "/time",
            reason: #"message time "2024-05-01T12:00:00" is not an RFC 3339 date-time: missing the UTC offset ('Z' or ±HH:MM); a time without one is ambiguous"#
        ))
    }

    @Test func tryggposPositionReportWithSOSAndGeofenceExit() throws {
        let mapper = try vendorShippedMapper("tryggpos-tp3")
        let result = try vendorMap(mapper, """
            {"imei":"359881234567890","t":1714557605,
             "pos":{"lat":59.329323,"lon":18.068581,"acc":12.5,"spd":4.5,"fix":"3D"},
             "bat":{"pct":76,"chg":true,"low":false},"gsm":{"rssi":-85},
             "sos":true,"fall":false,"zone":{"state":"EXITED","id":"home"}}
            """)
        let t: Double = 1_714_557_605
        #expect(result.values == [
            vendorValue("latitude", .number(59.329323), "lat", "/pos/lat", t),
            vendorValue("longitude", .number(18.068581), "lon", "/pos/lon", t),
            vendorValue("position_accuracy", .number(12.5), "m", "/pos/acc", t),
            vendorValue("speed", .number(1.25), "m/s", "/pos/spd", t),  // 4.5 km/h
            vendorValue("battery", .number(76), "%", "/bat/pct", t),
            vendorValue("charging", .boolean(true), nil, "/bat/chg", t),
            vendorValue("signal_strength", .number(-85), "dBm", "/gsm/rssi", t),
        ])
        #expect(result.events == [
            MappedEvent(event: "sos", time: t, sourcePath: "/sos"),
            MappedEvent(event: "geofence_exit", time: t, sourcePath: "/zone/state"),
        ])
        #expect(result.issues.isEmpty)
    }

    @Test func tryggposFallWithoutGPSFix() throws {
        let mapper = try vendorShippedMapper("tryggpos-tp3")
        let result = try vendorMap(mapper, #"{"t":1714557605.5,"pos":null,"bat":{"pct":12,"chg":false,"low":true},"sos":false,"fall":true}"#)
        let t = 1_714_557_605.5  // fractional epoch seconds are kept
        #expect(result.values == [
            vendorValue("battery", .number(12), "%", "/bat/pct", t),
            vendorValue("charging", .boolean(false), nil, "/bat/chg", t),
        ])
        #expect(result.events == [
            MappedEvent(event: "fall", time: t, sourcePath: "/fall"),
            MappedEvent(event: "low_battery", time: t, sourcePath: "/bat/low"),
        ])
        #expect(result.issues.isEmpty)
    }

    @Test func tryggposSpeedConversion() throws {
        let mapper = try vendorShippedMapper("tryggpos-tp3")
        let result = try vendorMap(mapper, #"{"t":1714557605,"pos":{"spd":36},"bat":{"pct":50}}"#)
        #expect(result.values.first { $0.quantity == "speed" }?.value == .number(10))
        #expect(result.values.first { $0.quantity == "speed" }?.unit == "m/s")
    }

    @Test func seniorenSOS() throws {
        let mapper = try vendorShippedMapper("senioren-gx")
        let result = try vendorMap(mapper, """
            {"deviceId":"GX-000123","gpsTime":"2024-05-01T10:00:05Z","latitude":57.70887,"longitude":11.97456,
             "accuracy":8,"speed":0.4,"batteryLevel":54,"charging":"NO","gsmSignal":-93,"fwVersion":"GX-1.9.3",
             "event":"SOS_BUTTON"}
            """)
        let t: Double = 1_714_557_605
        #expect(result.values == [
            vendorValue("latitude", .number(57.70887), "lat", "/latitude", t),
            vendorValue("longitude", .number(11.97456), "lon", "/longitude", t),
            vendorValue("position_accuracy", .number(8), "m", "/accuracy", t),
            vendorValue("speed", .number(0.4), "m/s", "/speed", t),
            vendorValue("battery", .number(54), "%", "/batteryLevel", t),
            vendorValue("charging", .boolean(false), nil, "/charging", t),  // "NO" → false
            vendorValue("signal_strength", .number(-93), "dBm", "/gsmSignal", t),
            vendorValue("firmware_version", .string("GX-1.9.3"), nil, "/fwVersion", t),
        ])
        #expect(result.events == [MappedEvent(event: "sos", time: t, sourcePath: "/event")])
        #expect(result.issues.isEmpty)
    }

    @Test func seniorenFallWithoutFixAndPeriodicReport() throws {
        let mapper = try vendorShippedMapper("senioren-gx")
        let fall = try vendorMap(mapper, """
            {"gpsTime":"2024-05-01T10:01:00.5Z","latitude":null,"longitude":null,"batteryLevel":53,"charging":"YES","event":"FALL_DETECTED"}
            """)
        let t = 1_714_557_660.5
        #expect(fall.values == [
            vendorValue("battery", .number(53), "%", "/batteryLevel", t),
            vendorValue("charging", .boolean(true), nil, "/charging", t),
        ])
        #expect(fall.events == [MappedEvent(event: "fall", time: t, sourcePath: "/event")])
        #expect(fall.issues.isEmpty)

        let periodic = try vendorMap(mapper, #"{"gpsTime":"2024-05-01T10:05:00Z","batteryLevel":53,"charging":"MAYBE","event":"PERIODIC"}"#)
        #expect(periodic.values == [vendorValue("battery", .number(53), "%", "/batteryLevel", 1_714_557_900)])
        #expect(periodic.events.isEmpty)
        #expect(periodic.issues == [MappingIssue(
            path: "/charging",
            reason: #"charging: the string "MAYBE" is not in the map (mapped: "YES", "NO") and the rule has no default"#
        )])
    }
}

// MARK: - Issues per value and whole-message rejection

@Suite("Vendor JSON: issues")
struct VendorMapperIssueTests {
    @Test func missingRequiredFieldNamesTheAbsentMember() throws {
        let mapper = try vendorInlineMapper(vendorIssueMappingJSON)
        let noParent = try vendorMap(mapper, #"{"ts":1714557600,"power":{"mv":3000}}"#)
        #expect(noParent.values == [vendorValue("battery_voltage", .number(3), "V", "/power/mv", 1_714_557_600)])
        #expect(noParent.issues == [MappingIssue(path: "/lock/state", reason: #"lock_state: required field is missing: the document has no member "lock""#)])

        let noMember = try vendorMap(mapper, #"{"ts":1714557600,"lock":{},"power":{"mv":3000}}"#)
        #expect(noMember.issues == [MappingIssue(path: "/lock/state", reason: #"lock_state: required field is missing: '/lock' has no member "state""#)])
        #expect(noMember.values.count == 1)
    }

    @Test func nullIsAbsent() throws {
        let mapper = try vendorInlineMapper(vendorIssueMappingJSON)
        let result = try vendorMap(mapper, #"{"ts":1714557600,"lock":{"state":null},"power":null,"temp":null,"extra":null}"#)
        #expect(result.values.isEmpty)
        #expect(result.issues == [
            MappingIssue(path: "/lock/state", reason: "lock_state: required field is null"),
            MappingIssue(path: "/power/mv", reason: "battery_voltage: required field is missing: '/power' is null"),
        ])
    }

    @Test func wrongJSONTypes() throws {
        let mapper = try vendorInlineMapper(vendorIssueMappingJSON)
        let result = try vendorMap(mapper, """
            {"ts":1714557600,"lock":{"state":["LOCKED"]},"power":{"mv":"3000"},"temp":"warm","fw":{"v":1},"acc_km":true}
            """)
        #expect(result.values.isEmpty)
        #expect(result.issues == [
            MappingIssue(path: "/lock/state", reason: "lock_state: expected a string, number or boolean to look up in the map, got an array"),
            MappingIssue(path: "/power/mv", reason: #"battery_voltage: expected a number (in mV), got the string "3000""#),
            MappingIssue(path: "/temp", reason: #"temperature: expected a number (in Cel), got the string "warm""#),
            MappingIssue(path: "/fw", reason: "firmware_version: expected a string, number or boolean, got an object"),
            MappingIssue(path: "/acc_km", reason: "position_accuracy: expected a number (in km), got the boolean true"),
        ])
    }

    @Test func valuesWithoutUnitTakeTheirJSONType() throws {
        let mapper = try vendorInlineMapper(vendorIssueMappingJSON)
        let result = try vendorMap(mapper, #"{"ts":1714557600,"lock":{"state":"LOCKED"},"power":{"mv":3000},"temp":21.5,"fw":12}"#)
        #expect(result.values == [
            vendorValue("lock_state", .string("locked"), nil, "/lock/state", 1_714_557_600),
            vendorValue("battery_voltage", .number(3), "V", "/power/mv", 1_714_557_600),
            vendorValue("temperature", .number(21.5), "Cel", "/temp", 1_714_557_600),  // canonical unit assumed
            vendorValue("firmware_version", .number(12), nil, "/fw", 1_714_557_600),  // no canonical unit: no unit
        ])
        #expect(result.issues.isEmpty)
    }

    @Test func unmappedEnumValue() throws {
        let mapper = try vendorInlineMapper(vendorIssueMappingJSON)
        let result = try vendorMap(mapper, #"{"ts":1714557600,"lock":{"state":"locked"},"power":{"mv":2950}}"#)
        #expect(result.issues == [MappingIssue(
            path: "/lock/state",
            reason: #"lock_state: the string "locked" is not in the map (mapped: "LOCKED", "UNLOCKED") and the rule has no default"#
        )])
        #expect(result.values == [vendorValue("battery_voltage", .number(2.95), "V", "/power/mv", 1_714_557_600)])
    }

    @Test func nonFiniteAfterConversion() throws {
        let mapper = try vendorInlineMapper(vendorIssueMappingJSON)
        let result = try vendorMap(mapper, #"{"ts":1714557600,"lock":{"state":"LOCKED"},"power":{"mv":3000},"acc_km":1e308}"#)
        #expect(result.issues == [MappingIssue(path: "/acc_km", reason: "position_accuracy: converting 1e+308 km to m gives a non-finite number")])
        #expect(result.values.map(\.quantity) == ["lock_state", "battery_voltage"])

        let fine = try vendorMap(mapper, #"{"ts":1714557600,"lock":{"state":"LOCKED"},"power":{"mv":3000},"acc_km":0.0125}"#)
        #expect(fine.values.last == vendorValue("position_accuracy", .number(12.5), "m", "/acc_km", 1_714_557_600))
    }

    @Test func conversionThroughTheMapper() throws {
        let mapper = try vendorInlineMapper("""
            {"version": 1, "id": "vendor-sensor-test", "vendor": "Test", "model": "S1", "deviceType": "sensor",
             "values": [
               {"pointer": "/temp_f", "quantity": "temperature", "unit": "[degF]"},
               {"pointer": "/rh", "quantity": "humidity", "unit": "/"},
               {"pointer": "/mv", "quantity": "battery_voltage", "unit": "mV"}
             ]}
            """)
        let result = try vendorMap(mapper, #"{"temp_f":68,"rh":0.415,"mv":3712}"#)
        #expect(result.values == [
            vendorValue("temperature", .number(20), "Cel", "/temp_f", vendorReceivedAt),
            vendorValue("humidity", .number(41.5), "%RH", "/rh", vendorReceivedAt),
            vendorValue("battery_voltage", .number(3.712), "V", "/mv", vendorReceivedAt),
        ])
        #expect(result.issues.isEmpty)
    }

    @Test func shapeThatDoesNotFitThePointerIsAnIssueEvenWhenOptional() throws {
        let mapper = try vendorInlineMapper(vendorIssueMappingJSON)
        let result = try vendorMap(mapper, #"{"ts":1714557600,"lock":{"state":"LOCKED"},"power":"low","extra":-70}"#)
        #expect(result.issues == [
            MappingIssue(path: "/power/mv", reason: #"battery_voltage: '/power' is a string, so it has no member "mv""#),
            MappingIssue(path: "/extra/rssi", reason: #"signal_strength: '/extra' is a number, so it has no member "rssi""#),
        ])
        #expect(result.values == [vendorValue("lock_state", .string("locked"), nil, "/lock/state", 1_714_557_600)])
    }

    @Test func duplicateKeyOnThePathIsAnIssue() throws {
        let mapper = try vendorInlineMapper(vendorIssueMappingJSON)
        let result = try vendorMap(mapper, #"{"ts":1714557600,"lock":{"state":"LOCKED","state":"UNLOCKED"},"power":{"mv":3000}}"#)
        #expect(result.issues == [MappingIssue(path: "/lock/state", reason: #"lock_state: '/lock' has the key "state" more than once"#)])
        #expect(result.values.count == 1)
    }

    @Test func unitThatCannotBeConverted() throws {
        let mapper = try vendorInlineMapper("""
            {"version": 1, "id": "vendor-unit-test", "vendor": "Test", "model": "T3", "deviceType": "digital-lock",
             "values": [
               {"pointer": "/t", "quantity": "temperature", "unit": "mV", "optional": true},
               {"pointer": "/fw", "quantity": "firmware_version", "unit": "V"},
               {"pointer": "/b", "quantity": "battery", "unit": "%EL"}
             ]}
            """)
        let temperatureReason = "temperature: cannot convert mV to the canonical unit Cel: mV measures voltage and Cel measures temperature"
        let firmwareReason = "firmware_version: the catalogue gives no canonical unit for this quantity, so a value in V cannot be converted"
        #expect(mapper.configurationIssues == [
            MappingIssue(path: "/t", reason: temperatureReason),
            MappingIssue(path: "/fw", reason: firmwareReason),
        ])
        let present = try vendorMap(mapper, #"{"t":20,"fw":1,"b":40}"#)
        #expect(present.issues == [MappingIssue(path: "/t", reason: temperatureReason), MappingIssue(path: "/fw", reason: firmwareReason)])
        #expect(present.values == [vendorValue("battery", .number(40), "%", "/b", vendorReceivedAt)])  // %EL → % is 1:1

        // An optional field that is absent raises nothing, whatever its rule.
        let absent = try vendorMap(mapper, #"{"fw":"1.0","b":40}"#)
        #expect(absent.issues == [MappingIssue(path: "/fw", reason: firmwareReason)])
    }

    @Test func eventFieldOfTheWrongTypeIsAnIssue() throws {
        let mapper = try vendorInlineMapper(vendorIssueMappingJSON)
        let wrong = try vendorMap(mapper, #"{"ts":1714557600,"lock":{"state":"LOCKED"},"power":{"mv":3000},"alarm":3}"#)
        #expect(wrong.events.isEmpty)
        #expect(wrong.issues == [MappingIssue(path: "/alarm", reason: #"event forced_entry: expected a string to compare with the string "FORCED", got the number 3"#)])

        let other = try vendorMap(mapper, #"{"ts":1714557600,"lock":{"state":"LOCKED"},"power":{"mv":3000},"alarm":"NONE"}"#)
        #expect(other.events.isEmpty)
        #expect(other.issues.isEmpty)

        let raised = try vendorMap(mapper, #"{"ts":1714557600,"lock":{"state":"LOCKED"},"power":{"mv":3000},"alarm":"FORCED"}"#)
        #expect(raised.events == [MappedEvent(event: "forced_entry", time: 1_714_557_600, sourcePath: "/alarm")])
    }

    @Test func mapMatchesNumbersAndBooleansWrittenAsJSON() throws {
        let mapper = try vendorInlineMapper("""
            {"version": 1, "id": "vendor-map-test", "vendor": "Test", "model": "T4", "deviceType": "digital-lock",
             "values": [
               {"pointer": "/s", "quantity": "lock_state", "map": {"1": "locked", "0": "unlocked", "true": "locked"}},
               {"pointer": "/lvl", "quantity": "battery", "map": {"FULL": 100, "LOW": 10}, "default": 50},
               {"pointer": "/h", "quantity": "heartbeat", "map": {"ALIVE": true}, "optional": true}
             ]}
            """)
        func lockState(_ json: String) throws -> [MappedValue] {
            try vendorMap(mapper, #"{"s":\#(json),"lvl":"FULL"}"#).values.filter { $0.quantity == "lock_state" }
        }
        let locked = [vendorValue("lock_state", .string("locked"), nil, "/s", vendorReceivedAt)]
        #expect(try lockState("1") == locked)
        #expect(try lockState("1.0") == locked)
        #expect(try lockState("1e0") == locked)
        #expect(try lockState("true") == locked)
        #expect(try lockState(#""1""#) == locked)  // the string "1" matches the key "1" as text
        #expect(try lockState("-0") == [vendorValue("lock_state", .string("unlocked"), nil, "/s", vendorReceivedAt)])

        let unmapped = try vendorMap(mapper, #"{"s":false,"lvl":"EMPTY","h":"ALIVE"}"#)
        #expect(unmapped.issues == [MappingIssue(
            path: "/s", reason: #"lock_state: the boolean false is not in the map (mapped: "1", "0", "true") and the rule has no default"#
        )])
        #expect(unmapped.values == [
            vendorValue("battery", .number(50), "%", "/lvl", vendorReceivedAt),  // default; a number target gets the canonical unit
            vendorValue("heartbeat", .boolean(true), nil, "/h", vendorReceivedAt),
        ])
    }

    @Test func pointerEscapesAndArrayIndexesInPayloads() throws {
        let mapper = try vendorInlineMapper("""
            {"version": 1, "id": "vendor-escape-test", "vendor": "Test", "model": "T5", "deviceType": "gps-alarm",
             "values": [
               {"pointer": "/a~1b/m~0n", "quantity": "battery"},
               {"pointer": "/fixes/1/lat", "quantity": "latitude"},
               {"pointer": "/fixes/2/lat", "quantity": "longitude"},
               {"pointer": "/fixes/x", "quantity": "speed"}
             ]}
            """)
        let result = try vendorMap(mapper, #"{"a/b":{"m~n":88,"m/n":1},"fixes":[{"lat":1},{"lat":59.5}]}"#)
        #expect(result.values == [
            vendorValue("battery", .number(88), "%", "/a~1b/m~0n", vendorReceivedAt),
            vendorValue("latitude", .number(59.5), "lat", "/fixes/1/lat", vendorReceivedAt),
        ])
        #expect(result.issues == [
            MappingIssue(path: "/fixes/2/lat", reason: "longitude: required field is missing: '/fixes' has no index 2 (it has 2 elements)"),
            MappingIssue(path: "/fixes/x", reason: #"speed: '/fixes' is an array, and "x" is not an array index (digits without leading zeros)"#),
        ])
    }

    @Test func payloadThatIsNotAJSONObjectIsRejected() throws {
        let mapper = try vendorInlineMapper(vendorIssueMappingJSON)
        let notJSON = try #require(vendorRejection(mapper, "{"))
        #expect(notJSON.path == "")
        #expect(notJSON.reason == #"payload is not valid JSON: invalid JSON at byte 1: expected '"' to start an object key, found end of input"#)
        #expect(vendorRejection(mapper, "") == MappingIssue(path: "", reason: "payload is not valid JSON: invalid JSON at byte 0: empty input; expected a JSON value"))
        #expect(vendorRejection(mapper, "[1]") == MappingIssue(path: "", reason: "payload must be a JSON object, got an array"))
        #expect(vendorRejection(mapper, "\"LOCKED\"") == MappingIssue(path: "", reason: "payload must be a JSON object, got a string"))
        let tooBig = VendorMapper(mapping: try vendorInlineMapping(vendorIssueMappingJSON), canonicalUnit: vendorCatalogueUnit, limits: JSONLimits(maxBytes: 16))
        #expect(throws: MappingIssue.self) { try tooBig.map(Array(#"{"ts":1714557600,"lock":{}}"#.utf8), receivedAt: vendorReceivedAt) }
    }

    @Test func badOrMissingRequiredTimeRefusesTheValues() throws {
        let mapper = try vendorInlineMapper(vendorIssueMappingJSON)
        let body = #""lock":{"state":"LOCKED"},"power":{"mv":3000}"#
        #expect(vendorRejection(mapper, "{\(body)}") == MappingIssue(path: "/ts", reason: #"message time is missing: the document has no member "ts""#))
        #expect(vendorRejection(mapper, #"{"ts":null,\#(body)}"#) == MappingIssue(path: "/ts", reason: "message time is null; the mapping requires it"))
        #expect(vendorRejection(mapper, #"{"ts":"1714557600",\#(body)}"#) == MappingIssue(
            path: "/ts", reason: #"message time: expected a number of seconds since 1970 (epoch-s), got the string "1714557600""#
        ))
        #expect(vendorRejection(mapper, #"{"ts":1714557600123,\#(body)}"#) == MappingIssue(
            path: "/ts", reason: "message time 1714557600123 (epoch-s) is after 9999-12-31T23:59:59Z; is it in milliseconds (epoch-ms)?"
        ))
        #expect(vendorRejection(mapper, #"{"ts":-1,\#(body)}"#) == MappingIssue(path: "/ts", reason: "message time -1 (epoch-s) is before 1970-01-01T00:00:00Z"))
        #expect(vendorRejection(mapper, #"{"ts":1714557600,\#(body)}"#) == nil)
    }

    @Test func anAlarmWithAnUnusableTimeIsKeptAtItsArrivalTimeWithoutValues() throws {
        let mapper = try vendorInlineMapper(vendorIssueMappingJSON)
        for time in [#""ts":10000000000000,"#, #""ts":"soon","#, #""ts":null,"#, ""] {
            let result = try mapper.map(Array(#"{\#(time)"lock":{"state":"LOCKED"},"power":{"mv":3000},"alarm":"FORCED"}"#.utf8),
                                        receivedAt: vendorReceivedAt)
            #expect(result.timeIssue?.path == "/ts", "\(time)")
            #expect(result.values.isEmpty, "a value needs its time: \(time)")
            #expect(result.events == [MappedEvent(event: "forced_entry", time: vendorReceivedAt, sourcePath: "/alarm")], "\(time)")
        }
    }

    @Test func epochTimesKeepFractions() throws {
        let seconds = try vendorTimeMapper(#"{"pointer": "/t", "format": "epoch-s"}"#)
        #expect(try vendorMap(seconds, #"{"t":1714557600.5,"b":1}"#).values.first?.time == 1_714_557_600.5)
        let milliseconds = try vendorTimeMapper(#"{"pointer": "/t", "format": "epoch-ms"}"#)
        #expect(try vendorMap(milliseconds, #"{"t":1714557600123,"b":1}"#).values.first?.time == 1_714_557_600.123)
        #expect(try vendorMap(milliseconds, #"{"t":1714557600123.5,"b":1}"#).values.first?.time == 1_714_557_600.1235)
        #expect(vendorRejection(milliseconds, #"{"t":true}"#) == MappingIssue(
            path: "/t", reason: "message time: expected a number of milliseconds since 1970 (epoch-ms), got the boolean true"
        ))
    }

    @Test func rfc3339Times() throws {
        let mapper = try vendorTimeMapper(#"{"pointer": "/t", "format": "rfc3339"}"#)
        func time(_ text: String) throws -> Double? {
            try vendorMap(mapper, #"{"t":"\#(text)","b":1}"#).values.first?.time
        }
        #expect(try time("2024-05-01T10:00:00Z") == 1_714_557_600)
        #expect(try time("2024-05-01t10:00:00z") == 1_714_557_600)
        #expect(try time("2024-05-01T12:00:00.250+02:00") == 1_714_557_600.25)
        #expect(try time("2024-05-01T04:30:00-05:30") == 1_714_557_600)
        #expect(try time("2024-05-01T10:00:00-00:00") == 1_714_557_600)
        #expect(try time("2024-05-01T10:00:00.123456Z") == 1_714_557_600.123456)
        #expect(try time("1970-01-01T00:00:00Z") == 0)
        #expect(try time("2000-02-29T23:59:59Z") == 951_868_799)
        #expect(try time("2024-12-31T23:59:59.9+00:00") == 1_735_689_599.9)
        let nanoseconds = try #require(try time("2024-05-01T10:00:00.123456789Z"))
        #expect(abs(nanoseconds - 1_714_557_600.123456789) < 1e-6)
    }

    @Test(arguments: [
        ("2024-13-01T00:00:00Z", "month 13 is out of range 01-12"),
        ("2024-02-30T00:00:00Z", "day 30 is out of range for 2024-02 (01-29)"),
        ("2023-02-29T00:00:00Z", "day 29 is out of range for 2023-02 (01-28)"),
        ("2024-05-01 10:00:00Z", "expected 'T' between the date and the time"),
        ("2024-05-01T24:00:00Z", "hour 24 is out of range 00-23"),
        ("2024-05-01T10:60:00Z", "minute 60 is out of range 00-59"),
        ("2016-12-31T23:59:60Z", "leap second 60 is not supported"),
        ("2024-05-01T10:00:00.Z", "expected digits after the decimal point"),
        ("2024-05-01T10:00:00+0200", "expected the offset as +HH:MM or -HH:MM"),
        ("2024-05-01T10:00:00+24:00", "offset 24:00 is out of range"),
        ("2024-05-01T10:00:00Zjunk", "unexpected characters after the UTC offset"),
        ("2024-5-1T10:00:00Z", "expected the date as YYYY-MM-DD"),
        ("2024-05-01T10:00Z", "expected the time as HH:MM:SS"),
        ("2024-05-01T10:00:00 CET", "expected 'Z' or ±HH:MM after the seconds"),
    ])
    func badRFC3339TimeRejectsTheMessage(text: String, problem: String) throws {
        let mapper = try vendorTimeMapper(#"{"pointer": "/t", "format": "rfc3339"}"#)
        #expect(vendorRejection(mapper, #"{"t":"\#(text)","b":1}"#) == MappingIssue(
            path: "/t", reason: "message time \(vendorJSONQuoted(text)) is not an RFC 3339 date-time: \(problem)"
        ))
    }

    @Test func rfc3339BeforeTheEpochIsRejected() throws {
        let mapper = try vendorTimeMapper(#"{"pointer": "/t", "format": "rfc3339"}"#)
        #expect(vendorRejection(mapper, #"{"t":"1969-12-31T23:59:59Z"}"#) == MappingIssue(
            path: "/t", reason: #"message time "1969-12-31T23:59:59Z" is before 1970-01-01T00:00:00Z"#
        ))
        #expect(vendorRejection(mapper, #"{"t":1714557600}"#) == MappingIssue(
            path: "/t", reason: #"message time: expected an RFC 3339 date-time string such as "2024-05-01T12:00:00Z", got the number 1714557600"#
        ))
    }

    @Test func optionalOrAbsentTimeRuleFallsBackToArrivalTime() throws {
        let optional = try vendorTimeMapper(#"{"pointer": "/t", "format": "epoch-s", "optional": true}"#)
        #expect(try vendorMap(optional, #"{"b":1}"#).values.first?.time == vendorReceivedAt)
        #expect(try vendorMap(optional, #"{"t":null,"b":1}"#).values.first?.time == vendorReceivedAt)
        #expect(try vendorMap(optional, #"{"t":1714557000,"b":1}"#).values.first?.time == 1_714_557_000)
        // Present but bad still rejects.
        #expect(vendorRejection(optional, #"{"t":"soon","b":1}"#)?.path == "/t")

        let none = try vendorTimeMapper(nil)
        #expect(try vendorMap(none, #"{"t":1,"b":1}"#, receivedAt: 1_714_557_777.25).values.first?.time == 1_714_557_777.25)
    }

    @Test func issueDescriptionNamesThePath() {
        #expect(MappingIssue(path: "/a", reason: "bad").description == "/a: bad")
        #expect(MappingIssue(path: "", reason: "bad").description == "bad")
    }
}

// MARK: - JSON Pointer

@Suite("Vendor JSON: JSON Pointer (RFC 6901)")
struct VendorJSONPointerTests {
    /// RFC 6901 §5.
    static let rfcDocument = #"{"foo":["bar","baz"],"":0,"a/b":1,"c%d":2,"e^f":3,"g|h":4,"i\\j":5,"k\"l":6," ":7,"m~n":8}"#

    @Test func rfcExamples() throws {
        let document = try JSONParser.parse(Self.rfcDocument)
        func resolve(_ text: String) throws -> JSONPointerResolution {
            try JSONPointer(parsing: text).resolve(in: document)
        }
        #expect(try resolve("") == .found(document))
        #expect(try resolve("/foo") == .found(.array([.string("bar"), .string("baz")])))
        #expect(try resolve("/foo/0") == .found(.string("bar")))
        #expect(try resolve("/") == .found(.number(0)))
        #expect(try resolve("/a~1b") == .found(.number(1)))
        #expect(try resolve("/c%d") == .found(.number(2)))
        #expect(try resolve("/e^f") == .found(.number(3)))
        #expect(try resolve("/g|h") == .found(.number(4)))
        #expect(try resolve(#"/i\j"#) == .found(.number(5)))
        #expect(try resolve(#"/k"l"#) == .found(.number(6)))
        #expect(try resolve("/ ") == .found(.number(7)))
        #expect(try resolve("/m~0n") == .found(.number(8)))
    }

    @Test func escapesAreDecodedTildeOneFirst() throws {
        // "~01" is "~1" (not "/"): "~0" is decoded after "~1" (RFC 6901 §4).
        #expect(try JSONPointer(parsing: "/~01").tokens == ["~1"])
        #expect(try JSONPointer(parsing: "/~10").tokens == ["/0"])
        #expect(try JSONPointer(parsing: "/a~1b/m~0n").tokens == ["a/b", "m~n"])
        #expect(try JSONPointer(parsing: "//").tokens == ["", ""])
        #expect(try JSONPointer(parsing: "/ä/0").tokens == ["ä", "0"])
        let document = try JSONParser.parse(#"{"~1":"tilde-one","/":"slash"}"#)
        #expect(try JSONPointer(parsing: "/~01").resolve(in: document) == .found(.string("tilde-one")))
        #expect(try JSONPointer(parsing: "/~1").resolve(in: document) == .found(.string("slash")))
    }

    @Test func tokensRoundTripThroughEscaping() throws {
        let pointer = JSONPointer(tokens: ["a/b", "m~n", "", "~1"])
        #expect(pointer.description == "/a~1b/m~0n//~01")
        #expect(try JSONPointer(parsing: pointer.description).tokens == pointer.tokens)
        #expect(JSONPointer(tokens: []).description == "")
    }

    @Test func syntaxErrors() {
        func error(_ text: String) -> JSONPointerSyntaxError? {
            do { _ = try JSONPointer(parsing: text); return nil } catch { return error }
        }
        #expect(error("foo") == JSONPointerSyntaxError(offset: 0, reason: "a JSON pointer must be empty or start with '/'"))
        #expect(error("#/foo")?.reason.contains("URI fragment") == true)
        #expect(error("/a~2") == JSONPointerSyntaxError(offset: 2, reason: "invalid escape '~2'; only '~0' (for '~') and '~1' (for '/') are allowed"))
        #expect(error("/a~") == JSONPointerSyntaxError(offset: 2, reason: "'~' at the end of the pointer; write '~0' for '~' and '~1' for '/'"))
        #expect(error("/a~é")?.offset == 2)
        #expect(error("/a/b") == nil)
    }

    @Test func arrayIndexesAndMissingParts() throws {
        let document = try JSONParser.parse(Self.rfcDocument)
        func resolve(_ text: String) throws -> JSONPointerResolution {
            try JSONPointer(parsing: text).resolve(in: document)
        }
        #expect(try resolve("/foo/1") == .found(.string("baz")))
        #expect(try resolve("/foo/2") == .missing("'/foo' has no index 2 (it has 2 elements)"))
        #expect(try resolve("/foo/-") == .missing("'-' in '/foo' refers to the element after the last one"))
        #expect(try resolve("/foo/01") == .invalid(#"'/foo' is an array, and "01" is not an array index (digits without leading zeros)"#))
        #expect(try resolve("/foo/+1") == .invalid(#"'/foo' is an array, and "+1" is not an array index (digits without leading zeros)"#))
        #expect(try resolve("/foo/99999999999999999999") == .invalid(#"'/foo' is an array, and "99999999999999999999" is not an array index (digits without leading zeros)"#))
        #expect(try resolve("/foo/0/x") == .invalid(#"'/foo/0' is a string, so it has no member "x""#))
        #expect(try resolve("/nope") == .missing(#"the document has no member "nope""#))
        #expect(try resolve("/a~1b/c") == .invalid(#"'/a~1b' is a number, so it has no member "c""#))
    }
}

// MARK: - Unit conversion

@Suite("Vendor JSON: unit conversion")
struct VendorUnitConversionTests {
    @Test(arguments: [
        (3712.0, "mV", "V", 3.712),
        (3.712, "V", "mV", 3712.0),
        (0.83, "/", "%", 83.0),
        (0.07, "/", "%", 7.0),
        (83.0, "%", "/", 0.83),
        (68.0, "[degF]", "Cel", 20.0),
        (32.0, "[degF]", "Cel", 0.0),
        (-40.0, "[degF]", "Cel", -40.0),
        (98.6, "[degF]", "Cel", 37.0),
        (20.0, "Cel", "[degF]", 68.0),
        (293.15, "K", "Cel", 20.0),
        (0.0, "K", "Cel", -273.15),
        (20.0, "Cel", "K", 293.15),
        (293.15, "K", "[degF]", 68.0),
        (36.0, "km/h", "m/s", 10.0),
        (4.5, "km/h", "m/s", 1.25),
        (10.0, "m/s", "km/h", 36.0),
        (1.0, "[kn_i]", "m/s", 0.514444444444444),
        (1500.0, "ms", "s", 1.5),
        (2.5, "min", "s", 150.0),
        (1.0, "h", "s", 3600.0),
        (0.25, "h", "s", 900.0),
        (90.0, "min", "h", 1.5),
        (0.0125, "km", "m", 12.5),
        (100.0, "[ft_i]", "m", 30.48),
        (-100.0, "dBW", "dBm", -70.0),
        (55.0, "%", "%RH", 55.0),
    ])
    func conversion(value: Double, from: String, to: String, expected: Double) {
        #expect(UnitConversion.convert(value, from: from, to: to) == expected)
    }

    @Test func identityWhenEqualEvenForUnknownUnits() {
        #expect(UnitConversion.convert(-71, from: "dBm", to: "dBm") == -71)
        #expect(UnitConversion.convert(0.1 + 0.2, from: "V", to: "V") == 0.1 + 0.2)  // identity does not round
        #expect(UnitConversion.convert(7, from: "furlong", to: "furlong") == 7)
    }

    @Test func noConversionAcrossDimensionsOrForUnknownUnits() {
        #expect(UnitConversion.convert(1, from: "mV", to: "Cel") == nil)
        #expect(UnitConversion.convert(1, from: "lat", to: "lon") == nil)
        #expect(UnitConversion.convert(1, from: "mv", to: "V") == nil)
        #expect(UnitConversion.convert(1, from: "V", to: "volt") == nil)
        #expect(!UnitConversion.canConvert(from: "km/h", to: "m"))
        #expect(UnitConversion.canConvert(from: "km/h", to: "m/s"))
        #expect(UnitConversion.isKnown("[degF]") && !UnitConversion.isKnown("degF"))
    }

    @Test func overflowGivesInfinityNotATrap() {
        #expect(UnitConversion.convert(1e308, from: "h", to: "s") == .infinity)
        #expect(UnitConversion.convert(-1e308, from: "km", to: "m") == -.infinity)
        // Scaling down a huge value divides first instead of overflowing.
        #expect(UnitConversion.convert(1.7e308, from: "km/h", to: "m/s")?.isFinite == true)
    }

    @Test func millivoltsBecomeTheNearestDoubleOfTheDecimal() {
        // Every integer mV reading gives exactly the double the decimal volt literal denotes.
        var random = SplitMix64(state: 0x0A11_CE11)
        for _ in 0..<1000 {
            let millivolts = Int.random(in: -99_999...99_999, using: &random)
            let volts = UnitConversion.convert(Double(millivolts), from: "mV", to: "V")
            #expect(volts == Double("\(millivolts)e-3"), "\(millivolts) mV")
        }
    }
}

// MARK: - Mapping file validation

@Suite("Vendor JSON: mapping file validation")
struct VendorMappingValidationTests {
    /// A valid mapping with `values` replaced.
    static func document(values: String, extra: String = "") -> String {
        #"{"version": 1, "id": "vendor-validation", "vendor": "V", "model": "M", "deviceType": "digital-lock", \#(extra) "values": \#(values)}"#
    }

    @Test func validDocumentDecodes() throws {
        let mapping = try vendorInlineMapping(Self.document(
            values: #"[{"pointer": "/b", "quantity": "battery", "unit": "/", "optional": true}]"#,
            extra: #""time": {"pointer": "/ts", "format": "rfc3339"}, "events": [{"pointer": "/e", "equals": 21, "event": "forced_entry"}],"#
        ), file: "ok.json")
        #expect(mapping == VendorMapping(
            file: "ok.json", id: "vendor-validation", vendor: "V", model: "M", deviceType: "digital-lock",
            time: .init(pointer: try JSONPointer(parsing: "/ts"), format: .rfc3339),
            values: [.init(pointer: try JSONPointer(parsing: "/b"), quantity: "battery", unit: "/", optional: true)],
            events: [.init(pointer: try JSONPointer(parsing: "/e"), equals: .number(21), event: "forced_entry")]
        ))
        #expect(mapping.eventIDs == ["forced_entry"])
    }

    @Test(arguments: [
        // (document, field, reason)
        (#"{"version": 2, "id": "x", "vendor": "V", "model": "M", "deviceType": "digital-lock", "values": []}"#,
         "version", "unsupported version 2; this gateway reads version 1"),
        (#"{"id": "x", "vendor": "V", "model": "M", "deviceType": "digital-lock", "values": []}"#,
         "version", #"missing; write "version": 1"#),
        (#"{"version": "1", "id": "x", "vendor": "V", "model": "M", "deviceType": "digital-lock", "values": []}"#,
         "version", "expected a number, got a string"),
        (document(values: "[]", extra: #""time": {"pointer": "/ts", "format": "epoch-us"},"#),
         "time.format", #"unknown time format "epoch-us"; expected one of "epoch-s", "epoch-ms", "rfc3339""#),
        (document(values: "[]", extra: #""time": {"pointer": "ts", "format": "epoch-s"},"#),
         "time.pointer", #"bad JSON pointer "ts": a JSON pointer must be empty or start with '/' (at offset 0)"#),
        (document(values: #"[{"pointer": "/ok", "quantity": "battery"}, {"pointer": "/a~2", "quantity": "tamper"}]"#),
         "values[1].pointer", #"bad JSON pointer "/a~2": invalid escape '~2'; only '~0' (for '~') and '~1' (for '/') are allowed (at offset 2)"#),
        (document(values: #"[{"pointer": "", "quantity": "battery"}]"#),
         "values[0].pointer", #"the pointer "" is the whole document; point at a field such as "/state""#),
        (document(values: #"[{"pointer": "/s", "quantity": "lock_state", "map": {}}]"#),
         "values[0].map", #"empty map; every vendor value would be unmapped (leave "map" out to take values as they are)"#),
        (document(values: #"[{"pointer": "/s", "quantity": "lock_state", "map": {"A": "locked", "A": "unlocked"}}]"#),
         "values[0].map", #"the vendor value "A" is listed more than once"#),
        (document(values: #"[{"pointer": "/s", "quantity": "lock_state", "map": {"A": null}}]"#),
         #"values[0].map["A"]"#, "expected a catalogue value (string, number or boolean), got null"),
        (document(values: #"[{"pointer": "/s", "quantity": "lock_state", "map": {"A": "locked"}, "unit": "V"}]"#),
         "values[0].unit", #"a rule with "map" cannot have "unit": map targets are already catalogue values"#),
        (document(values: #"[{"pointer": "/s", "quantity": "lock_state", "default": "unknown"}]"#),
         "values[0].default", #""default" applies to values missing from "map", and this rule has no "map""#),
        (document(values: #"[{"pointer": "/s", "quantity": "lock_state", "optinal": true}]"#),
         "values[0].optinal", "unknown field; allowed here: pointer, quantity, unit, map, default, optional"),
        (document(values: #"[{"pointer": "/s", "quantity": "lock_state", "optional": "yes"}]"#),
         "values[0].optional", "expected true or false, got a string"),
        (document(values: #"[{"pointer": "/s", "quantity": "Battery"}]"#),
         "values[0].quantity", #""Battery" is not a catalogue id: use lowercase letters, digits and '_', starting with a letter (e.g. "battery_voltage")"#),
        (document(values: #"[{"pointer": "/s"}]"#),
         "values[0].quantity", "missing; expected a string"),
        (document(values: #"[{"pointer": "/a", "quantity": "battery"}, {"pointer": "/b", "quantity": "battery"}]"#),
         "values[1].quantity", #"quantity "battery" is already mapped by values[0]; a message yields each quantity once"#),
        (document(values: "[]"),
         "values", "the mapping maps nothing: give at least one value rule or event rule"),
        (document(values: "{}"),
         "values", "expected an array of value rules, got an object"),
        (document(values: "[]", extra: #""events": [{"pointer": "/e", "equals": null, "event": "sos"}],"#),
         "events[0].equals", "expected a string, number or boolean, got null"),
        (document(values: "[]", extra: #""events": [{"pointer": "/e", "event": "sos"}],"#),
         "events[0].equals", "missing; give the vendor value (string, number or boolean) that raises the event"),
        (document(values: "[]", extra: #""events": [{"pointer": "/e", "equals": 1, "event": "SOS!"}],"#),
         "events[0].event", #""SOS!" is not a catalogue id: use lowercase letters, digits and '_', starting with a letter (e.g. "battery_voltage")"#),
        (document(values: "[]", extra: #""events": [{"pointer": "/e", "equals": 1, "event": "sos"}, {"pointer": "/e", "equals": 1, "event": "sos"}],"#),
         "events[1]", "repeats events[0] (same pointer, equals and event)"),
        (#"{"version": 1, "id": "Nordlock NL200", "vendor": "V", "model": "M", "deviceType": "digital-lock", "values": []}"#,
         "id", #""Nordlock NL200" is not an id: use lowercase letters, digits, '-', '_' and '.', starting with a letter or digit (e.g. "nordlock-nl200")"#),
        (#"{"version": 1, "id": "x", "id": "y", "vendor": "V", "model": "M", "deviceType": "digital-lock", "values": []}"#,
         "id", "the field appears more than once"),
        (#"{"version": 1, "id": "x", "vendor": " ", "model": "M", "deviceType": "digital-lock", "values": []}"#,
         "vendor", "must not be empty"),
        (#"{"version": 1, "id": "x", "vendor": "V", "model": "M", "deviceType": "Digital Lock", "values": []}"#,
         "deviceType", #""Digital Lock" is not a device type id: use lowercase letters, digits and '-', starting with a letter (e.g. "digital-lock")"#),
        (#"{"version": 1, "id": "x", "vendor": "V", "model": "M", "deviceType": "digital-lock", "values": [], "vendorName": "V"}"#,
         "vendorName", "unknown field; allowed here: version, id, vendor, model, deviceType, description, time, values, events, eventAttributes"),
        ("[]", "", "expected a mapping file (a JSON object), got an array"),
    ])
    func invalidDocument(json: String, field: String, reason: String) {
        #expect(vendorMappingError(json, file: "bad.json") == VendorMappingError(file: "bad.json", field: field, reason: reason))
    }

    @Test func unknownUnitListsTheKnownOnes() throws {
        let error = try #require(vendorMappingError(Self.document(values: #"[{"pointer": "/v", "quantity": "battery_voltage", "unit": "mv"}]"#)))
        #expect(error.field == "values[0].unit")
        #expect(error.reason.hasPrefix(#"unknown unit "mv"; known units: "#))
        #expect(error.reason.contains(" mV "))
        #expect(error.description.hasPrefix("bad.json: values[0].unit: unknown unit"))
    }

    @Test func notJSONNamesTheByte() throws {
        let error = try #require(vendorMappingError(#"{"version": 1,}"#, file: "broken.json"))
        #expect(error == VendorMappingError(file: "broken.json", field: "", reason: "invalid JSON at byte 14: trailing comma before '}' is not allowed"))
        #expect(error.description == "broken.json: invalid JSON at byte 14: trailing comma before '}' is not allowed")
    }

    /// A fresh directory with the given files; removed by the caller.
    private func vendorTemporaryMappingDirectory(_ files: [String: String]) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vendor-mappings-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (name, contents) in files {
            try Data(contents.utf8).write(to: directory.appendingPathComponent(name))
        }
        return directory
    }

    private static func minimal(id: String) -> String {
        #"{"version": 1, "id": "\#(id)", "vendor": "V", "model": "M", "deviceType": "gps-alarm", "values": [{"pointer": "/b", "quantity": "battery"}]}"#
    }

    @Test func loadAllReadsJSONFilesInNameOrder() throws {
        let directory = try vendorTemporaryMappingDirectory([
            "b.json": Self.minimal(id: "bravo"),
            "a.json": Self.minimal(id: "alpha"),
            "README.md": "not a mapping",
            ".editor-backup.json": "{ not json",
            "notes.json.txt": "{ not json",
        ])
        defer { try? FileManager.default.removeItem(at: directory) }
        let mappings = try VendorMapping.loadAll(from: directory)
        #expect(mappings.map(\.id) == ["alpha", "bravo"])
        #expect(mappings.map(\.file) == ["a.json", "b.json"])
    }

    @Test func loadAllRefusesDuplicateIDs() throws {
        let directory = try vendorTemporaryMappingDirectory(["a.json": Self.minimal(id: "dup"), "b.json": Self.minimal(id: "dup")])
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(throws: VendorMappingError(file: "b.json", field: "id", reason: #"duplicate id "dup"; a.json already uses it"#)) {
            try VendorMapping.loadAll(from: directory)
        }
    }

    @Test func loadAllNamesTheInvalidFile() throws {
        let directory = try vendorTemporaryMappingDirectory([
            "a.json": Self.minimal(id: "alpha"),
            "c.json": Self.document(values: #"[{"pointer": "/t", "quantity": "temperature", "unit": "degF"}]"#),
        ])
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            _ = try VendorMapping.loadAll(from: directory)
            Issue.record("loaded a directory with an invalid file")
        } catch {
            #expect(error.file == "c.json")
            #expect(error.field == "values[0].unit")
            #expect(error.reason.hasPrefix(#"unknown unit "degF""#))
        }
    }

    @Test func loadAllOfAMissingDirectoryFails() {
        let directory = URL(fileURLWithPath: "/nonexistent/vendor-mappings-\(UUID().uuidString)")
        do {
            _ = try VendorMapping.loadAll(from: directory)
            Issue.record("listed a directory that does not exist")
        } catch {
            #expect(error.file == directory.path)
            #expect(error.reason.hasPrefix("cannot list the mapping directory"))
        }
    }
}

// MARK: - Robustness

/// A payload serializer for the structural mutations (the parser's output back to JSON text).
private func vendorSerializeJSON(_ value: JSONValue) -> String {
    switch value {
    case .null: return "null"
    case .bool(let flag): return flag ? "true" : "false"
    case .number(let number): return "\(number)"
    case .string(let text):
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    case .array(let elements):
        return "[" + elements.map(vendorSerializeJSON).joined(separator: ",") + "]"
    case .object(let object):
        return "{" + object.members.map { vendorSerializeJSON(.string($0.key)) + ":" + vendorSerializeJSON($0.value) }.joined(separator: ",") + "}"
    }
}

private let vendorMutationLeaves: [JSONValue] = [
    .null, .bool(true), .bool(false), .number(0), .number(-1), .number(0.5), .number(1e308), .number(-1e308),
    .number(1_714_557_600_123), .number(9_007_199_254_740_992), .string(""), .string("LOCKED"), .string("EXITED"),
    .string("2024-13-01T00:00:00Z"), .string("2024-05-01T10:00:00Z"), .string(String(repeating: "ä", count: 60)),
    .array([]), .object(JSONObject()),
]

/// Replaces, removes or duplicates one node somewhere in the tree.
private func vendorMutateTree(_ value: JSONValue, using random: inout SplitMix64) -> JSONValue {
    switch value {
    case .object(var object) where !object.members.isEmpty && Int.random(in: 0..<4, using: &random) != 0:
        let index = Int.random(in: object.members.indices, using: &random)
        switch Int.random(in: 0..<6, using: &random) {
        case 0: object.members.remove(at: index)
        case 1: object.members.append(object.members[index])  // a duplicate key
        default: object.members[index].value = vendorMutateTree(object.members[index].value, using: &random)
        }
        return .object(object)
    case .array(var elements) where !elements.isEmpty && Int.random(in: 0..<4, using: &random) != 0:
        let index = Int.random(in: elements.indices, using: &random)
        elements[index] = vendorMutateTree(elements[index], using: &random)
        return .array(elements)
    default:
        return vendorMutationLeaves[Int.random(in: 0..<vendorMutationLeaves.count, using: &random)]
    }
}

@Suite("Vendor JSON: robustness")
struct VendorMapperRobustnessTests {
    /// One valid payload per shipped mapping (by mapping id).
    static let validPayloads: [(mapping: String, payload: String)] = [
        ("nordlock-nl200", #"{"dev":"NL200-04A1B2","ts":1714557600123,"lock":{"state":"LOCKED","by":"CARD","door":"CLOSED"},"power":{"mv":3712},"rssi":-71,"temp_f":68,"fw":"2.4.1","alarm":"FORCED","evt":"LOCK","flags":{"jam":true,"tamper":false}}"#),
        ("hemlas-hl5", #"{"serial":"HL5-0042","time":"2024-05-01T12:00:00.250+02:00","status":{"locked":false,"doorOpen":true,"jammed":false,"tampered":false},"lastAction":{"method":"rfid"},"battery":0.83,"radio":{"rssi":-64},"info":{"firmware":"5.1.0-se"},"event":{"code":21}}"#),
        ("tryggpos-tp3", #"{"imei":"359881234567890","t":1714557605,"pos":{"lat":59.329323,"lon":18.068581,"acc":12.5,"spd":4.5},"bat":{"pct":76,"chg":true,"low":false},"gsm":{"rssi":-85},"sos":true,"fall":false,"zone":{"state":"EXITED"}}"#),
        ("senioren-gx", #"{"deviceId":"GX-000123","gpsTime":"2024-05-01T10:00:05Z","latitude":57.70887,"longitude":11.97456,"accuracy":8,"speed":0.4,"batteryLevel":54,"charging":"NO","gsmSignal":-93,"fwVersion":"GX-1.9.3","event":"SOS_BUTTON"}"#),
    ]

    enum Outcome { case mapped(issues: Int), rejected }

    /// Maps `bytes` and returns the outcome, or a description of a broken invariant.
    private static func check(_ mapper: VendorMapper, _ bytes: [UInt8]) -> Result<Outcome, VendorRobustnessViolation> {
        do {
            let result = try mapper.map(bytes, receivedAt: vendorReceivedAt)
            let quantities = result.values.map(\.quantity)
            let ruleQuantities = Set(mapper.mapping.values.map(\.quantity))
            let broken =
                result.issues.contains { $0.reason.isEmpty || $0.path.isEmpty }
                || result.values.contains { value in
                    if case .number(let number) = value.value, !number.isFinite { return true }
                    return !value.time.isFinite || value.time < 0
                }
                || Set(quantities).count != quantities.count
                || !Set(quantities).isSubset(of: ruleQuantities)
                || result.events.contains { !$0.time.isFinite }
            if broken {
                return .failure(VendorRobustnessViolation(text: "\(String(decoding: bytes, as: UTF8.self)) → \(result)"))
            }
            return .success(.mapped(issues: result.issues.count))
        } catch {
            if error.reason.isEmpty {
                return .failure(VendorRobustnessViolation(text: "empty reason for \(bytes)"))
            }
            return .success(.rejected)
        }
    }

    static func mappers() throws -> [String: VendorMapper] {
        let mappings = try VendorMapping.loadAll(from: vendorMappingsDirectory)
        return Dictionary(uniqueKeysWithValues: mappings.map { ($0.id, VendorMapper(mapping: $0, canonicalUnit: vendorCatalogueUnit)) })
    }

    @Test func validPayloadsMapWithoutIssues() throws {
        let mappers = try Self.mappers()
        for (id, payload) in Self.validPayloads {
            let mapper = try #require(mappers[id])
            let result = try mapper.map(Array(payload.utf8), receivedAt: vendorReceivedAt)
            #expect(result.issues.isEmpty, "\(id): \(result.issues)")
            #expect(!result.values.isEmpty && !result.events.isEmpty, "\(id)")
        }
    }

    @Test func randomBytesNeverCrash() throws {
        let mappers = try Self.mappers().values.sorted { $0.mapping.id < $1.mapping.id }
        var random = SplitMix64(state: 0xFE11_0C4B)
        let alphabet = Array(#"{}[]",:0123456789.-eE tfnulrs/\"#.utf8) + [0x00, 0x0A, 0x80, 0xC3, 0xFF]
        var violations: [VendorRobustnessViolation] = []
        var rejected = 0
        for round in 0..<2000 {
            let length = Int.random(in: 0...96, using: &random)
            let bytes: [UInt8] = (0..<length).map { _ in
                round.isMultiple(of: 2)
                    ? UInt8.random(in: .min ... .max, using: &random)
                    : alphabet[Int.random(in: 0..<alphabet.count, using: &random)]
            }
            switch Self.check(mappers[round % mappers.count], bytes) {
            case .failure(let violation): violations.append(violation)
            case .success(.rejected): rejected += 1
            case .success(.mapped): break
            }
        }
        #expect(violations.isEmpty, "\(violations.prefix(3))")
        #expect(rejected > 1900)  // random bytes are almost never a JSON object with a valid time
    }

    @Test func mutatedValidPayloadsNeverCrash() throws {
        let mappers = try Self.mappers()
        var random = SplitMix64(state: 0x5EED_B10C)
        let insertable = Array(#"{}[]",:0-9.e\"#.utf8) + [0x00, 0x1F, 0x80, 0xED, 0xFF]
        var violations: [VendorRobustnessViolation] = []
        var mappedWithIssues = 0
        var rejected = 0
        for round in 0..<2000 {
            let (id, payload) = Self.validPayloads[round % Self.validPayloads.count]
            let mapper = try #require(mappers[id])
            var bytes = Array(payload.utf8)
            if round.isMultiple(of: 2) {
                // Structural: one to three changes to the parsed tree, serialized again.
                var tree = try JSONParser.parse(bytes)
                for _ in 0..<Int.random(in: 1...3, using: &random) {
                    tree = vendorMutateTree(tree, using: &random)
                }
                bytes = Array(vendorSerializeJSON(tree).utf8)
            } else {
                // Byte level: flips, truncations, insertions, deletions.
                for _ in 0..<Int.random(in: 1...3, using: &random) {
                    switch Int.random(in: 0..<4, using: &random) {
                    case 0 where !bytes.isEmpty:
                        bytes[Int.random(in: 0..<bytes.count, using: &random)] ^= UInt8(1 << Int.random(in: 0..<8, using: &random))
                    case 1 where !bytes.isEmpty:
                        bytes.removeLast(Int.random(in: 1...bytes.count, using: &random))
                    case 2 where !bytes.isEmpty:
                        bytes.remove(at: Int.random(in: 0..<bytes.count, using: &random))
                    default:
                        bytes.insert(insertable[Int.random(in: 0..<insertable.count, using: &random)], at: Int.random(in: 0...bytes.count, using: &random))
                    }
                }
            }
            switch Self.check(mapper, bytes) {
            case .failure(let violation): violations.append(violation)
            case .success(.rejected): rejected += 1
            case .success(.mapped(let issues)): if issues > 0 { mappedWithIssues += 1 }
            }
        }
        #expect(violations.isEmpty, "\(violations.prefix(3))")
        // Both outcomes are exercised: the mutations reach per-field issues, not only parse errors.
        #expect(mappedWithIssues > 200)
        #expect(rejected > 200)
    }
}

private struct VendorRobustnessViolation: Error, CustomStringConvertible {
    var text: String
    var description: String { text }
}
