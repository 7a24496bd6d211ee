/// Resource limits for one parse. Payloads come from devices we do not control, so every
/// dimension that costs memory or stack is bounded.
public struct JSONLimits: Sendable, Equatable {
    /// Maximum nesting of arrays and objects (the top-level array counts as 1).
    /// Values above 512 are treated as 512 to keep the recursive parser's stack use bounded.
    public var maxDepth: Int
    /// Maximum size of the whole document in bytes.
    public var maxBytes: Int
    /// Maximum decoded UTF-8 size of a single string (keys included).
    public var maxStringBytes: Int
    /// Maximum number of values in the document, counting every scalar, array and object.
    public var maxMembers: Int

    public init(
        maxDepth: Int = 32,
        maxBytes: Int = 256 * 1024,
        maxStringBytes: Int = 64 * 1024,
        maxMembers: Int = 10_000
    ) {
        self.maxDepth = maxDepth
        self.maxBytes = maxBytes
        self.maxStringBytes = maxStringBytes
        self.maxMembers = maxMembers
    }

    /// Hard ceiling on recursion, whatever `maxDepth` says.
    static let depthCeiling = 512
}

/// Why and where a document is not acceptable JSON. `offset` is the 0-based byte offset.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var offset: Int
    public var reason: String

    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

/// Strict RFC 8259 parser over UTF-8 bytes: no comments, no trailing commas, no NaN or
/// Infinity, no leading zeros, no lone surrogates, no invalid UTF-8, nothing but
/// whitespace after the value. It never traps on input: every index is checked and all
/// counters are bounded by the limits.
public struct JSONParser: Sendable {
    public static func parse(_ bytes: [UInt8], limits: JSONLimits = .init()) throws(JSONParseError) -> JSONValue {
        if bytes.count > limits.maxBytes {
            throw JSONParseError(
                offset: max(limits.maxBytes, 0),
                reason: "document is \(bytes.count) bytes; the limit is \(limits.maxBytes)"
            )
        }
        var reader = JSONByteReader(bytes: bytes, limits: limits)
        return try reader.parseDocument()
    }

    public static func parse(_ text: String, limits: JSONLimits = .init()) throws(JSONParseError) -> JSONValue {
        try parse(Array(text.utf8), limits: limits)
    }
}

// MARK: - Reader

private enum JSONSyntaxByte {
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let slash = UInt8(ascii: "/")
    static let comma = UInt8(ascii: ",")
    static let colon = UInt8(ascii: ":")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let minus = UInt8(ascii: "-")
    static let plus = UInt8(ascii: "+")
    static let dot = UInt8(ascii: ".")
    static let zero = UInt8(ascii: "0")
    static let nine = UInt8(ascii: "9")
    static let lowerE = UInt8(ascii: "e")
    static let upperE = UInt8(ascii: "E")
    static let lowerU = UInt8(ascii: "u")
}

/// Doubles that are exactly 10^0 ... 10^22: with a mantissa below 2^53, one multiply or
/// divide by these is correctly rounded (Clinger's fast path), so most sensor readings
/// never need the slower general conversion.
private let jsonExactPowersOfTen: [Double] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
]

private struct JSONByteReader {
    let bytes: [UInt8]
    let end: Int
    let maxDepth: Int
    let maxStringBytes: Int
    let maxValues: Int
    var position = 0
    var valueCount = 0
    /// Reused output buffer for strings that contain escapes.
    var scratch: [UInt8] = []

    init(bytes: [UInt8], limits: JSONLimits) {
        self.bytes = bytes
        self.end = bytes.count
        self.maxDepth = min(max(limits.maxDepth, 0), JSONLimits.depthCeiling)
        self.maxStringBytes = max(limits.maxStringBytes, 0)
        self.maxValues = max(limits.maxMembers, 0)
    }

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        if end >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            throw failure(at: 0, "a UTF-8 byte order mark is not allowed at the start of JSON")
        }
        skipWhitespace()
        if position >= end {
            throw failure(at: position, end == 0 ? "empty input; expected a JSON value" : "expected a JSON value, found only whitespace")
        }
        let value = try parseValue(depth: 0)
        skipWhitespace()
        if position < end {
            throw failure(at: position, "unexpected \(describeByte(at: position)) after the end of the JSON value")
        }
        return value
    }

    // MARK: Values

    /// `depth` is the number of arrays/objects enclosing this value.
    mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        guard position < end else {
            throw failure(at: position, "unexpected end of input; expected a JSON value")
        }
        valueCount += 1
        if valueCount > maxValues {
            throw failure(at: position, "document has more than \(maxValues) values; the limit is \(maxValues)")
        }
        let byte = bytes[position]
        switch byte {
        case JSONSyntaxByte.openBrace:
            try checkDepth(depth)
            return try parseObject(depth: depth + 1)
        case JSONSyntaxByte.openBracket:
            try checkDepth(depth)
            return try parseArray(depth: depth + 1)
        case JSONSyntaxByte.quote:
            return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case JSONSyntaxByte.minus, JSONSyntaxByte.zero...JSONSyntaxByte.nine:
            return .number(try parseNumber())
        default:
            throw failure(at: position, "unexpected \(describeByte(at: position)); expected a JSON value\(hintForValueStart(byte))")
        }
    }

    func checkDepth(_ depth: Int) throws(JSONParseError) {
        if depth >= maxDepth {
            throw failure(at: position, "nesting is deeper than \(maxDepth) levels; the limit is \(maxDepth)")
        }
    }

    mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
        position += 1  // '{'
        skipWhitespace()
        if position < end, bytes[position] == JSONSyntaxByte.closeBrace {
            position += 1
            return .object(JSONObject())
        }
        var members: [JSONObject.Member] = []
        while true {
            guard position < end, bytes[position] == JSONSyntaxByte.quote else {
                throw failure(at: position, "expected '\"' to start an object key, found \(describeByte(at: position))")
            }
            let key = try parseString()
            skipWhitespace()
            guard position < end, bytes[position] == JSONSyntaxByte.colon else {
                throw failure(at: position, "expected ':' after object key \(jsonQuotedForMessage(key)), found \(describeByte(at: position))")
            }
            position += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            members.append(JSONObject.Member(key: key, value: value))
            skipWhitespace()
            guard position < end else {
                throw failure(at: position, "unexpected end of input; expected ',' or '}'")
            }
            switch bytes[position] {
            case JSONSyntaxByte.comma:
                position += 1
                skipWhitespace()
                if position < end, bytes[position] == JSONSyntaxByte.closeBrace {
                    throw failure(at: position, "trailing comma before '}' is not allowed")
                }
            case JSONSyntaxByte.closeBrace:
                position += 1
                return .object(JSONObject(members))
            default:
                throw failure(at: position, "expected ',' or '}', found \(describeByte(at: position))")
            }
        }
    }

    mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        position += 1  // '['
        skipWhitespace()
        if position < end, bytes[position] == JSONSyntaxByte.closeBracket {
            position += 1
            return .array([])
        }
        var elements: [JSONValue] = []
        while true {
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            guard position < end else {
                throw failure(at: position, "unexpected end of input; expected ',' or ']'")
            }
            switch bytes[position] {
            case JSONSyntaxByte.comma:
                position += 1
                skipWhitespace()
                if position < end, bytes[position] == JSONSyntaxByte.closeBracket {
                    throw failure(at: position, "trailing comma before ']' is not allowed")
                }
            case JSONSyntaxByte.closeBracket:
                position += 1
                return .array(elements)
            default:
                throw failure(at: position, "expected ',' or ']', found \(describeByte(at: position))")
            }
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let start = position
        var index = 0
        let length = literal.utf8CodeUnitCount
        while index < length {
            let expected = literal.utf8Start[index]
            guard position < end, bytes[position] == expected else {
                throw failure(at: start, "invalid literal; expected '\(literal)'")
            }
            position += 1
            index += 1
        }
    }

    // MARK: Strings

    /// Parses a string starting at the opening quote; validates UTF-8 and escapes.
    mutating func parseString() throws(JSONParseError) -> String {
        let openingQuote = position
        let start = position + 1
        var index = start
        while index < end {
            let byte = bytes[index]
            if byte == JSONSyntaxByte.quote {
                if index - start > maxStringBytes {
                    throw stringTooLong(at: openingQuote, length: index - start)
                }
                position = index + 1
                // Already validated above, so decoding cannot substitute replacement characters.
                return String(decoding: bytes[start..<index], as: UTF8.self)
            }
            if byte == JSONSyntaxByte.backslash {
                return try parseEscapedString(openingQuote: openingQuote, firstEscape: index)
            }
            if byte < 0x20 {
                throw controlCharacter(byte, at: index)
            }
            index = byte < 0x80 ? index + 1 : try validateUTF8Sequence(at: index)
        }
        throw failure(at: openingQuote, "unterminated string; missing closing '\"'")
    }

    /// Slow path for strings with escapes: decodes into `scratch`.
    mutating func parseEscapedString(openingQuote: Int, firstEscape: Int) throws(JSONParseError) -> String {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: bytes[(openingQuote + 1)..<firstEscape])
        var index = firstEscape
        while index < end {
            let byte = bytes[index]
            if byte == JSONSyntaxByte.quote {
                if scratch.count > maxStringBytes {
                    throw stringTooLong(at: openingQuote, length: scratch.count)
                }
                position = index + 1
                return String(decoding: scratch, as: UTF8.self)
            }
            if byte == JSONSyntaxByte.backslash {
                index = try decodeEscape(at: index)
            } else if byte < 0x20 {
                throw controlCharacter(byte, at: index)
            } else if byte < 0x80 {
                scratch.append(byte)
                index += 1
            } else {
                let next = try validateUTF8Sequence(at: index)
                scratch.append(contentsOf: bytes[index..<next])
                index = next
            }
            // Escapes can only shrink the output, but a huge escaped string should still stop early.
            if scratch.count > maxStringBytes {
                throw stringTooLong(at: openingQuote, length: scratch.count)
            }
        }
        throw failure(at: openingQuote, "unterminated string; missing closing '\"'")
    }

    /// Decodes the escape at `index` (a backslash) into `scratch`; returns the index after it.
    mutating func decodeEscape(at index: Int) throws(JSONParseError) -> Int {
        guard index + 1 < end else {
            throw failure(at: index, "unterminated escape sequence at end of input")
        }
        let escaped = bytes[index + 1]
        switch escaped {
        case JSONSyntaxByte.quote, JSONSyntaxByte.backslash, JSONSyntaxByte.slash: scratch.append(escaped)
        case UInt8(ascii: "b"): scratch.append(0x08)
        case UInt8(ascii: "f"): scratch.append(0x0C)
        case UInt8(ascii: "n"): scratch.append(0x0A)
        case UInt8(ascii: "r"): scratch.append(0x0D)
        case UInt8(ascii: "t"): scratch.append(0x09)
        case JSONSyntaxByte.lowerU:
            return try decodeUnicodeEscape(at: index)
        default:
            throw failure(
                at: index,
                "invalid escape \\\(describeEscapeCharacter(escaped)) in string; valid escapes are \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX"
            )
        }
        return index + 2
    }

    /// Decodes `\uXXXX` (and a following low surrogate escape when needed) at `index`.
    mutating func decodeUnicodeEscape(at index: Int) throws(JSONParseError) -> Int {
        let unit = try hexQuad(at: index + 2, escapeStart: index)
        var scalarValue = UInt32(unit)
        var next = index + 6
        switch unit {
        case 0xD800...0xDBFF:
            guard next + 1 < end, bytes[next] == JSONSyntaxByte.backslash, bytes[next + 1] == JSONSyntaxByte.lowerU else {
                throw failure(at: index, "high surrogate \\u\(jsonHex4(unit)) must be followed by a low surrogate escape \\uDC00-\\uDFFF")
            }
            let low = try hexQuad(at: next + 2, escapeStart: next)
            guard (0xDC00...0xDFFF).contains(low) else {
                throw failure(at: next, "high surrogate \\u\(jsonHex4(unit)) is followed by \\u\(jsonHex4(low)), which is not a low surrogate (\\uDC00-\\uDFFF)")
            }
            scalarValue = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
            next += 6
        case 0xDC00...0xDFFF:
            throw failure(at: index, "lone low surrogate \\u\(jsonHex4(unit)) without a preceding high surrogate")
        default:
            break
        }
        appendUTF8(scalarValue)
        return next
    }

    /// Reads four hex digits at `index`.
    func hexQuad(at index: Int, escapeStart: Int) throws(JSONParseError) -> UInt16 {
        guard index + 4 <= end else {
            throw failure(at: escapeStart, "incomplete \\u escape; expected 4 hex digits")
        }
        var value: UInt16 = 0
        for offset in 0..<4 {
            let byte = bytes[index + offset]
            let digit: UInt8
            switch byte {
            case JSONSyntaxByte.zero...JSONSyntaxByte.nine: digit = byte - JSONSyntaxByte.zero
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default:
                throw failure(at: index + offset, "invalid hex digit \(describeByte(at: index + offset)) in \\u escape; expected 4 hex digits")
            }
            value = value << 4 | UInt16(digit)
        }
        return value
    }

    mutating func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case 0..<0x80:
            scratch.append(UInt8(scalar))
        case 0x80..<0x800:
            scratch.append(UInt8(0xC0 | (scalar >> 6)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        case 0x800..<0x10000:
            scratch.append(UInt8(0xE0 | (scalar >> 12)))
            scratch.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        default:
            scratch.append(UInt8(0xF0 | (scalar >> 18)))
            scratch.append(UInt8(0x80 | ((scalar >> 12) & 0x3F)))
            scratch.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        }
    }

    /// Validates one multi-byte UTF-8 sequence whose lead byte is at `index` (>= 0x80),
    /// per the well-formed table in Unicode §3.9; returns the index after it.
    func validateUTF8Sequence(at index: Int) throws(JSONParseError) -> Int {
        let lead = bytes[index]
        let length: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; secondRange = 0xA0...0xBF  // no overlong forms
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; secondRange = 0x80...0x9F  // no UTF-16 surrogates
        case 0xF0: length = 4; secondRange = 0x90...0xBF  // no overlong forms
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; secondRange = 0x80...0x8F  // nothing above U+10FFFF
        default:
            throw failure(at: index, "invalid UTF-8 byte 0x\(jsonHex2(lead)) in string")
        }
        guard index + length <= end else {
            throw failure(at: index, "truncated UTF-8 sequence starting with byte 0x\(jsonHex2(lead)) at end of input")
        }
        guard secondRange.contains(bytes[index + 1]) else {
            throw failure(at: index + 1, "invalid UTF-8 sequence: byte 0x\(jsonHex2(bytes[index + 1])) cannot follow lead byte 0x\(jsonHex2(lead))")
        }
        var offset = 2
        while offset < length {
            let continuation = bytes[index + offset]
            guard continuation & 0xC0 == 0x80 else {
                throw failure(at: index + offset, "invalid UTF-8 sequence: expected a continuation byte after lead byte 0x\(jsonHex2(lead)), found 0x\(jsonHex2(continuation))")
            }
            offset += 1
        }
        return index + length
    }

    // MARK: Numbers

    mutating func parseNumber() throws(JSONParseError) -> Double {
        let start = position
        var index = position
        let negative = bytes[index] == JSONSyntaxByte.minus
        if negative {
            index += 1
        }
        guard index < end, isDigit(bytes[index]) else {
            throw failure(at: index, "expected a digit after '-', found \(describeByte(at: index))")
        }
        // Accumulate the decimal mantissa while it stays exactly representable (< 2^53).
        var mantissa: UInt64 = 0
        var mantissaIsExact = true
        var decimalExponent = 0

        if bytes[index] == JSONSyntaxByte.zero {
            index += 1
            if index < end, isDigit(bytes[index]) {
                throw failure(at: start, "leading zeros are not allowed in numbers")
            }
        } else {
            while index < end, isDigit(bytes[index]) {
                accumulate(bytes[index], into: &mantissa, exact: &mantissaIsExact, exponent: &decimalExponent, isFraction: false)
                index += 1
            }
        }
        if index < end, bytes[index] == JSONSyntaxByte.dot {
            index += 1
            guard index < end, isDigit(bytes[index]) else {
                throw failure(at: index, "expected a digit after the decimal point, found \(describeByte(at: index))")
            }
            while index < end, isDigit(bytes[index]) {
                accumulate(bytes[index], into: &mantissa, exact: &mantissaIsExact, exponent: &decimalExponent, isFraction: true)
                index += 1
            }
        }
        if index < end, bytes[index] == JSONSyntaxByte.lowerE || bytes[index] == JSONSyntaxByte.upperE {
            index += 1
            var exponentIsNegative = false
            if index < end, bytes[index] == JSONSyntaxByte.plus || bytes[index] == JSONSyntaxByte.minus {
                exponentIsNegative = bytes[index] == JSONSyntaxByte.minus
                index += 1
            }
            guard index < end, isDigit(bytes[index]) else {
                throw failure(at: index, "expected a digit in the exponent, found \(describeByte(at: index))")
            }
            var exponent = 0
            while index < end, isDigit(bytes[index]) {
                // Saturate: anything this large is already out of range (or zero) either way.
                if exponent < 100_000 {
                    exponent = exponent * 10 + Int(bytes[index] - JSONSyntaxByte.zero)
                }
                index += 1
            }
            decimalExponent += exponentIsNegative ? -exponent : exponent
        }
        position = index

        var value: Double
        if mantissaIsExact, mantissa == 0 {
            value = negative ? -0.0 : 0.0
        } else if mantissaIsExact, decimalExponent >= -22, decimalExponent <= 22 {
            let magnitude = Double(mantissa)
            value = decimalExponent < 0
                ? magnitude / jsonExactPowersOfTen[-decimalExponent]
                : magnitude * jsonExactPowersOfTen[decimalExponent]
            if negative {
                value = -value
            }
        } else {
            // The lexeme is validated JSON, which is a subset of what Double(_:) accepts.
            let lexeme = String(decoding: bytes[start..<index], as: UTF8.self)
            guard let parsed = Double(lexeme) else {
                throw failure(at: start, "number \(jsonTruncatedForMessage(lexeme)) cannot be converted to a 64-bit float")
            }
            value = parsed
        }
        guard value.isFinite else {
            let lexeme = String(decoding: bytes[start..<index], as: UTF8.self)
            throw failure(at: start, "number \(jsonTruncatedForMessage(lexeme)) is out of range for a 64-bit float")
        }
        return value
    }

    func accumulate(_ digitByte: UInt8, into mantissa: inout UInt64, exact: inout Bool, exponent: inout Int, isFraction: Bool) {
        guard exact else { return }
        // 900_719_925_474_099 * 10 + 9 < 2^53, so the product stays exactly representable.
        if mantissa < 900_719_925_474_099 {
            mantissa = mantissa * 10 + UInt64(digitByte - JSONSyntaxByte.zero)
            if isFraction {
                exponent -= 1
            }
        } else {
            exact = false
        }
    }

    func isDigit(_ byte: UInt8) -> Bool {
        byte >= JSONSyntaxByte.zero && byte <= JSONSyntaxByte.nine
    }

    // MARK: Whitespace and errors

    mutating func skipWhitespace() {
        while position < end {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    func failure(at offset: Int, _ reason: String) -> JSONParseError {
        JSONParseError(offset: offset, reason: reason)
    }

    func stringTooLong(at offset: Int, length: Int) -> JSONParseError {
        failure(at: offset, "string of more than \(maxStringBytes) bytes (at least \(length)); the limit is \(maxStringBytes)")
    }

    func controlCharacter(_ byte: UInt8, at offset: Int) -> JSONParseError {
        let suggestion: String
        switch byte {
        case 0x0A: suggestion = "\\n"
        case 0x0D: suggestion = "\\r"
        case 0x09: suggestion = "\\t"
        default: suggestion = "\\u00\(jsonHex2(byte))"
        }
        return failure(at: offset, "unescaped control character 0x\(jsonHex2(byte)) in string; write it as \(suggestion)")
    }

    /// "end of input", "'x'" for printable ASCII, or "byte 0xNN".
    func describeByte(at offset: Int) -> String {
        guard offset < end else { return "end of input" }
        let byte = bytes[offset]
        if byte >= 0x20, byte < 0x7F {
            return "'\(Character(Unicode.Scalar(byte)))'"
        }
        return "byte 0x\(jsonHex2(byte))"
    }

    func describeEscapeCharacter(_ byte: UInt8) -> String {
        if byte >= 0x20, byte < 0x7F {
            return String(Character(Unicode.Scalar(byte)))
        }
        return "(byte 0x\(jsonHex2(byte)))"
    }

    /// Extra advice for common non-JSON inputs.
    func hintForValueStart(_ byte: UInt8) -> String {
        switch byte {
        case JSONSyntaxByte.slash: " (comments are not allowed in JSON)"
        case UInt8(ascii: "'"): " (strings must use double quotes)"
        case UInt8(ascii: "N"), UInt8(ascii: "I"): " (NaN and Infinity are not valid JSON numbers)"
        case JSONSyntaxByte.plus, JSONSyntaxByte.dot: " (numbers must start with a digit or '-')"
        default: ""
        }
    }
}

// MARK: - Message formatting

private let jsonHexDigits: [Character] = Array("0123456789ABCDEF")

private func jsonHex2(_ byte: UInt8) -> String {
    String([jsonHexDigits[Int(byte >> 4)], jsonHexDigits[Int(byte & 0x0F)]])
}

private func jsonHex4(_ value: UInt16) -> String {
    jsonHex2(UInt8(value >> 8)) + jsonHex2(UInt8(value & 0xFF))
}

private func jsonTruncatedForMessage(_ text: String) -> String {
    text.utf8.count <= 40 ? text : String(text.prefix(40)) + "..."
}

private func jsonQuotedForMessage(_ text: String) -> String {
    let prefix = text.unicodeScalars.count <= 40 ? text : String(String.UnicodeScalarView(text.unicodeScalars.prefix(40))) + "..."
    return prefix.debugDescription
}
