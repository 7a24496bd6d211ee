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
            "numbers": [.number(40), .number(-0.5), .number(21.5), .number(1e-7), .number(1e300), .number(-9_007_199_254_740_993),
                        .number(9_007_199_254_740_992), .number(-0.0)],
            "flags": [.bool(true), .bool(false), .null], "empty": .object([:]), "none": .array([]),
        ]
        let text = String(decoding: value.bytes, as: UTF8.self)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(value.bytes)) as? NSDictionary)
        #expect(parsed["quote\"back\\slash/"] as? String == "line\nbreak\ttab\r\u{1}\u{1f}ä€😀")
        #expect((parsed["numbers"] as? [Double]) == [40, -0.5, 21.5, 1e-7, 1e300, -9_007_199_254_740_993, 9_007_199_254_740_992, 0])
        #expect(parsed["flags"] as? NSArray == [true, false, NSNull()] as NSArray)
        // Keys sorted, slashes as they are, whole numbers without a fraction, control characters escaped.
        #expect(text.hasPrefix(#"{"empty":{},"flags":[true,false,null],"id":"urn:ngsi-ld:Device:a","none":[],"numbers":[40,-0.5,21.5,1e-07,1e+300,-9007199254740992,9007199254740992,-0]"#))
        #expect(text.contains(#""quote\"back\\slash/":"line\nbreak\ttab\r\u0001\u001fä€😀""#))
    }

    @Test(arguments: [Double.nan, .infinity, -.infinity])
    func numbersJSONCannotHoldAreNull(number: Double) {
        #expect(JSONValue.array([.number(number)]).bytes == Array("[null]".utf8))
    }
}

@Suite struct BodyEncoderTests {
    enum Kind: String, Encodable { case a, b }

    struct Inner: Encodable, Hashable {
        var name: String
        var value: Double?
        var flags: [Bool]
    }

    /// Hand-written encoding: nested containers, a super encoder, nil written on purpose, a key written twice.
    struct Custom: Encodable {
        enum Keys: String, CodingKey { case z, nested, list, none, again, `super` }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(1, forKey: .z)
            var nested = container.nestedContainer(keyedBy: Keys.self, forKey: .nested)
            try nested.encode("x", forKey: .again)
            var list = container.nestedUnkeyedContainer(forKey: .list)
            try list.encode(UInt8(7))
            try list.encodeNil()
            var deeper = list.nestedContainer(keyedBy: Keys.self)
            try deeper.encode(Int64.min, forKey: .z)
            try container.encodeNil(forKey: .none)
            try container.encode("first", forKey: .again)
            try container.encode("second", forKey: .again)
            try Inner(name: "sup", value: nil, flags: []).encode(to: container.superEncoder())
        }
    }

    /// A key type without a `super` case asking for the super encoder, and the same nested containers twice.
    struct Twice: Encodable {
        enum Keys: String, CodingKey { case a, b, c }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            var first = container.nestedContainer(keyedBy: Keys.self, forKey: .a)
            try first.encode(1, forKey: .b)
            var again = container.nestedContainer(keyedBy: Keys.self, forKey: .a)
            try again.encode(2, forKey: .c)
            var list = container.nestedUnkeyedContainer(forKey: .b)
            try list.encode(1)
            var more = container.nestedUnkeyedContainer(forKey: .b)
            try more.encode(2)
            try 5.encode(to: container.superEncoder())
        }
    }

    struct Body: Encodable {
        var deviceId = "gps-0001"
        var missing: String? = nil
        var kind = Kind.b
        var text = "quote\" back\\ slash/ \u{8}\u{c}\n\r\t\u{1} ä€😀 \u{2028}"
        var numbers: [Double] = [40, -0.5, 21.5, 1e-7, 1e16, 1e15, -0.0, .leastNonzeroMagnitude, 0.1 + 0.2, 123_456_789.123]
        var integers: [Int] = [0, -1, .max, .min]
        var small: Int8 = -128
        var big: UInt64 = .max
        var items: [Inner] = [Inner(name: "a", value: 1, flags: [true, false]), Inner(name: "", value: nil, flags: [])]
        var map: [String: Int] = ["b": 2, "B": 1, "a10": 3, "a9": 4, "_": 5, "ä": 6]
        var nestedOptional: [Int?] = [1, nil, 3]
        var custom = Custom()
        var empty: [String] = []
        var floats: [Float] = [0.1, 1e10, .greatestFiniteMagnitude, 3, -0.5]
        var twice = Twice()
    }

    @Test func writesWhatJSONEncoderWrote() throws {
        let reference = JSONEncoder()
        reference.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let expected = String(decoding: try reference.encode(Body()), as: UTF8.self)
        let written = String(decoding: try BodyEncoder.bytes(of: Body()), as: UTF8.self)
        #expect(written == expected)
    }

    @Test func typesWithAFormOfTheirOwnAreRefused() {
        struct WithDate: Encodable { var at = Date() }
        struct WithData: Encodable { var bytes = Data([1, 2]) }
        struct WithURL: Encodable { var url = URL(string: "https://example.org")! }
        #expect(throws: EncodingError.self) { try BodyEncoder.bytes(of: WithDate()) }
        #expect(throws: EncodingError.self) { try BodyEncoder.bytes(of: WithData()) }
        #expect(throws: EncodingError.self) { try BodyEncoder.bytes(of: WithURL()) }
        #expect(throws: EncodingError.self) { try BodyEncoder.bytes(of: [Double.nan]) }
    }
}
