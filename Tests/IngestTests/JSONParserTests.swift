import Testing
@testable import Ingest

private func parseJSON(_ text: String, limits: JSONLimits = .init()) throws(JSONParseError) -> JSONValue {
    try JSONParser.parse(Array(text.utf8), limits: limits)
}

/// The error for `bytes`, or nil when they parse.
private func jsonParseError(_ bytes: [UInt8], limits: JSONLimits = .init()) -> JSONParseError? {
    do {
        _ = try JSONParser.parse(bytes, limits: limits)
        return nil
    } catch {
        return error
    }
}

private func jsonParseError(_ text: String, limits: JSONLimits = .init()) -> JSONParseError? {
    jsonParseError(Array(text.utf8), limits: limits)
}

private func parsedNumber(_ text: String) throws -> Double {
    guard case .number(let value) = try parseJSON(text) else {
        Issue.record("\(text) did not parse to a number")
        return .nan
    }
    return value
}

@Suite("JSON parser")
struct JSONParserTests {
    // MARK: Accepted documents

    @Test func parsesScalars() throws {
        #expect(try parseJSON("null") == .null)
        #expect(try parseJSON("true") == .bool(true))
        #expect(try parseJSON("false") == .bool(false))
        #expect(try parseJSON("\"hi\"") == .string("hi"))
        #expect(try parseJSON("42") == .number(42))
        #expect(try parseJSON(" \t\r\n 7 \n") == .number(7))
    }

    @Test func parsesNestedStructuresInDocumentOrder() throws {
        let value = try parseJSON(#"{"b": [1, {"c": null}], "a": true, "": "empty key"}"#)
        guard case .object(let object) = value else {
            Issue.record("expected an object, got \(value)")
            return
        }
        #expect(object.members.map(\.key) == ["b", "a", ""])
        #expect(object["a"] == .bool(true))
        #expect(object[""] == .string("empty key"))
        #expect(object["missing"] == nil)
        #expect(object["b"] == .array([.number(1), .object(JSONObject([.init(key: "c", value: .null)]))]))
        #expect(try parseJSON("[]") == .array([]))
        #expect(try parseJSON("{}") == .object(JSONObject()))
        #expect(try parseJSON("[ [ ] , { } ]") == .array([.array([]), .object(JSONObject())]))
    }

    @Test func keepsDuplicateKeysAndReportsThem() throws {
        guard case .object(let object) = try parseJSON(#"{"a": 1, "b": 2, "a": 3}"#) else {
            Issue.record("expected an object")
            return
        }
        #expect(object.count == 3)
        #expect(object["a"] == .number(1), "subscript returns the first match")
        #expect(object.firstDuplicateKey == "a")

        let unique = JSONObject((0..<40).map { JSONObject.Member(key: "k\($0)", value: .null) })
        #expect(unique.firstDuplicateKey == nil)
        var withDuplicate = unique
        withDuplicate.members.append(.init(key: "k7", value: .null))
        #expect(withDuplicate.firstDuplicateKey == "k7", "large objects use the hashed path")
    }

    @Test func stringOverloadMatchesByteOverload() throws {
        let text = #"{"name": "Zürich ☃", "v": [1.5, -2]}"#
        #expect(try JSONParser.parse(text) == JSONParser.parse(Array(text.utf8)))
    }

    // MARK: Numbers

    @Test(arguments: [
        ("0", 0.0), ("-0.0", 0.0), ("1", 1), ("-1", -1), ("23.1", 23.1), ("0.1", 0.1),
        ("1.5", 1.5), ("-12.25e2", -1225), ("1E3", 1000), ("1e-3", 0.001), ("2.5E+2", 250),
        ("1.276020076001e+09", 1_276_020_076.001), ("1.320067464e+09", 1_320_067_464),
        ("9007199254740993", 9_007_199_254_740_992), ("12345678901234567890", 12_345_678_901_234_567_168),
        ("1e-400", 0), ("0e999999999", 0), ("1.7976931348623157e308", 1.7976931348623157e308),
        ("4.9e-324", .leastNonzeroMagnitude), ("123456789012345.678", 123_456_789_012_345.678),
    ])
    func parsesNumbers(text: String, expected: Double) throws {
        #expect(try parsedNumber(text) == expected)
    }

    @Test func negativeZeroKeepsItsSign() throws {
        #expect(try parsedNumber("-0").sign == .minus)
        #expect(try parsedNumber("-0.0e5").sign == .minus)
        #expect(try parsedNumber("0").sign == .plus)
    }

    /// The fast path must agree bit for bit with the standard library's correctly rounded conversion.
    @Test func numberConversionMatchesStandardLibrary() throws {
        var random = SplitMix64(state: 0x5EED_0001)
        for _ in 0..<5000 {
            var text = Bool.random(using: &random) ? "-" : ""
            let integerDigits = Int.random(in: 1...18, using: &random)
            text += String(Int.random(in: 1...9, using: &random))
            for _ in 1..<integerDigits { text += String(Int.random(in: 0...9, using: &random)) }
            if Bool.random(using: &random) {
                text += "."
                for _ in 0..<Int.random(in: 1...12, using: &random) { text += String(Int.random(in: 0...9, using: &random)) }
            }
            if Int.random(in: 0..<3, using: &random) == 0 {
                text += "e" + String(Int.random(in: -40...40, using: &random))
            }
            let expected = try #require(Double(text))
            #expect(try parsedNumber(text).bitPattern == expected.bitPattern, "\(text)")
        }
    }

    @Test(arguments: [
        ("01", 0, "leading zeros are not allowed in numbers"),
        ("-01", 0, "leading zeros are not allowed in numbers"),
        ("-", 1, "expected a digit after '-', found end of input"),
        ("-a", 1, "expected a digit after '-', found 'a'"),
        ("1.", 2, "expected a digit after the decimal point, found end of input"),
        ("1.e5", 2, "expected a digit after the decimal point, found 'e'"),
        ("1e", 2, "expected a digit in the exponent, found end of input"),
        ("1e+", 3, "expected a digit in the exponent, found end of input"),
        (".5", 0, "unexpected '.'; expected a JSON value (numbers must start with a digit or '-')"),
        ("+1", 0, "unexpected '+'; expected a JSON value (numbers must start with a digit or '-')"),
        ("1e400", 0, "number 1e400 is out of range for a 64-bit float"),
        ("[-1e400]", 1, "number -1e400 is out of range for a 64-bit float"),
        ("NaN", 0, "unexpected 'N'; expected a JSON value (NaN and Infinity are not valid JSON numbers)"),
        ("Infinity", 0, "unexpected 'I'; expected a JSON value (NaN and Infinity are not valid JSON numbers)"),
        ("-Infinity", 1, "expected a digit after '-', found 'I'"),
        ("0x10", 1, "unexpected 'x' after the end of the JSON value"),
    ])
    func rejectsInvalidNumbers(text: String, offset: Int, reason: String) {
        #expect(jsonParseError(text) == JSONParseError(offset: offset, reason: reason))
    }

    // MARK: Strings

    @Test func decodesEscapes() throws {
        #expect(try parseJSON(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{08}\u{0C}\n\r\t"))
        #expect(try parseJSON(#""caf\u00e9 \u00E9""#) == .string("café é"))
        #expect(try parseJSON(#""\u0000""#) == .string("\u{0}"))
        #expect(try parseJSON(#""a\u20ACb""#) == .string("a€b"))
        #expect(try parseJSON(#""\uD83D\uDE00!""#) == .string("😀!"))
        #expect(try parseJSON(#""\uDBFF\uDFFF""#) == .string("\u{10FFFF}"))
        #expect(try parseJSON(#""mixed é and \n""#) == .string("mixed é and \n"))
    }

    @Test(arguments: [
        (#""\uD83D""#, 1, #"high surrogate \uD83D must be followed by a low surrogate escape \uDC00-\uDFFF"#),
        (#""\uD83Dx""#, 1, #"high surrogate \uD83D must be followed by a low surrogate escape \uDC00-\uDFFF"#),
        (#""\uD83D\u0041""#, 7, #"high surrogate \uD83D is followed by \u0041, which is not a low surrogate (\uDC00-\uDFFF)"#),
        (#""\uDE00""#, 1, #"lone low surrogate \uDE00 without a preceding high surrogate"#),
        (#""\x""#, 1, #"invalid escape \x in string; valid escapes are \" \\ \/ \b \f \n \r \t \uXXXX"#),
        (#"["\u12"]"#, 6, #"invalid hex digit '"' in \u escape; expected 4 hex digits"#),
        (#""\u12G4""#, 5, #"invalid hex digit 'G' in \u escape; expected 4 hex digits"#),
        (#""\u12""#, 1, #"incomplete \u escape; expected 4 hex digits"#),
        (#""abc"#, 0, #"unterminated string; missing closing '"'"#),
        (#""ab\"#, 3, "unterminated escape sequence at end of input"),
        ("'single'", 0, "unexpected '''; expected a JSON value (strings must use double quotes)"),
    ])
    func rejectsBadStrings(text: String, offset: Int, reason: String) {
        #expect(jsonParseError(text) == JSONParseError(offset: offset, reason: reason))
    }

    @Test func rejectsUnescapedControlCharacters() throws {
        #expect(jsonParseError("[\"a\nb\"]") == JSONParseError(offset: 3, reason: "unescaped control character 0x0A in string; write it as \\n"))
        #expect(jsonParseError("\"\t\"") == JSONParseError(offset: 1, reason: "unescaped control character 0x09 in string; write it as \\t"))
        #expect(jsonParseError([0x22, 0x01, 0x22])?.reason == "unescaped control character 0x01 in string; write it as \\u0001")
        #expect(jsonParseError("\"\\n then \u{1F}\"")?.offset == 9, "control characters are rejected after escapes too")
        #expect(try parseJSON("\"\u{7F}\"") == .string("\u{7F}"), "DEL is not a control character in JSON")
    }

    @Test func validatesUTF8() throws {
        #expect(try JSONParser.parse([0x22, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80, 0x22]) == .string("€😀"))
        let cases: [([UInt8], Int, String)] = [
            ([0x22, 0xC3, 0x28, 0x22], 2, "invalid UTF-8 sequence: byte 0x28 cannot follow lead byte 0xC3"),
            ([0x22, 0xC0, 0xAF, 0x22], 1, "invalid UTF-8 byte 0xC0 in string"),  // overlong '/'
            ([0x22, 0xE0, 0x80, 0xAF, 0x22], 2, "invalid UTF-8 sequence: byte 0x80 cannot follow lead byte 0xE0"),  // overlong
            ([0x22, 0xED, 0xA0, 0x80, 0x22], 2, "invalid UTF-8 sequence: byte 0xA0 cannot follow lead byte 0xED"),  // UTF-16 surrogate
            ([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], 2, "invalid UTF-8 sequence: byte 0x90 cannot follow lead byte 0xF4"),  // > U+10FFFF
            ([0x22, 0xE2, 0x82, 0x41, 0x22], 3, "invalid UTF-8 sequence: expected a continuation byte after lead byte 0xE2, found 0x41"),
            ([0x22, 0xE2, 0x82], 1, "truncated UTF-8 sequence starting with byte 0xE2 at end of input"),
            ([0x22, 0xFF, 0x22], 1, "invalid UTF-8 byte 0xFF in string"),
            ([0x22, 0x80, 0x22], 1, "invalid UTF-8 byte 0x80 in string"),
            ([0x22, 0x5C, 0x6E, 0xFE, 0x22], 3, "invalid UTF-8 byte 0xFE in string"),  // after an escape
            ([0x5B, 0xC3, 0xA9, 0x5D], 1, "unexpected byte 0xC3; expected a JSON value"),  // outside a string
        ]
        for (bytes, offset, reason) in cases {
            #expect(jsonParseError(bytes) == JSONParseError(offset: offset, reason: reason), "\(bytes)")
        }
    }

    // MARK: Structure

    @Test(arguments: [
        ("", 0, "empty input; expected a JSON value"),
        ("  \n", 3, "expected a JSON value, found only whitespace"),
        ("[1,]", 3, "trailing comma before ']' is not allowed"),
        (#"{"a":1,}"#, 7, "trailing comma before '}' is not allowed"),
        ("[1 2]", 3, "expected ',' or ']', found '2'"),
        ("[1", 2, "unexpected end of input; expected ',' or ']'"),
        ("[", 1, "unexpected end of input; expected a JSON value"),
        ("[1,", 3, "unexpected end of input; expected a JSON value"),
        ("{", 1, "expected '\"' to start an object key, found end of input"),
        (#"{"a" 1}"#, 5, "expected ':' after object key \"a\", found '1'"),
        (#"{"a":}"#, 5, "unexpected '}'; expected a JSON value"),
        (#"{"a":1 "b":2}"#, 7, "expected ',' or '}', found '\"'"),
        (#"{a:1}"#, 1, "expected '\"' to start an object key, found 'a'"),
        ("[1] x", 4, "unexpected 'x' after the end of the JSON value"),
        ("[1]]", 3, "unexpected ']' after the end of the JSON value"),
        ("[1] [2]", 4, "unexpected '[' after the end of the JSON value"),
        ("[1 /* c */]", 3, "expected ',' or ']', found '/'"),
        ("// c\n[1]", 0, "unexpected '/'; expected a JSON value (comments are not allowed in JSON)"),
        ("tru", 0, "invalid literal; expected 'true'"),
        ("nul", 0, "invalid literal; expected 'null'"),
        ("falsy", 0, "invalid literal; expected 'false'"),
        ("True", 0, "unexpected 'T'; expected a JSON value"),
        ("[1]\u{0C}", 3, "unexpected byte 0x0C after the end of the JSON value"),
        ("\u{A0}1", 0, "unexpected byte 0xC2; expected a JSON value"),
        ("\u{FEFF}[1]", 0, "a UTF-8 byte order mark is not allowed at the start of JSON"),
        ("[1]\u{0}", 3, "unexpected byte 0x00 after the end of the JSON value"),
    ])
    func rejectsMalformedStructure(text: String, offset: Int, reason: String) {
        #expect(jsonParseError(text) == JSONParseError(offset: offset, reason: reason))
    }

    @Test func errorDescriptionNamesTheByteOffset() {
        #expect(JSONParseError(offset: 17, reason: "expected ',' or ']'").description == "invalid JSON at byte 17: expected ',' or ']'")
        #expect(jsonParseError("[1 2]")?.description == "invalid JSON at byte 3: expected ',' or ']', found '2'")
    }

    // MARK: Limits

    @Test func enforcesDepthLimit() throws {
        let deepest = String(repeating: "[", count: 32) + String(repeating: "]", count: 32)
        #expect(try parseJSON(deepest) != .null)
        let tooDeep = String(repeating: "[", count: 33) + String(repeating: "]", count: 33)
        #expect(jsonParseError(tooDeep) == JSONParseError(offset: 32, reason: "nesting is deeper than 32 levels; the limit is 32"))
        #expect(jsonParseError(#"{"a":{"b":[1]}}"#, limits: JSONLimits(maxDepth: 2))?.offset == 10)
        #expect(jsonParseError("1", limits: JSONLimits(maxDepth: 0)) == nil, "scalars need no depth")
    }

    @Test func hugeDepthLimitIsClampedInsteadOfOverflowingTheStack() {
        let limits = JSONLimits(maxDepth: 1_000_000, maxMembers: 1_000_000)
        let bomb = [UInt8](repeating: UInt8(ascii: "["), count: 100_000)
        #expect(jsonParseError(bomb, limits: limits) == JSONParseError(offset: 512, reason: "nesting is deeper than 512 levels; the limit is 512"))
    }

    @Test func enforcesSizeLimits() {
        #expect(jsonParseError("[1, 2, 3]", limits: JSONLimits(maxBytes: 8)) == JSONParseError(offset: 8, reason: "document is 9 bytes; the limit is 8"))
        #expect(jsonParseError("[1, 2, 3]", limits: JSONLimits(maxBytes: 9)) == nil)

        let limits = JSONLimits(maxStringBytes: 4)
        #expect(jsonParseError(#"["abcd"]"#, limits: limits) == nil)
        #expect(jsonParseError(#"["abcde"]"#, limits: limits) == JSONParseError(offset: 1, reason: "string of more than 4 bytes (at least 5); the limit is 4"))
        #expect(jsonParseError(#"["ab\ncde"]"#, limits: limits)?.offset == 1, "escaped strings are limited too")
        #expect(jsonParseError(#"["\u00e9\u00e9"]"#, limits: limits) == nil, "the limit counts decoded bytes")
        #expect(jsonParseError(#"{"abcde": 1}"#, limits: limits)?.offset == 1, "keys are strings too")

        let counted = JSONLimits(maxMembers: 4)
        #expect(jsonParseError("[1, 2, 3]", limits: counted) == nil, "the array and its three elements are 4 values")
        #expect(jsonParseError("[1, 2, 3, 4]", limits: counted) == JSONParseError(offset: 10, reason: "document has more than 4 values; the limit is 4"))
    }

    // MARK: Properties

    @Test func serializedRandomValuesRoundTrip() throws {
        var random = SplitMix64(state: 0xC0FF_EE00)
        for _ in 0..<500 {
            let value = randomJSONValue(depth: 0, using: &random)
            let text = serializeJSON(value)
            #expect(try parseJSON(text) == value, "\(text)")
        }
    }

    @Test func mutatedDocumentsNeverCrashAndReportOffsetsInsideTheInput() {
        let seed = Array(#"{"a": [1, -2.5e3, true, null, "x\u00e9\n\uD83D\uDE00"], "b": {"c": []}}"#.utf8)
        var random = SplitMix64(state: 42)
        var rejected = 0
        for _ in 0..<3000 {
            var bytes = seed
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                mutateJSONBytes(&bytes, using: &random)
            }
            if let error = jsonParseError(bytes) {
                rejected += 1
                #expect((0...bytes.count).contains(error.offset), "\(bytes)")
                #expect(!error.reason.isEmpty)
            }
        }
        #expect(rejected > 1000, "most mutations should break the document")
    }
}

// MARK: - Helpers for property tests

private func randomJSONValue(depth: Int, using random: inout SplitMix64) -> JSONValue {
    let choice = Int.random(in: 0..<(depth < 4 ? 7 : 5), using: &random)
    switch choice {
    case 0: return .null
    case 1: return .bool(Bool.random(using: &random))
    case 2:
        let raw = Double(bitPattern: random.next())
        return .number(raw.isFinite ? raw : Double(Int32.random(in: .min ... .max, using: &random)) / 8)
    case 3, 4:
        let alphabet: [Unicode.Scalar] = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\u{0}", "\u{1F}", "é", "€", "😀", "\u{10FFFF}"]
        var text = ""
        for _ in 0..<Int.random(in: 0...8, using: &random) {
            text.unicodeScalars.append(alphabet[Int.random(in: 0..<alphabet.count, using: &random)])
        }
        return .string(text)
    case 5:
        return .array((0..<Int.random(in: 0...4, using: &random)).map { _ in randomJSONValue(depth: depth + 1, using: &random) })
    default:
        let members = (0..<Int.random(in: 0...4, using: &random)).map { index in
            JSONObject.Member(key: "k\(index % 3)", value: randomJSONValue(depth: depth + 1, using: &random))
        }
        return .object(JSONObject(members))
    }
}

/// Minimal serializer for the round-trip test; escapes the way the RFC requires and
/// writes high code points as surrogate pairs half of the time.
private func serializeJSON(_ value: JSONValue) -> String {
    switch value {
    case .null: return "null"
    case .bool(let flag): return flag ? "true" : "false"
    case .number(let number): return "\(number)"
    case .string(let text): return serializeJSONString(text)
    case .array(let elements): return "[" + elements.map(serializeJSON).joined(separator: ",") + "]"
    case .object(let object):
        return "{" + object.members.map { serializeJSONString($0.key) + ": " + serializeJSON($0.value) }.joined(separator: ", ") + "}"
    }
}

private func serializeJSONString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case _ where scalar.value < 0x20:
            out += "\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
        case _ where scalar.value >= 0x10000 && scalar.value % 2 == 0:
            let offset = scalar.value - 0x10000
            out += "\\u" + String(0xD800 + (offset >> 10), radix: 16) + "\\u" + String(0xDC00 + (offset & 0x3FF), radix: 16)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

private func mutateJSONBytes(_ bytes: inout [UInt8], using random: inout SplitMix64) {
    let interesting: [UInt8] = Array(#"{}[]",:\-+.0123456789eEtfnu"#.utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xC3, 0xED, 0xF4, 0xFF]
    switch Int.random(in: 0..<4, using: &random) {
    case 0 where !bytes.isEmpty:
        bytes[Int.random(in: 0..<bytes.count, using: &random)] ^= UInt8(1 << Int.random(in: 0..<8, using: &random))
    case 1 where !bytes.isEmpty:
        bytes.removeLast(Int.random(in: 1...bytes.count, using: &random))
    case 2:
        bytes.insert(interesting[Int.random(in: 0..<interesting.count, using: &random)], at: Int.random(in: 0...bytes.count, using: &random))
    default:
        if !bytes.isEmpty {
            bytes.remove(at: Int.random(in: 0..<bytes.count, using: &random))
        }
    }
}
