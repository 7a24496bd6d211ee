import Foundation
import Models
import Testing
@testable import Ingest

// MARK: - Helpers (normalization-specific names: this target holds other suites too)

/// `DataModels` of this checkout: this file is `Tests/IngestTests/NormalizationTests.swift`.
private let normalizationDataModels = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // Tests/IngestTests
    .deletingLastPathComponent()  // Tests
    .deletingLastPathComponent()  // the package root
    .appendingPathComponent("DataModels")

private let normalizationReceivedAt: Double = 1_714_557_700

private func normalizationCatalogue() throws -> Catalogue {
    try Catalogue.load(from: normalizationDataModels)
}

private func normalizationMappings() throws -> [VendorMapping] {
    try VendorMapping.loadAll(from: normalizationDataModels.appendingPathComponent("mappings"))
}

private func normalizationNormalizer() throws -> CatalogueNormalizer {
    try CatalogueNormalizer(catalogue: normalizationCatalogue(), mappings: normalizationMappings())
}

private func normalizationRun(
    _ normalizer: CatalogueNormalizer, _ deviceType: String, _ format: PayloadFormat, _ payload: String,
    model: String? = nil
) throws -> NormalizedPayload {
    try normalizer.normalize(
        deviceType: deviceType, model: model, format: format, payload: Array(payload.utf8), receivedAt: normalizationReceivedAt)
}

/// The whole-message rejection for a payload, or nil when it normalizes.
private func normalizationRejection(
    _ normalizer: CatalogueNormalizer, _ deviceType: String, _ format: PayloadFormat, _ payload: String,
    model: String? = nil
) -> Rejection? {
    do {
        _ = try normalizer.normalize(
            deviceType: deviceType, model: model, format: format, payload: Array(payload.utf8), receivedAt: normalizationReceivedAt)
        return nil
    } catch {
        return error
    }
}

private let normalizationSensitive90 = Classification(confidentiality: .sensitive, personalData: true, retentionDays: 90)
private let normalizationSensitive30 = Classification(confidentiality: .sensitive, personalData: true, retentionDays: 30)
private let normalizationSensitive365 = Classification(confidentiality: .sensitive, personalData: true, retentionDays: 365)
private let normalizationInternal365 = Classification(confidentiality: .internal, personalData: false, retentionDays: 365)
private let normalizationInternal30 = Classification(confidentiality: .internal, personalData: false, retentionDays: 30)
private let normalizationOpen730 = Classification(confidentiality: .open, personalData: false, retentionDays: 730)

private func normalizationValue(
    _ quantity: String, _ value: NormalizedScalar, _ unit: String?, _ classification: Classification,
    _ time: Double, _ path: String
) -> NormalizedValue {
    NormalizedValue(quantity: quantity, value: value, unit: unit, classification: classification, observedAt: time, sourcePath: path)
}

/// Every value and event carries exactly its catalogue entry's classification.
private func normalizationExpectClassified(_ result: NormalizedPayload, _ catalogue: Catalogue) {
    for value in result.values {
        #expect(value.classification == catalogue.quantity(value.quantity)?.classification, "\(value.quantity)")
    }
    for event in result.events {
        #expect(event.classification == catalogue.event(event.event)?.classification, "\(event.event)")
    }
}

// MARK: - Sample payloads

private let normalizationLockSenML = """
    [{"bt":1714557600,"n":"lock_state","vs":"unlocked"},
     {"n":"lock_change_method","vs":"staff_credential"},
     {"n":"battery_voltage","u":"mV","v":3712},
     {"n":"unlocked","vb":true},
     {"n":"forced_entry","vb":false},
     {"n":"tamper","vb":false}]
    """

private let normalizationGPSSenML = """
    [{"bt":1714557605,"n":"latitude","u":"lat","v":59.329323},
     {"n":"longitude","v":18.068581},
     {"n":"position_accuracy","u":"m","v":12.5},
     {"n":"speed","u":"km/h","v":4.5},
     {"n":"sos","vb":true},
     {"n":"geofence_exit","vs":"home"},
     {"n":"heartbeat","vb":true}]
    """

private let normalizationSensorSenML = """
    [{"bt":1714557000,"n":"temperature","u":"[degF]","v":68},
     {"n":"humidity","u":"%RH","v":41.5},
     {"n":"battery_voltage","u":"mV","v":2950},
     {"t":60,"n":"temperature","u":"K","v":293.65}]
    """

private let normalizationSCAIPButton = """
    <?xml version="1.0" encoding="UTF-8"?>
    <mrq>
      <ref>ab12cd34</ref>
      <ver>1.1</ver>
      <cid>0046701234567</cid>
      <dty>0003</dty>
      <did>SA-000123</did>
      <mty>ME</mty>
      <stc>0010</stc>
      <stt>Manual alarm</stt>
      <pri>1</pri>
      <lco>0001</lco>
      <lte>Hallway</lte>
      <lge>59.3293,18.0686</lge>
    </mrq>
    """

private func normalizationSCAIP(_ mty: String, _ extra: String = "") -> String {
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><mrq><ref>r1</ref><cid>c1</cid><mty>\(mty)</mty>\(extra)</mrq>"
}

private let normalizationTryggpos = """
    {"imei":"359881234567890","t":1714557605,
     "pos":{"lat":59.329323,"lon":18.068581,"acc":12.5,"spd":4.5,"fix":"3D"},
     "bat":{"pct":76,"chg":true,"low":false},"gsm":{"rssi":-85},
     "sos":true,"fall":false,"zone":{"state":"EXITED","id":"home"}}
    """

private let normalizationHemlas = """
    {"serial":"HL5-0042","time":"2024-05-01T12:00:00.250+02:00",
     "status":{"locked":false,"doorOpen":true,"jammed":false,"tampered":false},
     "lastAction":{"method":"rfid"},"battery":0.83,"radio":{"rssi":-64},"info":{"firmware":"5.1.0-se"},
     "event":{"code":2}}
    """

private let normalizationNordlock = """
    {"ts":1714557600000,"lock":{"state":"LOCKED","by":"CARD","door":"CLOSED"},"power":{"mv":3600},"rssi":-70,"fw":"2.4.1",
     "flags":{"tamper":false,"jam":false},"evt":"LOCK"}
    """

// MARK: - SenML

@Suite("Normalization: SenML")
struct NormalizationSenMLTests {
    @Test func lockPack() throws {
        let catalogue = try normalizationCatalogue()
        let result = try normalizationRun(normalizationNormalizer(), "digital-lock", .senml, normalizationLockSenML)
        let t: Double = 1_714_557_600
        #expect(result.values == [
            normalizationValue("lock_state", .string("unlocked"), nil, normalizationSensitive90, t, "records[0]"),
            normalizationValue("lock_change_method", .string("staff_credential"), nil, normalizationSensitive90, t, "records[1]"),
            normalizationValue("battery_voltage", .number(3.712), "V", normalizationInternal365, t, "records[2]"),  // 3712 mV
            // `tamper` is both a quantity and an event; the lock produces the quantity, so it is a value.
            normalizationValue("tamper", .boolean(false), nil, normalizationInternal365, t, "records[5]"),
        ])
        // vb:false on an event raises nothing.
        #expect(result.events == [
            NormalizedEvent(event: "unlocked", observedAt: t, classification: normalizationSensitive90, sourcePath: "records[3]"),
        ])
        #expect(result.rejections.isEmpty)
        normalizationExpectClassified(result, catalogue)
    }

    @Test func gpsAlarmPackWithPositionFold() throws {
        let catalogue = try normalizationCatalogue()
        let result = try normalizationRun(normalizationNormalizer(), "gps-alarm", .senml, normalizationGPSSenML)
        let t: Double = 1_714_557_605
        #expect(result.values == [
            normalizationValue("latitude", .number(59.329323), "lat", normalizationSensitive30, t, "records[0]"),
            normalizationValue("longitude", .number(18.068581), "lon", normalizationSensitive30, t, "records[1]"),
            normalizationValue("position_accuracy", .number(12.5), "m", normalizationSensitive30, t, "records[2]"),
            normalizationValue("speed", .number(1.25), "m/s", normalizationSensitive30, t, "records[3]"),  // 4.5 km/h
            normalizationValue("heartbeat", .boolean(true), nil, normalizationInternal30, t, "records[6]"),
            normalizationValue(
                "position", .position(latitude: 59.329323, longitude: 18.068581, accuracy: 12.5), nil,
                normalizationSensitive30, t, "records[0],records[1],records[2]"),
        ])
        #expect(result.events == [
            NormalizedEvent(event: "sos", observedAt: t, classification: normalizationSensitive365, sourcePath: "records[4]"),
            NormalizedEvent(
                event: "geofence_exit", observedAt: t, classification: normalizationSensitive365,
                attributes: ["value": "home"], sourcePath: "records[5]"),
        ])
        #expect(result.rejections.isEmpty)
        normalizationExpectClassified(result, catalogue)
    }

    @Test func positionIsNotFoldedAcrossTimesOrForTypesWithoutPosition() throws {
        let normalizer = try normalizationNormalizer()
        let result = try normalizationRun(normalizer, "gps-alarm", .senml, """
            [{"bt":100000000000,"n":"latitude","v":59.0},{"t":1,"n":"longitude","v":18.0}]
            """)
        #expect(result.values.map(\.quantity) == ["latitude", "longitude"])
        // The sensor does not produce latitude at all.
        let sensor = try normalizationRun(normalizer, "sensor", .senml, #"[{"bt":1714557600,"n":"latitude","v":59.0}]"#)
        #expect(sensor.values.isEmpty)
        #expect(sensor.rejections == [Rejection(
            path: "records[0]", reason: #"quantity "latitude" is not produced by device type "sensor""#)])
    }

    @Test func sensorPackWithUnitConversions() throws {
        let catalogue = try normalizationCatalogue()
        let result = try normalizationRun(normalizationNormalizer(), "sensor", .senml, normalizationSensorSenML)
        let t: Double = 1_714_557_000
        #expect(result.values == [
            normalizationValue("temperature", .number(20), "Cel", normalizationOpen730, t, "records[0]"),  // 68 °F
            normalizationValue("humidity", .number(41.5), "%RH", normalizationOpen730, t, "records[1]"),
            normalizationValue("battery_voltage", .number(2.95), "V", normalizationInternal365, t, "records[2]"),  // 2950 mV
            normalizationValue("temperature", .number(20.5), "Cel", normalizationOpen730, t + 60, "records[3]"),  // 293.65 K
        ])
        #expect(result.events.isEmpty)
        #expect(result.rejections.isEmpty)
        normalizationExpectClassified(result, catalogue)
    }

    @Test func everyPerRecordRejection() throws {
        let result = try normalizationRun(normalizationNormalizer(), "gps-alarm", .senml, """
            [{"bt":1714557600,"n":"lock_state","vs":"locked"},
             {"n":"bogus","v":1},
             {"n":"battery","v":140},
             {"n":"battery","u":"mV","v":3000},
             {"n":"charging","vs":"yes"},
             {"n":"status","vs":"sleeping"},
             {"n":"forced_entry","vb":true},
             {"n":"battery","v":50},
             {"n":"sos","v":1},
             {"n":"speed","v":-3},
             {"n":"position","v":1},
             {"n":"firmware_version","u":"V","vs":"1.0"},
             {"n":"battery","vs":"full"}]
            """)
        #expect(result.values == [
            normalizationValue("battery", .number(50), "%", normalizationInternal365, 1_714_557_600, "records[7]"),
        ])
        #expect(result.events.isEmpty)
        #expect(result.rejections == [
            Rejection(path: "records[0]", reason: #"quantity "lock_state" is not produced by device type "gps-alarm""#),
            Rejection(path: "records[1]", reason: #""bogus" is neither a quantity nor an event of the catalogue"#),
            Rejection(path: "records[2]", reason: "battery 140 % is outside 0...100"),
            Rejection(path: "records[3]", reason: #"unit "mV" cannot be converted to "%" for battery"#),
            Rejection(path: "records[4]", reason: #"charging expects a boolean, got a string "yes""#),
            Rejection(path: "records[5]", reason: #"status "sleeping" is not one of the allowed values: online, offline"#),
            Rejection(path: "records[6]", reason: #"event "forced_entry" is not produced by device type "gps-alarm""#),
            Rejection(path: "records[8]", reason: #"event "sos" needs vb true/false or a vs value, got a number 1"#),
            Rejection(path: "records[9]", reason: "speed -3 m/s is outside 0...100"),
            Rejection(path: "records[10]", reason: "position cannot be sent as one SenML record; send latitude and longitude records with the same time"),
            Rejection(path: "records[11]", reason: #"unit "V" given for firmware_version, which has no unit"#),
            Rejection(path: "records[12]", reason: #"battery expects a number, got a string "full""#),
        ])
    }

    @Test func resolverRecordRejectionsKeepTheirIndexAndTheRestCounts() throws {
        let payload = #"[{"bt":1714557600,"n":"battery","v":50},{"n":"battery"},{"n":"battery","v":"x"}]"#
        let result = try normalizationRun(normalizationNormalizer(), "sensor", .senml, payload)
        let pack = try SenML.resolve(Array(payload.utf8), now: normalizationReceivedAt)
        #expect(result.values.map(\.sourcePath) == ["records[0]"])
        #expect(pack.rejected.count == 2)
        #expect(result.rejections == pack.rejected.map { Rejection(path: "records[\($0.index)]", reason: $0.description) })
        #expect(result.rejections.map(\.path) == ["records[1]", "records[2]"])
    }

    @Test func unparseablePackIsRejectedWithTheResolverText() throws {
        let normalizer = try normalizationNormalizer()
        for payload in ["not json", "{}", "[]", #"[{"n":"battery","v":1},3]"#] {
            var expected: SenMLPackError?
            do { _ = try SenML.resolve(Array(payload.utf8), now: normalizationReceivedAt) } catch { expected = error }
            let error = try #require(expected)
            let rejection = normalizationRejection(normalizer, "sensor", .senml, payload)
            #expect(rejection == Rejection(path: error.index.map { "records[\($0)]" } ?? "", reason: error.description))
        }
        #expect(normalizationRejection(normalizer, "sensor", .senml, #"[{"n":"battery","v":1},3]"#)?.path == "records[1]")
    }
}

// MARK: - Vendor JSON

@Suite("Normalization: vendor JSON")
struct NormalizationVendorJSONTests {
    @Test func tryggposWithPositionFold() throws {
        let catalogue = try normalizationCatalogue()
        let result = try normalizationRun(normalizationNormalizer(), "gps-alarm", .vendorJSON, normalizationTryggpos, model: "tryggpos-tp3")
        let t: Double = 1_714_557_605
        #expect(result.values == [
            normalizationValue("latitude", .number(59.329323), "lat", normalizationSensitive30, t, "/pos/lat"),
            normalizationValue("longitude", .number(18.068581), "lon", normalizationSensitive30, t, "/pos/lon"),
            normalizationValue("position_accuracy", .number(12.5), "m", normalizationSensitive30, t, "/pos/acc"),
            normalizationValue("speed", .number(1.25), "m/s", normalizationSensitive30, t, "/pos/spd"),
            normalizationValue("battery", .number(76), "%", normalizationInternal365, t, "/bat/pct"),
            normalizationValue("charging", .boolean(true), nil, normalizationInternal365, t, "/bat/chg"),
            normalizationValue("signal_strength", .number(-85), "dBm", normalizationInternal365, t, "/gsm/rssi"),
            normalizationValue(
                "position", .position(latitude: 59.329323, longitude: 18.068581, accuracy: 12.5), nil,
                normalizationSensitive30, t, "/pos/lat,/pos/lon,/pos/acc"),
        ])
        #expect(result.events == [
            NormalizedEvent(event: "sos", observedAt: t, classification: normalizationSensitive365, sourcePath: "/sos"),
            NormalizedEvent(event: "geofence_exit", observedAt: t, classification: normalizationSensitive365, sourcePath: "/zone/state"),
        ])
        #expect(result.rejections.isEmpty)
        normalizationExpectClassified(result, catalogue)
    }

    @Test func hemlasStatusReport() throws {
        let catalogue = try normalizationCatalogue()
        let result = try normalizationRun(normalizationNormalizer(), "digital-lock", .vendorJSON, normalizationHemlas, model: "hemlas-hl5")
        let t = 1_714_557_600.25
        #expect(result.values == [
            normalizationValue("lock_state", .string("unlocked"), nil, normalizationSensitive90, t, "/status/locked"),
            normalizationValue("door_state", .string("open"), nil, normalizationSensitive90, t, "/status/doorOpen"),
            normalizationValue("jammed", .boolean(false), nil, normalizationInternal365, t, "/status/jammed"),
            normalizationValue("tamper", .boolean(false), nil, normalizationInternal365, t, "/status/tampered"),
            normalizationValue("lock_change_method", .string("staff_credential"), nil, normalizationSensitive90, t, "/lastAction/method"),
            normalizationValue("battery", .number(83), "%", normalizationInternal365, t, "/battery"),
            normalizationValue("signal_strength", .number(-64), "dBm", normalizationInternal365, t, "/radio/rssi"),
            normalizationValue("firmware_version", .string("5.1.0-se"), nil, normalizationInternal365, t, "/info/firmware"),
        ])
        #expect(result.events == [
            NormalizedEvent(event: "unlocked", observedAt: t, classification: normalizationSensitive90, sourcePath: "/event/code"),
        ])
        #expect(result.rejections.isEmpty)
        normalizationExpectClassified(result, catalogue)
    }

    @Test func catalogueChecksAndMapperIssuesBecomeRejections() throws {
        let normalizer = try normalizationNormalizer()
        let result = try normalizationRun(normalizer, "gps-alarm", .vendorJSON, """
            {"t":1714557605,"pos":{"lat":95.5,"lon":18.0},"bat":{"pct":140,"chg":"yes"},"gsm":{"rssi":-85}}
            """, model: "tryggpos-tp3")
        #expect(result.values == [
            normalizationValue("longitude", .number(18), "lon", normalizationSensitive30, 1_714_557_605, "/pos/lon"),
            normalizationValue("signal_strength", .number(-85), "dBm", normalizationInternal365, 1_714_557_605, "/gsm/rssi"),
        ])
        #expect(result.rejections == [
            Rejection(path: "/pos/lat", reason: "latitude 95.5 lat is outside -90...90"),
            Rejection(path: "/bat/pct", reason: "battery 140 % is outside 0...100"),
            Rejection(path: "/bat/chg", reason: #"charging expects a boolean, got a string "yes""#),
        ])
        let nordlock = try normalizationRun(normalizer, "digital-lock", .vendorJSON, #"{"ts":1714557600000,"lock":{"state":"AJAR"},"power":{"mv":3600}}"#, model: "nordlock-nl200")
        #expect(nordlock.rejections == [Rejection(
            path: "/lock/state",
            reason: #"lock_state: the string "AJAR" is not in the map (mapped: "LOCKED", "UNLOCKED") and the rule has no default"#)])
        #expect(nordlock.values.map(\.quantity) == ["battery_voltage"])
    }

    @Test func nordlockGolden() throws {
        let result = try normalizationRun(normalizationNormalizer(), "digital-lock", .vendorJSON, normalizationNordlock, model: "nordlock-nl200")
        let t: Double = 1_714_557_600
        #expect(result.values.map(\.quantity) == [
            "lock_state", "lock_change_method", "door_state", "battery_voltage", "signal_strength", "firmware_version", "tamper", "jammed",
        ])
        #expect(result.values[3] == normalizationValue("battery_voltage", .number(3.6), "V", normalizationInternal365, t, "/power/mv"))
        #expect(result.events == [NormalizedEvent(event: "locked", observedAt: t, classification: normalizationSensitive90, sourcePath: "/evt")])
        #expect(result.rejections.isEmpty)
    }

    @Test func wholeMessageRejections() throws {
        let normalizer = try normalizationNormalizer()
        #expect(normalizationRejection(normalizer, "gps-alarm", .vendorJSON, normalizationTryggpos, model: nil) == Rejection(
            path: "", reason: "vendor-json needs the device model (the mapping id); none is known for this device"))
        #expect(normalizationRejection(normalizer, "gps-alarm", .vendorJSON, normalizationTryggpos, model: "acme-1") == Rejection(
            path: "", reason: #"no vendor mapping for model "acme-1""#))
        #expect(normalizationRejection(normalizer, "gps-alarm", .vendorJSON, normalizationHemlas, model: "hemlas-hl5") == Rejection(
            path: "", reason: #"vendor mapping "hemlas-hl5" is for device type "digital-lock", not "gps-alarm""#))
        #expect(normalizationRejection(normalizer, "gps-alarm", .vendorJSON, "[1]", model: "tryggpos-tp3") == Rejection(
            path: "", reason: "payload must be a JSON object, got an array"))
        #expect(normalizationRejection(normalizer, "digital-lock", .vendorJSON, #"{"time":"2024-05-01T12:00:00","status":{"locked":true,"jammed":false},"battery":0.5}"#, model: "hemlas-hl5") == Rejection(
            path: "/time",
            reason: #"message time "2024-05-01T12:00:00" is not an RFC 3339 date-time: missing the UTC offset ('Z' or ±HH:MM); a time without one is ambiguous"#))
    }

    @Test func anSOSWithAnImpossibleTimeIsKeptAtItsArrivalTime() throws {
        let normalizer = try normalizationNormalizer()
        let result = try normalizer.normalize(
            deviceType: "gps-alarm", model: "tryggpos-tp3", format: .vendorJSON,
            payload: Array(#"{"t":10000000000000,"pos":{"lat":57.7,"lon":11.9},"bat":{"pct":70},"sos":true}"#.utf8),
            receivedAt: normalizationReceivedAt)
        #expect(result.events.map(\.event) == ["sos"])
        #expect(result.events.first?.observedAt == normalizationReceivedAt)
        #expect(result.values.isEmpty, "values need their time")
        #expect(result.rejections.first?.path == "/t")
        #expect(result.rejections.first?.reason.hasSuffix("no value stored, events kept at their arrival time") == true)
    }
}

// MARK: - SCAIP

@Suite("Normalization: SCAIP")
struct NormalizationSCAIPTests {
    @Test func alarmButton() throws {
        let catalogue = try normalizationCatalogue()
        let result = try normalizationRun(normalizationNormalizer(), "safety-alarm", .scaipXML, normalizationSCAIPButton)
        let t = normalizationReceivedAt
        #expect(result.events == [NormalizedEvent(
            event: "alarm_button", observedAt: t, classification: normalizationSensitive365,
            attributes: ["ref": "ab12cd34", "cid": "0046701234567", "did": "SA-000123", "dty": "0003", "stc": "0010",
                         "stt": "Manual alarm", "pri": "1", "lco": "0001", "lte": "Hallway", "lge": "59.3293,18.0686"],
            sourcePath: "dty")])
        #expect(result.values == [
            normalizationValue("location_text", .string("Hallway"), nil, normalizationSensitive30, t, "lte"),
            normalizationValue("location_code", .string("0001"), nil, normalizationSensitive30, t, "lco"),
            normalizationValue("position", .position(latitude: 59.3293, longitude: 18.0686, accuracy: nil), nil, normalizationSensitive30, t, "lge"),
        ])
        #expect(result.rejections.isEmpty)
        normalizationExpectClassified(result, catalogue)
    }

    @Test func alarmEventByDeviceTypeAndStatusCode() throws {
        let normalizer = try normalizationNormalizer()
        let cases: [(String, String, [String: String])] = [
            ("<dty>0005</dty><lge>59.8586, 17.6389, 15</lge>", "fall_detector", ["dty": "0005", "lge": "59.8586,17.6389,15.0"]),
            ("<dty>0014</dty>", "door_sensor_open", ["dty": "0014"]),
            ("<dty>0099</dty>", "alarm_button", ["dty": "0099"]),
            ("", "alarm_button", [:]),
            ("<dty>0005</dty><stc>0016</stc>", "low_battery", ["dty": "0005", "stc": "0016"]),
        ]
        for (extra, event, attributes) in cases {
            let result = try normalizationRun(normalizer, "safety-alarm", .scaipXML, normalizationSCAIP("ME", extra))
            #expect(result.events.map(\.event) == [event], "\(extra)")
            #expect(result.events.first?.attributes == attributes.merging(["ref": "r1", "cid": "c1"]) { a, _ in a }, "\(extra)")
        }
        let fall = try normalizationRun(normalizer, "safety-alarm", .scaipXML, normalizationSCAIP("ME", "<dty>0005</dty><lge>59.8586, 17.6389, 15</lge>"))
        #expect(fall.values.first?.value == .position(latitude: 59.8586, longitude: 17.6389, accuracy: 15))
    }

    @Test func resetHeartbeatAndInfo() throws {
        let normalizer = try normalizationNormalizer()
        let t = normalizationReceivedAt
        let reset = try normalizationRun(normalizer, "safety-alarm", .scaipXML, normalizationSCAIP("RE", "<stc>0092</stc>"))
        #expect(reset.events == [NormalizedEvent(
            event: "alarm_cancelled", observedAt: t, classification: normalizationSensitive365,
            attributes: ["ref": "r1", "cid": "c1", "stc": "0092"], sourcePath: "mty")])
        #expect(reset.values.isEmpty && reset.rejections.isEmpty)

        let ping = try normalizationRun(normalizer, "safety-alarm", .scaipXML, normalizationSCAIP("PI"))
        #expect(ping.events == [NormalizedEvent(
            event: "heartbeat", observedAt: t, classification: normalizationInternal30,
            attributes: ["ref": "r1", "cid": "c1"], sourcePath: "mty")])
        #expect(ping.values == [normalizationValue("heartbeat", .boolean(true), nil, normalizationInternal30, t, "mty")])

        let battery = try normalizationRun(normalizer, "safety-alarm", .scaipXML, normalizationSCAIP("IN", "<stc>0016</stc><stt>Battery low</stt>"))
        #expect(battery.events == [NormalizedEvent(
            event: "low_battery", observedAt: t, classification: normalizationInternal365,
            attributes: ["ref": "r1", "cid": "c1", "stc": "0016", "stt": "Battery low"], sourcePath: "stc")])

        // 0118/0127 map to locked/unlocked, which the safety alarm type does not produce.
        let locked = try normalizationRun(normalizer, "safety-alarm", .scaipXML, normalizationSCAIP("IN", "<stc>0118</stc><lte>Entré</lte>"))
        #expect(locked.events.isEmpty)
        #expect(locked.rejections == [Rejection(path: "stc", reason: #"event "locked" is not produced by device type "safety-alarm""#)])
        #expect(locked.values.map(\.quantity) == ["location_text"])  // the rest of the message still counts
        let unlocked = try normalizationRun(normalizer, "safety-alarm", .scaipXML, normalizationSCAIP("IN", "<stc>0127</stc>"))
        #expect(unlocked.rejections == [Rejection(path: "stc", reason: #"event "unlocked" is not produced by device type "safety-alarm""#)])

        let unknown = try normalizationRun(normalizer, "safety-alarm", .scaipXML, normalizationSCAIP("IN", "<stc>0042</stc>"))
        #expect(unknown.events.isEmpty)
        #expect(unknown.rejections == [Rejection(path: "stc", reason: "status code 0042 has no catalogue event")])
        let none = try normalizationRun(normalizer, "safety-alarm", .scaipXML, normalizationSCAIP("IN"))
        #expect(none.rejections == [Rejection(path: "stc", reason: "an IN message without a status code has no catalogue event")])
    }

    @Test func scaipTableUsesOnlyCatalogueEvents() throws {
        let catalogue = try normalizationCatalogue()
        for id in ["alarm_button", "fall_detector", "door_sensor_open", "low_battery", "alarm_cancelled", "heartbeat", "locked", "unlocked"] {
            #expect(catalogue.event(id) != nil, "\(id)")
        }
    }

    @Test func unparseableSCAIPIsRejectedWithTheParserText() throws {
        let normalizer = try normalizationNormalizer()
        for payload in ["", "hello", "<mrq><cid>c</cid><mty>ME</mty></mrq>", normalizationSCAIP("XX")] {
            var expected: SCAIPError?
            do { _ = try SCAIPParser.parse(Array(payload.utf8)) } catch { expected = error }
            let error = try #require(expected, "\(payload)")
            #expect(normalizationRejection(normalizer, "safety-alarm", .scaipXML, payload) == Rejection(path: error.field ?? "", reason: error.description))
        }
        // An unreadable optional field is a rejection of its own; the alarm stands.
        let badPosition = try normalizationRun(normalizer, "safety-alarm", .scaipXML, normalizationSCAIP("ME", "<lge>91.2,18</lge>"))
        #expect(badPosition.events.map(\.event) == ["alarm_button"])
        #expect(badPosition.rejections == [Rejection(path: "lge", reason: "latitude 91.2 is outside -90...90")])
    }
}

// MARK: - Whole message, configuration, robustness

@Suite("Normalization: device types, configuration and robustness")
struct NormalizationGeneralTests {
    @Test func everyPayloadFormatHasItsAdapter() throws {
        let normalizer = try normalizationNormalizer()
        for format in PayloadFormat.allCases {
            #expect(type(of: normalizer.adapter(for: format)).format == format)
        }
    }

    @Test func unknownDeviceTypeAndUnacceptedFormat() throws {
        let normalizer = try normalizationNormalizer()
        #expect(normalizationRejection(normalizer, "toaster", .senml, normalizationLockSenML) == Rejection(
            path: "", reason: #"unknown device type "toaster""#))
        #expect(normalizationRejection(normalizer, "sensor", .vendorJSON, normalizationTryggpos, model: "tryggpos-tp3") == Rejection(
            path: "", reason: #"device type "sensor" does not send payload format "vendor-json" (its formats: senml)"#))
        #expect(normalizationRejection(normalizer, "digital-lock", .scaipXML, normalizationSCAIPButton) == Rejection(
            path: "", reason: #"device type "digital-lock" does not send payload format "scaip-xml" (its formats: senml, vendor-json)"#))
        #expect(Rejection(path: "records[1]", reason: "x").description == "records[1]: x")
        #expect(Rejection(path: "", reason: "x").description == "x")
    }

    private func mappingError(_ json: String) throws -> NormalizerConfigurationError? {
        let mapping = try VendorMapping.decode(Array(json.utf8), file: "test.json")
        do {
            _ = try CatalogueNormalizer(catalogue: normalizationCatalogue(), mappings: [mapping])
            return nil
        } catch let error as NormalizerConfigurationError {
            return error
        }
    }

    @Test func initRefusesMappingsThatDoNotFitTheCatalogue() throws {
        let head = #"{"version":1,"id":"t","vendor":"V","model":"M","#
        #expect(try mappingError(head + #""deviceType":"toaster","values":[{"pointer":"/b","quantity":"battery"}]}"#)
            == NormalizerConfigurationError(mapping: "test.json", field: "deviceType", reason: #"unknown device type "toaster""#))
        #expect(try mappingError(head + #""deviceType":"gps-alarm","values":[{"pointer":"/b","quantity":"batery"}]}"#)
            == NormalizerConfigurationError(mapping: "test.json", field: "values[0].quantity", reason: #"unknown quantity "batery""#))
        #expect(try mappingError(head + #""deviceType":"gps-alarm","values":[{"pointer":"/b","quantity":"lock_state"}]}"#)
            == NormalizerConfigurationError(mapping: "test.json", field: "values[0].quantity", reason: #"quantity "lock_state" is not produced by device type "gps-alarm""#))
        #expect(try mappingError(head + #""deviceType":"gps-alarm","events":[{"pointer":"/a","equals":true,"event":"explosion"}]}"#)
            == NormalizerConfigurationError(mapping: "test.json", field: "events[0].event", reason: #"unknown event "explosion""#))
        let unit = try mappingError(head + #""deviceType":"gps-alarm","values":[{"pointer":"/s","quantity":"speed","optional":true},{"pointer":"/b","quantity":"battery","unit":"mV"}]}"#)
        #expect(unit?.field == "values[1].unit")
        #expect(unit?.reason.contains("mV") == true)
        #expect(try mappingError(head + #""deviceType":"gps-alarm","values":[{"pointer":"/b","quantity":"battery","unit":"/"}]}"#) == nil)
    }

    /// Normalizes `payload`, checking the invariants; returns a description of a violation or nil.
    private func violation(_ normalizer: CatalogueNormalizer, _ catalogue: Catalogue, _ deviceType: String, _ model: String?, _ format: PayloadFormat, _ payload: [UInt8]) -> String? {
        let type = catalogue.deviceType(deviceType)!
        do {
            let result = try normalizer.normalize(deviceType: deviceType, model: model, format: format, payload: payload, receivedAt: normalizationReceivedAt)
            if let bad = result.values.first(where: { !type.produces(quantity: $0.quantity) || $0.classification != catalogue.quantity($0.quantity)?.classification }) {
                return "value \(bad) does not fit the device type"
            }
            if let bad = result.events.first(where: { !type.produces(event: $0.event) }) { return "event \(bad) not produced" }
            if let bad = result.rejections.first(where: { $0.reason.isEmpty }) { return "empty rejection at \(bad.path)" }
            return nil
        } catch {
            return error.reason.isEmpty ? "thrown rejection with empty reason" : nil
        }
    }

    private static let seeds: [(String, String?, PayloadFormat, String)] = [
        ("gps-alarm", nil, .senml, normalizationGPSSenML),
        ("digital-lock", nil, .senml, normalizationLockSenML),
        ("sensor", nil, .senml, normalizationSensorSenML),
        ("gps-alarm", "tryggpos-tp3", .vendorJSON, normalizationTryggpos),
        ("digital-lock", "hemlas-hl5", .vendorJSON, normalizationHemlas),
        ("safety-alarm", nil, .scaipXML, normalizationSCAIPButton),
    ]

    @Test func randomBytesNeverCrash() throws {
        let normalizer = try normalizationNormalizer()
        let catalogue = try normalizationCatalogue()
        var random = SplitMix64(state: 0x0A0B_1A11_2E00_0001)
        var violations: [String] = []
        var thrown = 0
        for (deviceType, model, format) in [("sensor", nil, PayloadFormat.senml), ("gps-alarm", "tryggpos-tp3", .vendorJSON), ("safety-alarm", nil, .scaipXML)] as [(String, String?, PayloadFormat)] {
            for _ in 0..<1000 {
                let count = Int.random(in: 0...64, using: &random)
                let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
                if let v = violation(normalizer, catalogue, deviceType, model, format, bytes) { violations.append(v) }
                if (try? normalizer.normalize(deviceType: deviceType, model: model, format: format, payload: bytes, receivedAt: 0)) == nil { thrown += 1 }
            }
        }
        #expect(violations.isEmpty, "\(violations.prefix(3))")
        #expect(thrown > 2900)  // random bytes are practically never a valid payload
    }

    @Test func mutatedPayloadsNeverCrash() throws {
        let normalizer = try normalizationNormalizer()
        let catalogue = try normalizationCatalogue()
        var random = SplitMix64(state: 0x0A0B_1A11_2E00_0002)
        let tokens: [[UInt8]] = ["null", "true", "-1e999", "1e308", "\"\"", "{", "]", "<", "&amp;", "<![CDATA[", "\\u0000", "0118", "ME", "IN", "position"].map { Array($0.utf8) }
        var violations: [String] = []
        var outcomes = 0
        for (deviceType, model, format, text) in Self.seeds {
            let seed = Array(text.utf8)
            // Every seed normalizes cleanly before mutation.
            #expect(violation(normalizer, catalogue, deviceType, model, format, seed) == nil)
            for _ in 0..<1000 {
                var bytes = seed
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    let at = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &random)
                    switch Int.random(in: 0..<5, using: &random) {
                    case 0 where !bytes.isEmpty: bytes[at] = UInt8.random(in: 0...255, using: &random)
                    case 1: bytes.insert(contentsOf: tokens.randomElement(using: &random)!, at: at)
                    case 2 where !bytes.isEmpty: bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...8, using: &random)))
                    case 3: bytes = Array(bytes.prefix(at))
                    default:
                        let end = min(bytes.count, at + Int.random(in: 0...16, using: &random))
                        bytes.insert(contentsOf: bytes[at..<end], at: at)
                    }
                }
                if let v = violation(normalizer, catalogue, deviceType, model, format, bytes) { violations.append(v) }
                outcomes += 1
            }
        }
        #expect(violations.isEmpty, "\(violations.prefix(3))")
        #expect(outcomes == 6000)
    }
}

@Suite struct EventChannelTests {
    @Test func aNameThatIsBothIsTheEventOnTheEventsChannel() throws {
        let normalizer = Normalizer(catalogue: try normalizationNormalizer())
        let devices = ["lock-1": DeviceProfile(type: "digital-lock", model: nil, state: "active")]
        func run(_ channel: String) -> Normalizer.Output {
            normalizer.normalize(JournalRecord(sequence: 1, receivedAtMicros: 1_760_000_000_000_000,
                                               topic: "devices/lock-1/\(channel)",
                                               payload: Array(#"[{"n":"tamper","vb":true}]"#.utf8)), devices: devices)
        }
        let event = run("events")
        #expect(event.events.map(\.event) == ["tamper"])
        #expect(event.observations.isEmpty)
        let reading = run("telemetry")
        #expect(reading.observations.map(\.quantity) == ["tamper"])
        #expect(reading.events.isEmpty)
    }
}
