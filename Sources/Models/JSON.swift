import Foundation

/// A JSON document: built in code (NGSI-LD entities, whose attributes are named by the catalogue) or parsed strictly
/// from a request body (`parse`). Built in code (NGSI-LD entities, whose attributes are named by the catalogue), written straight to
/// UTF-8 bytes: `JSONSerialization` over `[String: Any]` cost more than a hundred microseconds for a small entity, with
/// a dynamic cast per value. Objects are written with their keys sorted, like every other body of the API.
public enum JSON: Equatable, Sendable {
    case object([String: JSON])
    case array([JSON])
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    /// The document as compact UTF-8 (keys sorted, `/` not escaped).
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(to: &out)
        return out
    }

    public func write(to out: inout [UInt8]) {
        switch self {
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                Self.write(string: key, to: &out)
                out.append(UInt8(ascii: ":"))
                members[key]!.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                element.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .string(let text):
            Self.write(string: text, to: &out)
        case .number(let number):
            out += Self.text(of: number).utf8
        case .bool(let value):
            out += (value ? "true" : "false").utf8
        case .null:
            out += "null".utf8
        }
    }

    /// As `JSONEncoder` writes a number: Swift's shortest round-trip form of its own type (a `Float` 0.1 is `0.1`)
    /// without a trailing `.0` (`40`, `21.5`, `1e-07`, `1e+16`, `-0`); JSON has no NaN or infinity, so those are null.
    public static func text<Number: BinaryFloatingPoint & CustomStringConvertible>(of number: Number) -> String {
        guard number.isFinite else { return "null" }
        let text = "\(number)"
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }

    /// A JSON string as `JSONEncoder` writes one: `"` and `\` escaped, control characters as `\n`, `\r`, `\t`,
    /// `\b`, `\f` or `\u00XX`, `/` and everything else as it is.
    public static func write(string: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Most text needs no escape at all: copied in one go.
        if !string.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            out.append(contentsOf: string.utf8)
            out.append(UInt8(ascii: "\""))
            return
        }
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0x08: out += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
            case 0x0C: out += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

extension JSON: ExpressibleByStringLiteral, ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(dictionaryLiteral elements: (String, JSON)...) { self = .object(Dictionary(elements) { _, last in last }) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
}

extension JSON {
    public var objectValue: [String: JSON]? { if case .object(let members) = self { members } else { nil } }
    public var arrayValue: [JSON]? { if case .array(let elements) = self { elements } else { nil } }
    public var stringValue: String? { if case .string(let text) = self { text } else { nil } }
    public var numberValue: Double? { if case .number(let number) = self { number } else { nil } }
    public var boolValue: Bool? { if case .bool(let flag) = self { flag } else { nil } }
    public subscript(key: String) -> JSON? { objectValue?[key] }

    /// What kind of value this is, for messages: `null`, `true`, `a number`, `a string`, `an array`, `an object`.
    public var kindName: String {
        switch self {
        case .null: "null"
        case .bool(let flag): flag ? "true" : "false"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// Parses a request body strictly (RFC 8259: no comments, no trailing commas, no duplicate keys, at most 64
    /// levels deep); the error says where it failed.
    public static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSON {
        do {
            return JSON(try StrictJSONParser.parse(Data(bytes)))
        } catch {
            throw JSONParseError(description: "line \(error.line), column \(error.column)\(error.path.isEmpty ? "" : " (at \(error.path))"): \(error.message)")
        }
    }

    init(_ raw: RawJSON) {
        switch raw {
        case .null: self = .null
        case .bool(let flag): self = .bool(flag)
        case .number(let number, _): self = .number(number)
        case .string(let text): self = .string(text)
        case .array(let elements): self = .array(elements.map(JSON.init))
        case .object(let object): self = .object(object.values.mapValues(JSON.init))
        }
    }
}

/// Why a body is not JSON.
public struct JSONParseError: Error, Sendable, CustomStringConvertible {
    public var description: String
}
