import Models
import NGSILD
import Telemetry
import Testing

/// The query language, geo-queries, durations and written entities: what they accept, what they refuse with which
/// NGSI-LD error, and that no input makes them trap.
@Suite struct QueryAndInputTests {
    static let vocabulary = OpenVocabulary(catalogue: try! Catalogue.loadDefault())

    @Test func termsParse() throws {
        #expect(try QueryTerm.parse("temperature>20;relativeHumidity<=60") == [
            QueryTerm(attribute: "temperature", test: .compare(.greater, .number(20))),
            QueryTerm(attribute: "relativeHumidity", test: .compare(.lessOrEqual, .number(60))),
        ])
        #expect(try QueryTerm.parse(#"state=="on;off""#) == [QueryTerm(attribute: "state", test: .compare(.equal, .text("on;off")))])
        #expect(try QueryTerm.parse("a==1..5") == [QueryTerm(attribute: "a", test: .range(1, 5, negated: false))])
        #expect(try QueryTerm.parse("a!=1,2") == [QueryTerm(attribute: "a", test: .oneOf([.number(1), .number(2)], negated: true))])
        #expect(try QueryTerm.parse("a") == [QueryTerm(attribute: "a", test: .exists)])
        #expect(try QueryTerm.parse("a==true") == [QueryTerm(attribute: "a", test: .compare(.equal, .boolean(true)))])
        #expect(try QueryTerm.parse("temperature%3E20") == [QueryTerm(attribute: "temperature", test: .compare(.greater, .number(20)))])
        #expect(try QueryTerm.parse("https://smartdatamodels.org/temperature>1").first?.attribute == "https://smartdatamodels.org/temperature")
    }

    @Test(arguments: [
        ("a>", NGSILDFailure.Kind.badRequestData), ("a>\"x\"", .badRequestData), ("", .badRequestData), ("a==5..1", .badRequestData),
        ("a>1|b<2", .operationNotSupported), ("(a>1)", .operationNotSupported), ("a~=x.*", .operationNotSupported),
        ("a.b>1", .operationNotSupported), ("a b>1", .badRequestData), ("a==x", .badRequestData), ("a==\"x\"y\"", .badRequestData),
        (String(repeating: "a>1;", count: 11) + "a>1", .badRequestData), (String(repeating: "x", count: 2000), .badRequestData),
    ])
    func termsRefused(_ text: String, _ kind: NGSILDFailure.Kind) {
        #expect(throws: NGSILDFailure.self) { try QueryTerm.parse(text) }
        do { _ = try QueryTerm.parse(text) } catch { #expect(error.kind == kind, "\(text): \(error.detail)") }
    }

    @Test func termsEvaluate() throws {
        let warm = try QueryTerm.parse("t>20")[0]
        #expect(warm.matches(.number(21)) && !warm.matches(.number(20)) && !warm.matches(.text("21")) && !warm.matches(nil))
        let list = try QueryTerm.parse("t==1,2")[0]
        #expect(list.matches(.number(2)) && !list.matches(.number(3)))
        #expect(try QueryTerm.parse("t")[0].matches(.boolean(false)))
    }

    @Test func randomQueriesNeverTrap() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("ab=!<>.;,|()\"%1234567890~ -e:/")
        for _ in 0..<5_000 {
            let text = String((0..<Int.random(in: 0...24, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
            _ = try? QueryTerm.parse(text)
            _ = try? GeoQuery.filter(georel: text, geometry: "Point", coordinates: text, geoproperty: nil)
            _ = try? ISODuration.micros("P" + text)
        }
    }

    @Test func geoQueries() throws {
        let near = try GeoQuery.filter(georel: "near;maxDistance==100", geometry: "Point", coordinates: "[11.97,57.70]", geoproperty: nil)
        #expect(near == .near(OpenPoint(latitude: 57.70, longitude: 11.97), maxMeters: 100, minMeters: nil))
        #expect(near?.matches(OpenPoint(latitude: 57.7005, longitude: 11.97)) == true)   // about 56 m
        #expect(near?.matches(OpenPoint(latitude: 57.7010, longitude: 11.97)) == false)  // about 111 m
        let square = try GeoQuery.filter(georel: "within", geometry: "Polygon", coordinates: "[[[0,0],[1,0],[1,1],[0,1],[0,0]]]", geoproperty: "location")
        #expect(square?.matches(OpenPoint(latitude: 0.5, longitude: 0.5)) == true)
        #expect(square?.matches(OpenPoint(latitude: 1, longitude: 0.5)) == true, "the edge is inside")
        #expect(square?.matches(OpenPoint(latitude: 1.5, longitude: 0.5)) == false)
        #expect(try GeoQuery.filter(georel: nil, geometry: nil, coordinates: nil, geoproperty: nil) == nil)
        for (georel, geometry, coordinates) in [("near", "Point", "[0,0]"), ("near;maxDistance==-1", "Point", "[0,0]"), ("within", "Polygon", "[[[0,0],[1,0],[0,0]]]"),
                                                ("within", "Polygon", "[[[0,0],[1,0],[1,1],[0,2]]]"), ("near;maxDistance==1", "Point", "[0,91]"),
                                                ("within", "LineString", "[[0,0],[1,1]]"), ("near;maxDistance==1", "Point", "nope")] {
            #expect(throws: NGSILDFailure.self, "\(georel) \(geometry) \(coordinates)") {
                try GeoQuery.filter(georel: georel, geometry: geometry, coordinates: coordinates, geoproperty: nil)
            }
        }
    }

    @Test func durations() throws {
        #expect(try ISODuration.micros("PT1H") == 3_600_000_000)
        #expect(try ISODuration.micros("P1DT30M") == 88_200_000_000)
        #expect(try ISODuration.micros("P1W") == 604_800_000_000)
        for text in ["P", "PT", "1H", "P1M", "P1Y", "PT0S", "P400D", "PTH", "P1H"] {
            #expect(throws: NGSILDFailure.self, "\(text)") { try ISODuration.micros(text) }
        }
    }

    @Test func writtenEntitiesMapToOpenQuantities() throws {
        let now: Int64 = 1_800_000_000_000_000
        let body = try JSON.parse(Array(#"""
            {"id": "urn:ngsi-ld:Room:1", "type": "Room", "temperature": {"type": "Property", "value": 21.5, "unitCode": "CEL",
             "observedAt": "2027-01-15T08:00:00Z"}, "relativeHumidity": 40,
             "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [11.9, 57.7]}}}
            """#.utf8))
        let input = try EntityInput.parse(body, context: Self.vocabulary.context, vocabulary: Self.vocabulary, fragment: false, nowMicros: now)
        #expect(input.id == "urn:ngsi-ld:Room:1")
        #expect(input.type == LDContext.defaultVocabulary + "Room")
        #expect(input.location == OpenPoint(latitude: 57.7, longitude: 11.9))
        #expect(input.values.map(\.quantity) == ["humidity", "temperature"])
        #expect(input.values.first { $0.quantity == "temperature" }?.observedAtMicros == RFC3339.micros("2027-01-15T08:00:00Z"))
        #expect(input.values.first { $0.quantity == "humidity" }?.observedAtMicros == now)
        // Each refusal names the attribute.
        for (attribute, fragment) in [(#""alarmButton": true"#, "class 3"), (#""temperature": [1, 2]"#, "multi-attributes"),
                                      (#""temperature": {"value": 1, "datasetId": "urn:x:y"}"#, "datasetId"), (#""location": {"type": "GeoProperty", "value": {"type": "Polygon"}}"#, "Point"),
                                      (#""temperature": {"type": "Property"}"#, "no value"), (#""temperature": {"value": 1, "observedAt": "yesterday"}"#, "RFC 3339"),
                                      (#""temperature": {"value": 1, "observedAt": "2020-01-01T00:00:00Z"}"#, "older than")] {
            let text = #"{"id": "urn:ngsi-ld:Room:1", "type": "Room", "# + attribute + "}"
            do {
                _ = try EntityInput.parse(try JSON.parse(Array(text.utf8)), context: Self.vocabulary.context, vocabulary: Self.vocabulary,
                                          fragment: false, nowMicros: now)
                Issue.record("\(attribute) was accepted")
            } catch let failure as NGSILDFailure {
                #expect(failure.detail.contains(fragment), "\(attribute): \(failure.detail)")
            }
        }
    }
}
