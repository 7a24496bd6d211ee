import Testing
@testable import Ingest

/// Reception time used by the tests ("now"), well after 2^28.
private let senMLNow: Double = 1_700_000_000

private func resolveSenML(_ text: String, now: Double = senMLNow, maxRecords: Int = 1000) throws(SenMLPackError) -> SenMLPack {
    try SenML.resolve(Array(text.utf8), now: now, maxRecords: maxRecords)
}

/// The pack error for `text`, or nil when it resolves.
private func senMLPackError(_ text: String, maxRecords: Int = 1000) -> SenMLPackError? {
    do {
        _ = try resolveSenML(text, maxRecords: maxRecords)
        return nil
    } catch {
        return error
    }
}

// MARK: - RFC 8428 §5.1 examples

@Suite("SenML: RFC 8428 examples")
struct SenMLRFCExampleTests {
    @Test func singleDataPoint() throws {  // §5.1.1
        let pack = try resolveSenML(#"[{"n":"urn:dev:ow:10e2073a01080063","u":"Cel","v":23.1}]"#)
        #expect(pack.records == [
            SenMLRecord(name: "urn:dev:ow:10e2073a01080063", unit: "Cel", value: .number(23.1), time: senMLNow, index: 0, timeIsRelative: true),
        ])
        #expect(pack.rejected.isEmpty)
    }

    @Test func multipleDataPoints() throws {  // §5.1.2, first example
        let pack = try resolveSenML("""
            [
              {"bn":"urn:dev:ow:10e2073a01080063:","n":"voltage","u":"V","v":120.1},
              {"n":"current","u":"A","v":1.2}
            ]
            """)
        #expect(pack.records == [
            SenMLRecord(name: "urn:dev:ow:10e2073a01080063:voltage", unit: "V", value: .number(120.1), time: senMLNow, index: 0, timeIsRelative: true),
            SenMLRecord(name: "urn:dev:ow:10e2073a01080063:current", unit: "A", value: .number(1.2), time: senMLNow, index: 1, timeIsRelative: true),
        ])
    }

    @Test func multipleDataPointsWithBaseTimeAndVersion() throws {  // §5.1.2, second example
        let pack = try resolveSenML("""
            [
              {"bn":"urn:dev:ow:10e2073a0108006:","bt":1.276020076001e+09,
               "bu":"A","bver":5,
               "n":"voltage","u":"V","v":120.1},
              {"n":"current","t":-5,"v":1.2},
              {"n":"current","t":-4,"v":1.3},
              {"n":"current","t":-3,"v":1.4},
              {"n":"current","t":-2,"v":1.5},
              {"n":"current","t":-1,"v":1.6},
              {"n":"current","v":1.7}
            ]
            """)
        let baseTime = 1.276020076001e+09
        // Chronological order; voltage (index 0) and the last current share the base time
        // and keep their pack order.
        #expect(pack.records.map(\.index) == [1, 2, 3, 4, 5, 0, 6])
        #expect(pack.records.map(\.time) == [baseTime - 5, baseTime - 4, baseTime - 3, baseTime - 2, baseTime - 1, baseTime, baseTime])
        #expect(pack.records.map(\.value) == [1.2, 1.3, 1.4, 1.5, 1.6, 120.1, 1.7].map { SenMLValue.number($0) })
        #expect(pack.records.first { $0.index == 0 }?.unit == "V", "the record's own unit wins over the base unit")
        #expect(pack.records.filter { $0.index != 0 }.allSatisfy { $0.unit == "A" && $0.name == "urn:dev:ow:10e2073a0108006:current" })
    }

    @Test func sensMLStreamExample() throws {  // §5.1.2, the stream (its elided tail dropped)
        let pack = try resolveSenML("""
            [
              {"bn":"urn:dev:ow:10e2073a01080063","bt":1.320067464e+09,
               "bu":"%RH","v":21.2},
              {"t":10,"v":21.3},
              {"t":20,"v":21.4},
              {"t":30,"v":21.4}
            ]
            """)
        #expect(pack.records.map(\.time) == [1_320_067_464, 1_320_067_474, 1_320_067_484, 1_320_067_494])
        #expect(pack.records.allSatisfy { $0.name == "urn:dev:ow:10e2073a01080063" && $0.unit == "%RH" })
    }

    static let multipleMeasurements = """
        [
          {"bn":"urn:dev:ow:10e2073a01080063","bt":1.320067464e+09,
           "bu":"%RH","v":20},
          {"u":"lon","v":24.30621},
          {"u":"lat","v":60.07965},
          {"t":60,"v":20.3},
          {"u":"lon","t":60,"v":24.30622},
          {"u":"lat","t":60,"v":60.07965},
          {"t":120,"v":20.7},
          {"u":"lon","t":120,"v":24.30623},
          {"u":"lat","t":120,"v":60.07966},
          {"u":"%EL","t":150,"v":98},
          {"t":180,"v":21.2},
          {"u":"lon","t":180,"v":24.30628},
          {"u":"lat","t":180,"v":60.07967}
        ]
        """

    static let resolvedData = """
        [
          {"n":"urn:dev:ow:10e2073a01080063","u":"%RH","t":1.320067464e+09,
           "v":20},
          {"n":"urn:dev:ow:10e2073a01080063","u":"lon","t":1.320067464e+09,
           "v":24.30621},
          {"n":"urn:dev:ow:10e2073a01080063","u":"lat","t":1.320067464e+09,
           "v":60.07965},
          {"n":"urn:dev:ow:10e2073a01080063","u":"%RH","t":1.320067524e+09,
           "v":20.3},
          {"n":"urn:dev:ow:10e2073a01080063","u":"lon","t":1.320067524e+09,
           "v":24.30622},
          {"n":"urn:dev:ow:10e2073a01080063","u":"lat","t":1.320067524e+09,
           "v":60.07965},
          {"n":"urn:dev:ow:10e2073a01080063","u":"%RH","t":1.320067584e+09,
           "v":20.7},
          {"n":"urn:dev:ow:10e2073a01080063","u":"lon","t":1.320067584e+09,
           "v":24.30623},
          {"n":"urn:dev:ow:10e2073a01080063","u":"lat","t":1.320067584e+09,
           "v":60.07966},
          {"n":"urn:dev:ow:10e2073a01080063","u":"%EL","t":1.320067614e+09,
           "v":98},
          {"n":"urn:dev:ow:10e2073a01080063","u":"%RH","t":1.320067644e+09,
           "v":21.2},
          {"n":"urn:dev:ow:10e2073a01080063","u":"lon","t":1.320067644e+09,
           "v":24.30628},
          {"n":"urn:dev:ow:10e2073a01080063","u":"lat","t":1.320067644e+09,
           "v":60.07967}
        ]
        """

    @Test func multipleMeasurements() throws {  // §5.1.3
        let pack = try resolveSenML(Self.multipleMeasurements)
        #expect(pack.records.count == 13)
        #expect(pack.rejected.isEmpty)
        #expect(pack.records.map(\.unit) == ["%RH", "lon", "lat", "%RH", "lon", "lat", "%RH", "lon", "lat", "%EL", "%RH", "lon", "lat"])
        #expect(pack.records[9] == SenMLRecord(name: "urn:dev:ow:10e2073a01080063", unit: "%EL", value: .number(98), time: 1_320_067_614, index: 9))
    }

    @Test func resolvingMultipleMeasurementsGivesTheRFCsResolvedData() throws {  // §5.1.4
        let name = "urn:dev:ow:10e2073a01080063"
        let printed: [(unit: String, time: Double, value: Double)] = [
            ("%RH", 1.320067464e+09, 20), ("lon", 1.320067464e+09, 24.30621), ("lat", 1.320067464e+09, 60.07965),
            ("%RH", 1.320067524e+09, 20.3), ("lon", 1.320067524e+09, 24.30622), ("lat", 1.320067524e+09, 60.07965),
            ("%RH", 1.320067584e+09, 20.7), ("lon", 1.320067584e+09, 24.30623), ("lat", 1.320067584e+09, 60.07966),
            ("%EL", 1.320067614e+09, 98),
            ("%RH", 1.320067644e+09, 21.2), ("lon", 1.320067644e+09, 24.30628), ("lat", 1.320067644e+09, 60.07967),
        ]
        let expected = printed.enumerated().map { index, row in
            SenMLRecord(name: name, unit: row.unit, value: .number(row.value), time: row.time, index: index)
        }
        #expect(try resolveSenML(Self.multipleMeasurements).records == expected)
        // The resolved form is itself a valid pack and resolves to the same records.
        #expect(try resolveSenML(Self.resolvedData) == resolveSenML(Self.multipleMeasurements))
    }

    @Test func multipleDataTypes() throws {  // §5.1.5
        let pack = try resolveSenML("""
            [
              {"bn":"urn:dev:ow:10e2073a01080063:","n":"temp","u":"Cel","v":23.1},
              {"n":"label","vs":"Machine Room"},
              {"n":"open","vb":false},
              {"n":"nfv-reader","vd":"aGkgCg"}
            ]
            """)
        #expect(pack.records == [
            SenMLRecord(name: "urn:dev:ow:10e2073a01080063:temp", unit: "Cel", value: .number(23.1), time: senMLNow, index: 0, timeIsRelative: true),
            SenMLRecord(name: "urn:dev:ow:10e2073a01080063:label", value: .string("Machine Room"), time: senMLNow, index: 1, timeIsRelative: true),
            SenMLRecord(name: "urn:dev:ow:10e2073a01080063:open", value: .bool(false), time: senMLNow, index: 2, timeIsRelative: true),
            SenMLRecord(name: "urn:dev:ow:10e2073a01080063:nfv-reader", value: .data(Array("hi \n".utf8)), time: senMLNow, index: 3, timeIsRelative: true),
        ])
    }

    @Test func collectionOfResources() throws {  // §5.1.6
        let pack = try resolveSenML("""
            [
              {"bn":"2001:db8::2/","bt":1.320078429e+09,
               "n":"temperature","u":"Cel","v":25.2},
              {"n":"humidity","u":"%RH","v":30},
              {"bn":"2001:db8::1/","n":"temperature","u":"Cel","v":12.3},
              {"n":"humidity","u":"%RH","v":67}
            ]
            """)
        // The last record uses the base name of the third record and the base time of the first.
        #expect(pack.records == [
            SenMLRecord(name: "2001:db8::2/temperature", unit: "Cel", value: .number(25.2), time: 1_320_078_429, index: 0),
            SenMLRecord(name: "2001:db8::2/humidity", unit: "%RH", value: .number(30), time: 1_320_078_429, index: 1),
            SenMLRecord(name: "2001:db8::1/temperature", unit: "Cel", value: .number(12.3), time: 1_320_078_429, index: 2),
            SenMLRecord(name: "2001:db8::1/humidity", unit: "%RH", value: .number(67), time: 1_320_078_429, index: 3),
        ])
    }

    @Test func actuatorExampleRejectsOnlyTheValuelessBaseRecord() throws {  // §5.1.7
        let pack = try resolveSenML("""
            [
              {"bn":"urn:dev:ow:10e2073a01080063:"},
              {"n":"temp","u":"Cel","v":23.1},
              {"n":"heat","u":"/","v":1},
              {"n":"fan","u":"/","v":0}
            ]
            """)
        // The first record only carries "bn": it has no value of its own, but its base name applies.
        #expect(pack.rejected.map(\.index) == [0])
        #expect(pack.records.map(\.name) == ["urn:dev:ow:10e2073a01080063:temp", "urn:dev:ow:10e2073a01080063:heat", "urn:dev:ow:10e2073a01080063:fan"])

        let timed = try resolveSenML("""
            [
              {"bt":1.320078429e+09,"bu":"/","n":"2001:db8::3","v":0.5},
              {"n":"2001:db8::4","v":0.5},
              {"n":"2001:db8::3","t":0.1,"v":0},
              {"n":"2001:db8::4","t":0.1,"v":0}
            ]
            """)
        #expect(timed.records.map(\.time) == [1_320_078_429, 1_320_078_429, 1.320078429e+09 + 0.1, 1.320078429e+09 + 0.1])
    }
}

// MARK: - Resolution rules

@Suite("SenML: resolution rules")
struct SenMLResolutionTests {
    @Test func relativeTimesAreResolvedAgainstNow() throws {
        let pack = try resolveSenML("""
            [
              {"n":"a","v":1,"t":-60},
              {"n":"b","v":1},
              {"bt":-10,"n":"c","v":1,"t":5},
              {"n":"d","v":1,"t":30},
              {"bt":0,"n":"e","v":1,"t":268435455},
              {"n":"f","v":1,"t":268435456},
              {"bt":268435000,"n":"g","v":1,"t":1000}
            ]
            """)
        let times = Dictionary(uniqueKeysWithValues: pack.records.map { ($0.name, $0.time) })
        #expect(times["a"] == senMLNow - 60)
        #expect(times["b"] == senMLNow)
        #expect(times["c"] == senMLNow - 5, "bt and t are added before deciding relative vs absolute")
        #expect(times["d"] == senMLNow + 20, "base time -10 still applies")
        #expect(times["e"] == senMLNow + 268_435_455, "just below 2^28 is relative")
        #expect(times["f"] == 268_435_456, "2^28 is absolute")
        #expect(times["g"] == 268_436_000, "the sum crosses 2^28 and becomes absolute")
        #expect(pack.records.filter(\.timeIsRelative).map(\.name).sorted() == ["a", "b", "c", "d", "e"])
        #expect(try resolveSenML(#"[{"n":"a","v":1}]"#, now: 42).records.first?.time == 42)
    }

    @Test func recordsAreSortedByTimeStablyAndKeepTheirIndex() throws {
        let pack = try resolveSenML("""
            [
              {"bt":1600000000,"n":"late","v":1,"t":30},
              {"n":"early","v":2,"t":-30},
              {"n":"tie1","v":3},
              {"n":"tie2","v":4},
              {"n":"middle","v":5,"t":10}
            ]
            """)
        #expect(pack.records.map(\.name) == ["early", "tie1", "tie2", "middle", "late"])
        #expect(pack.records.map(\.index) == [1, 2, 3, 4, 0])

        var many = (0..<50).map { SenMLRecord(name: "n", value: .number(1), time: Double($0 % 3), index: $0) }
        many.reverse()
        SenML.sortChronologically(&many)
        #expect(zip(many, many.dropFirst()).allSatisfy { $0.time < $1.time || ($0.time == $1.time && $0.index < $1.index) })
    }

    @Test func baseValueIsAddedToNumericValues() throws {
        let pack = try resolveSenML("""
            [
              {"bn":"m:","bv":100,"n":"a","v":1.5},
              {"n":"b"},
              {"n":"c","vs":"text"},
              {"n":"d","vb":true},
              {"bv":-1,"n":"e","v":1}
            ]
            """)
        #expect(pack.records.map(\.value) == [.number(101.5), .number(100), .string("text"), .bool(true), .number(0)])
        #expect(pack.rejected.isEmpty, "a record without a value takes the base value (RFC 8428 §4.5.4)")
    }

    @Test func sumRules() throws {
        let pack = try resolveSenML("""
            [
              {"n":"s-only","s":12.5},
              {"n":"v-and-s","v":1,"s":2},
              {"bs":1000,"n":"base-sum","s":5},
              {"n":"inherits-base-sum","v":3},
              {"n":"base-sum-alone"},
              {"bs":0,"n":"reset","v":4}
            ]
            """)
        let byName = Dictionary(uniqueKeysWithValues: pack.records.map { ($0.name, $0) })
        #expect(byName["s-only"]?.value == nil)
        #expect(byName["s-only"]?.sum == 12.5)
        #expect(byName["v-and-s"]?.value == .number(1))
        #expect(byName["v-and-s"]?.sum == 2)
        #expect(byName["base-sum"]?.sum == 1005)
        // RFC 8428 §4.5.4: with only a base sum present, the missing sum counts as zero.
        #expect(byName["inherits-base-sum"]?.sum == 1000)
        #expect(byName["base-sum-alone"]?.sum == 1000)
        #expect(byName["base-sum-alone"]?.value == nil)
        #expect(byName["reset"]?.sum == 0)
        #expect(pack.rejected.isEmpty)
    }

    @Test func recordWithoutValueOrSumIsRejected() throws {
        let pack = try resolveSenML(#"[{"n":"empty","u":"Cel"},{"n":"ok","v":1}]"#)
        #expect(pack.records.map(\.name) == ["ok"])
        #expect(pack.rejected == [SenMLRecordError(index: 0, field: nil, reason: #"record has no value or sum; it needs one of "v", "vs", "vb", "vd" or a sum "s" (RFC 8428 §4.2)"#)])
    }

    @Test func moreThanOneValueFieldIsRejected() throws {
        let pack = try resolveSenML(#"[{"n":"a","v":1,"vs":"x"},{"n":"b","vb":true,"vd":"AA"},{"n":"c","v":2}]"#)
        #expect(pack.records.map(\.name) == ["c"])
        #expect(pack.rejected.map(\.reason) == [
            #"record has both "v" and "vs"; exactly one value field is allowed (RFC 8428 §4.2)"#,
            #"record has both "vb" and "vd"; exactly one value field is allowed (RFC 8428 §4.2)"#,
        ])
    }

    @Test func unitFallsBackToBaseUnit() throws {
        let pack = try resolveSenML(#"[{"bu":"Cel","n":"a","v":1},{"n":"b","u":"K","v":2},{"n":"c","v":3},{"bu":"%","n":"d","v":4},{"n":"e","v":5}]"#)
        #expect(pack.records.map(\.unit) == ["Cel", "K", "Cel", "%", "%"])
        #expect(try resolveSenML(#"[{"n":"a","v":1}]"#).records.first?.unit == nil)
    }

    @Test func updateTime() throws {
        let pack = try resolveSenML(#"[{"n":"a","v":1,"ut":300},{"n":"b","v":1,"ut":-1},{"n":"c","v":1,"ut":0}]"#)
        #expect(pack.records.map(\.updateTime) == [300, 0])
        #expect(pack.rejected == [SenMLRecordError(index: 1, field: "ut", reason: "update time must not be negative, got -1")])
    }

    @Test func nonFiniteResolutionIsARecordError() throws {
        let pack = try resolveSenML("""
            [
              {"bt":1e308,"n":"a","v":1,"t":1e308},
              {"bt":0,"bv":1.7e308,"n":"b","v":1.7e308},
              {"bv":0,"bs":1.7e308,"n":"c","s":1.7e308},
              {"bs":0,"n":"ok","v":1}
            ]
            """)
        #expect(pack.records.map(\.name) == ["ok"])
        #expect(pack.rejected.map(\.field) == ["t", "v", "s"])
        #expect(pack.rejected.allSatisfy { $0.reason.contains("is not a finite number") })
    }

    // MARK: Base64url data

    @Test(arguments: [
        ("", [UInt8]()), ("AA", [0]), ("AAA", [0, 0]), ("AAAA", [0, 0, 0]), ("_w", [0xFF]),
        ("-_8", [0xFB, 0xFF]), ("aGkgCg", Array("hi \n".utf8)), ("AQIDBA", [1, 2, 3, 4]),
    ])
    func decodesBase64URLData(text: String, bytes: [UInt8]) throws {
        let pack = try resolveSenML(#"[{"n":"blob","vd":"\#(text)"}]"#)
        #expect(pack.records.first?.value == .data(bytes))
    }

    @Test(arguments: [
        ("aGkgCg==", "base64url data must not be padded: '=' at position 6 (RFC 8428 §4.3)"),
        ("a+b", "'+' at position 1 is standard base64; SenML data uses base64url ('-' instead) (RFC 8428 §4.3)"),
        ("ab/c", "'/' at position 2 is standard base64; SenML data uses base64url ('_' instead) (RFC 8428 §4.3)"),
        ("A", "base64url data of 1 characters is truncated (a length of 4n+1 is impossible)"),
        ("AB", "base64url data has non-zero unused bits in its last character (not canonically encoded)"),
        ("a b", "' ' at position 1 is not a base64url character"),
        ("a\\nb", "byte 0x0A at position 1 is not a base64url character"),
    ])
    func rejectsInvalidBase64URLData(text: String, reason: String) throws {
        let pack = try resolveSenML(#"[{"n":"blob","vd":"\#(text)"},{"n":"other","v":1}]"#)
        #expect(pack.rejected == [SenMLRecordError(index: 0, field: "vd", reason: reason)])
        #expect(pack.records.map(\.name) == ["other"])
    }
}

// MARK: - Errors

@Suite("SenML: errors")
struct SenMLErrorTests {
    @Test(arguments: [
        (#"{"n":5,"v":1}"#, "n", "expected a string, got a number"),
        (#"{"n":"a","u":true,"v":1}"#, "u", "expected a string, got a boolean"),
        (#"{"n":"a","v":"1"}"#, "v", "expected a number, got a string"),
        (#"{"n":"a","vs":1}"#, "vs", "expected a string, got a number"),
        (#"{"n":"a","vb":"true"}"#, "vb", "expected a boolean, got a string"),
        (#"{"n":"a","vd":[]}"#, "vd", "expected a string of base64url data, got an array"),
        (#"{"n":"a","v":1,"s":null}"#, "s", "expected a number, got null"),
        (#"{"n":"a","v":1,"t":"now"}"#, "t", "expected a number, got a string"),
        (#"{"n":"a","v":1,"ut":{}}"#, "ut", "expected a number, got an object"),
        (#"{"n":"a","v":1,"v":2}"#, "v", "label appears more than once in the record"),
    ])
    func wrongRegularFieldRejectsOnlyThatRecord(record: String, field: String, reason: String) throws {
        let pack = try resolveSenML(#"[{"n":"first","v":0},\#(record),{"n":"last","v":2}]"#)
        #expect(pack.rejected == [SenMLRecordError(index: 1, field: field, reason: reason)])
        #expect(pack.records.map(\.name) == ["first", "last"])
    }

    @Test func recordErrorDescriptionNamesRecordAndField() throws {
        let pack = try resolveSenML(#"[{"n":"a","v":1},{"n":"b","v":2},{"n":"c","v":"3"}]"#)
        #expect(pack.rejected.map(\.description) == [#"record 2, field "v": expected a number, got a string"#])
        #expect(SenMLRecordError(index: 4, reason: "record has no value or sum").description == "record 4: record has no value or sum")
    }

    @Test(arguments: [
        (#"{"bn":5,"n":"a","v":1}"#, "bn", "expected a string, got a number"),
        (#"{"bt":"1","n":"a","v":1}"#, "bt", "expected a number, got a string"),
        (#"{"bu":1,"n":"a","v":1}"#, "bu", "expected a string, got a number"),
        (#"{"bv":true,"n":"a","v":1}"#, "bv", "expected a number, got a boolean"),
        (#"{"bs":[],"n":"a","v":1}"#, "bs", "expected a number, got an array"),
        (#"{"bver":"10","n":"a","v":1}"#, "bver", "expected a number, got a string"),
        (#"{"bn":"a","bn":"b","v":1}"#, "bn", "label appears more than once in the record"),
    ])
    func wrongBaseFieldRejectsThePack(record: String, field: String, reason: String) {
        #expect(senMLPackError(#"[{"n":"first","v":0},\#(record)]"#) == SenMLPackError(index: 1, field: field, reason: reason))
    }

    @Test func baseFieldsOfARejectedRecordStillApply() throws {
        let pack = try resolveSenML(#"[{"bn":"dev:","bu":"Cel","n":"a","v":"bad"},{"n":"b","v":1}]"#)
        #expect(pack.rejected.map(\.index) == [0])
        #expect(pack.records == [SenMLRecord(name: "dev:b", unit: "Cel", value: .number(1), time: senMLNow, index: 1, timeIsRelative: true)])
    }

    @Test(arguments: [
        ("-temp", #"name "-temp" must start with a letter or digit (RFC 8428 §4.5.1)"#),
        ("_x", #"name "_x" must start with a letter or digit (RFC 8428 §4.5.1)"#),
        ("/a", #"name "/a" must start with a letter or digit (RFC 8428 §4.5.1)"#),
        ("room temp", #"name "room temp" contains a space at position 4; only A-Z a-z 0-9 - : . / _ are allowed (RFC 8428 §4.5.1)"#),
        ("tëmp", #"name "tëmp" contains 'ë' (U+00EB) at position 1; only A-Z a-z 0-9 - : . / _ are allowed (RFC 8428 §4.5.1)"#),
        ("a#b", #"name "a#b" contains '#' (U+0023) at position 1; only A-Z a-z 0-9 - : . / _ are allowed (RFC 8428 §4.5.1)"#),
        ("a\\tb", #"name "a\tb" contains U+0009 at position 1; only A-Z a-z 0-9 - : . / _ are allowed (RFC 8428 §4.5.1)"#),
        ("", #"resolved name is empty; the record needs "n" or an earlier "bn" (RFC 8428 §4.5.1)"#),
    ])
    func nameRuleViolationsRejectOnlyThatRecord(name: String, reason: String) throws {
        let pack = try resolveSenML(#"[{"n":"good-1","v":1},{"n":"\#(name)","v":2},{"n":"Good_2/x.y:z","v":3}]"#)
        #expect(pack.rejected == [SenMLRecordError(index: 1, field: "n", reason: reason)])
        #expect(pack.records.map(\.name) == ["good-1", "Good_2/x.y:z"])
    }

    @Test func nameRuleAppliesToTheResolvedName() throws {
        let pack = try resolveSenML(#"[{"bn":":dev/","n":"a","v":1},{"bn":"dev/","n":"a","v":1},{"v":2},{"bn":"","v":3}]"#)
        #expect(pack.records.map(\.name) == ["dev/a", "dev/"])
        #expect(pack.rejected.map(\.index) == [0, 3])
        #expect(pack.rejected.first?.description == #"record 0, field "n": name ":dev/a" must start with a letter or digit (RFC 8428 §4.5.1)"#)
        #expect(SenMLNameRule.problem(with: String(repeating: "x", count: 100) + " ")?.contains(#"..."#) == true, "long names are cut in messages")
    }

    @Test func versionRules() throws {
        #expect(try resolveSenML(#"[{"bver":10,"n":"a","v":1},{"n":"b","v":2}]"#).records.count == 2)
        #expect(try resolveSenML(#"[{"bver":5,"n":"a","v":1},{"bver":5,"n":"b","v":2}]"#).records.count == 2, "older versions are fine")
        #expect(senMLPackError(#"[{"bver":11,"n":"a","v":1}]"#) == SenMLPackError(index: 0, field: "bver", reason: "unsupported SenML version 11 (this gateway understands up to 10)"))
        #expect(senMLPackError(#"[{"n":"a","v":1},{"bver":12,"n":"b","v":1}]"#)?.reason == "unsupported SenML version 12 (this gateway understands up to 10)")
        #expect(senMLPackError(#"[{"bver":10,"n":"a","v":1},{"bver":9,"n":"b","v":1}]"#) == SenMLPackError(
            index: 1, field: "bver",
            reason: "version 9 differs from version 10 of the earlier records; all records of a pack must have the same version (RFC 8428 §4.4)"
        ))
        #expect(senMLPackError(#"[{"n":"a","v":1},{"bver":9,"n":"b","v":1}]"#)?.field == "bver", "the first record had the default version 10")
        #expect(senMLPackError(#"[{"bver":1.5,"n":"a","v":1}]"#)?.reason == "version must be a positive integer, got 1.5")
        #expect(senMLPackError(#"[{"bver":0,"n":"a","v":1}]"#)?.reason == "version must be a positive integer, got 0")
        #expect(senMLPackError(#"[{"bver":1e300,"n":"a","v":1}]"#)?.field == "bver")
        #expect(SenML.supportedVersion == 10)
    }

    @Test func mustUnderstandLabelsRejectThePack() throws {
        #expect(senMLPackError(#"[{"n":"a","v":1},{"n":"b","v":2,"foo_":1}]"#) == SenMLPackError(
            index: 1, field: "foo_",
            reason: #"unsupported must-understand label "foo_"; labels ending in '_' must be understood, so the pack cannot be used (RFC 8428 §4.4)"#
        ))
        #expect(senMLPackError(#"[{"n":"a","v":1,"_":null}]"#)?.field == "_")
        let ignored = try resolveSenML(#"[{"n":"a","v":1,"foo":{"x":[1]},"_bar":1,"V":"x"}]"#)
        #expect(ignored.records.map(\.value) == [.number(1)], "other unknown labels are ignored")
    }

    @Test func packStructureErrors() {
        let notJSON = senMLPackError("[{\"n\":\"a\",\"v\":1}")
        #expect(notJSON == SenMLPackError(reason: "invalid JSON at byte 16: unexpected end of input; expected ',' or ']'"))
        #expect(notJSON?.description == "invalid JSON at byte 16: unexpected end of input; expected ',' or ']'")
        #expect(senMLPackError(#"{"n":"a","v":1}"#)?.reason == "a SenML pack must be a JSON array of records, got an object")
        #expect(senMLPackError("[]") == SenMLPackError(reason: "empty SenML pack"))
        #expect(senMLPackError(#"[{"n":"a","v":1}, 5]"#) == SenMLPackError(index: 1, reason: "a SenML record must be a JSON object, got a number"))
        #expect(senMLPackError(#"[{"n":"a","v":1}, 5]"#)?.description == "record 1: a SenML record must be a JSON object, got a number")
    }

    @Test func recordCountLimit() throws {
        let record = #"{"n":"a","v":1}"#
        func pack(_ count: Int) -> String { "[" + Array(repeating: record, count: count).joined(separator: ",") + "]" }
        #expect(try resolveSenML(pack(1000)).records.count == 1000)
        #expect(senMLPackError(pack(1001)) == SenMLPackError(reason: "pack has 1001 records; the limit is 1000"))
        #expect(senMLPackError(pack(4), maxRecords: 3)?.reason == "pack has 4 records; the limit is 3")
    }
}

// MARK: - Robustness

@Suite("SenML: robustness")
struct SenMLRobustnessTests {
    static let validPacks = [
        #"[{"n":"urn:dev:ow:10e2073a01080063","u":"Cel","v":23.1}]"#,
        SenMLRFCExampleTests.multipleMeasurements,
        #"[{"bn":"urn:dev:ow:10e2073a01080063:","bver":10,"n":"temp","u":"Cel","v":23.1},{"n":"label","vs":"Machine \u00e9"},{"n":"open","vb":false},{"n":"nfv-reader","vd":"aGkgCg","ut":5}]"#,
        #"[{"bn":"dev/","bt":-5,"bv":1,"bs":2,"n":"a","s":3,"t":1},{"n":"b","v":-0.5e1}]"#,
    ]

    /// Resolves `bytes` and checks the invariants that must hold whatever the input.
    private func checkInvariants(_ bytes: [UInt8]) {
        do {
            let pack = try SenML.resolve(bytes, now: senMLNow)
            guard case .array(let elements)? = try? JSONParser.parse(bytes) else {
                Issue.record("resolved a pack that is not a JSON array: \(bytes)")
                return
            }
            #expect(pack.records.count + pack.rejected.count == elements.count)
            #expect(Set(pack.records.map(\.index) + pack.rejected.map(\.index)) == Set(elements.indices))
            #expect(zip(pack.records, pack.records.dropFirst()).allSatisfy { $0.time <= $1.time })
            #expect(pack.records.allSatisfy { $0.time.isFinite && SenMLNameRule.problem(with: $0.name) == nil })
            #expect(pack.rejected.allSatisfy { !$0.reason.isEmpty })
        } catch {
            #expect(!error.reason.isEmpty, "\(bytes)")
        }
    }

    @Test func randomBytesNeverCrash() {
        var random = SplitMix64(state: 0x5E_4D_11)
        let alphabet = Array(#"[]{}",:0123456789.-eE tfnulrsabvd_\"#.utf8) + [0x00, 0x0A, 0x80, 0xC3, 0xFF]
        for round in 0..<2000 {
            let length = Int.random(in: 0...64, using: &random)
            // Half fully random bytes, half drawn from JSON-ish characters to get past the first byte.
            let bytes: [UInt8] = (0..<length).map { _ in
                round.isMultiple(of: 2)
                    ? UInt8.random(in: .min ... .max, using: &random)
                    : alphabet[Int.random(in: 0..<alphabet.count, using: &random)]
            }
            checkInvariants(bytes)
        }
    }

    @Test func mutatedValidPacksNeverCrash() throws {
        var random = SplitMix64(state: 0xBAD_5EED)
        let insertable = Array(#"[]{}",:0-9.e_\"#.utf8) + [0x00, 0x1F, 0x80, 0xED, 0xFF]
        var resolvedAfterMutation = 0
        for round in 0..<2000 {
            let seed = Self.validPacks[round % Self.validPacks.count]
            var bytes = Array(seed.utf8)
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                switch Int.random(in: 0..<3, using: &random) {
                case 0 where !bytes.isEmpty:  // flip one bit
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] ^= UInt8(1 << Int.random(in: 0..<8, using: &random))
                case 1 where !bytes.isEmpty:  // truncate
                    bytes.removeLast(Int.random(in: 1...bytes.count, using: &random))
                default:  // insert
                    let byte = insertable[Int.random(in: 0..<insertable.count, using: &random)]
                    bytes.insert(byte, at: Int.random(in: 0...bytes.count, using: &random))
                }
            }
            if (try? SenML.resolve(bytes, now: senMLNow)) != nil {
                resolvedAfterMutation += 1
            }
            checkInvariants(bytes)
        }
        #expect(resolvedAfterMutation > 0, "some mutations (e.g. inside a string) keep the pack valid")
        #expect(resolvedAfterMutation < 2000)
    }

    @Test func seedPacksAreValid() throws {
        for text in Self.validPacks {
            let pack = try resolveSenML(text)
            #expect(!pack.records.isEmpty)
            #expect(pack.rejected.isEmpty, "\(pack.rejected)")
        }
    }
}
