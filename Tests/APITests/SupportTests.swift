import Foundation
import Testing

@testable import API
import Telemetry


@Suite struct CursorTests {
    @Test func observationCursorsRoundTrip() throws {
        let cursor = ObservationCursor(observedAtMicros: -5, quantity: "temp.ärlig/1", messageKey: [0, 1, 254, 255],
                                       recordIndex: 7)
        let text = Cursor.encode(cursor)
        #expect(text.utf8.allSatisfy { $0 != UInt8(ascii: "=") && $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "/") })
        #expect(try Cursor.decodeObservation(text) == cursor)
        #expect(try Cursor.decodeDeadLetter(Cursor.encodeDeadLetter(id: 42)) == 42)
    }

    @Test(arguments: ["", "not a cursor", "bzE", "%27%20OR%201=1", String(repeating: "a", count: 2_000)])
    func foreignCursorsAreRejected(text: String) {
        #expect(throws: Problem.self) { try Cursor.decodeObservation(text) }
        #expect(throws: Problem.self) { try Cursor.decodeDeadLetter(text) }
    }

    @Test func aDeadLetterCursorIsNotAnObservationCursor() {
        #expect(throws: Problem.self) { try Cursor.decodeObservation(Cursor.encodeDeadLetter(id: 1)) }
    }
}

@Suite struct JSONValueTests {
    @Test func writesWhatJSONSerializationReadsBack() throws {
        let value: JSONValue = [
            "id": "urn:ngsi-ld:Device:a", "quote\"back\\slash/": "line\nbreak\ttab\r\u{1}\u{1f}ä€😀",
            "numbers": [.number(40), .number(-0.5), .number(21.5), .number(1e-7), .number(1e300), .number(-9_007_199_254_740_993)],
            "flags": [.bool(true), .bool(false), .null], "empty": .object([:]), "none": .array([]),
        ]
        let text = String(decoding: value.bytes, as: UTF8.self)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(value.bytes)) as? NSDictionary)
        #expect(parsed["quote\"back\\slash/"] as? String == "line\nbreak\ttab\r\u{1}\u{1f}ä€😀")
        #expect((parsed["numbers"] as? [Double]) == [40, -0.5, 21.5, 1e-7, 1e300, -9_007_199_254_740_993])
        #expect(parsed["flags"] as? NSArray == [true, false, NSNull()] as NSArray)
        // Keys sorted, slashes as they are, whole numbers without a fraction, control characters escaped.
        #expect(text.hasPrefix(#"{"empty":{},"flags":[true,false,null],"id":"urn:ngsi-ld:Device:a","none":[],"numbers":[40,-0.5,21.5,"#))
        #expect(text.contains(#""quote\"back\\slash/":"line\nbreak\ttab\r\u0001\u001fä€😀""#))
    }

    @Test(arguments: [Double.nan, .infinity, -.infinity])
    func numbersJSONCannotHoldAreNull(number: Double) {
        #expect(JSONValue.array([.number(number)]).bytes == Array("[null]".utf8))
    }
}
