import Foundation
import Hummingbird
import NIOCore

/// Writes the API's `Encodable` bodies as JSON, the way `JSONEncoder` with `.sortedKeys` and `.withoutEscapingSlashes`
/// did, several times faster: Foundation's encoder casts every value at run time to find dates, data and URLs
/// (60,000 instructions per device of a page of 100, in callgrind), and the API's bodies hold none of those
/// (times are RFC 3339 text). A body that does hold one is refused, rather than written in another form.
public struct BodyEncoder: ResponseEncoder {
    public init() {}

    public func encode(_ value: some Encodable, from request: Request, context: some RequestContext) throws -> Response {
        let bytes = try Self.bytes(of: value)
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.contentLength] = String(bytes.count)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// `value` as compact JSON, keys sorted.
    static func bytes(of value: some Encodable) throws -> [UInt8] {
        let encoder = TreeEncoder(path: Path(parent: nil, key: nil))
        try value.encode(to: encoder)
        guard let node = encoder.node.value else {
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "the value encoded nothing"))
        }
        var out: [UInt8] = []
        out.reserveCapacity(512)
        node.write(to: &out)
        return out
    }
}

/// What a value encoded to: a scalar's JSON text, or an object or array still being filled (so a container handed
/// out earlier sees later additions, as `Encoder`'s contract needs).
private indirect enum Node {
    case scalar([UInt8])
    case object(ObjectNode)
    case array(ArrayNode)

    func write(to out: inout [UInt8]) {
        switch self {
        case .scalar(let text):
            out += text
        case .object(let object):
            out.append(UInt8(ascii: "{"))
            // Sorted by UTF-8 bytes, as JSONEncoder's .sortedKeys; the sort is stable, so of a key written twice the
            // last one stays, as in JSONEncoder.
            let members = object.members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            var first = true
            for (index, member) in members.enumerated() where index + 1 == members.count || members[index + 1].key != member.key {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                JSONValue.write(string: member.key, to: &out)
                out.append(UInt8(ascii: ":"))
                member.value.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        case .array(let array):
            out.append(UInt8(ascii: "["))
            for (index, element) in array.elements.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                element.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
    }

    static func string(_ text: String) -> Node {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count + 2)
        JSONValue.write(string: text, to: &out)
        return .scalar(out)
    }

    static func number(_ value: some BinaryInteger) -> Node { .scalar(Array(String(value).utf8)) }

    /// A `Double` or a `Float`, each in its own shortest form (a `Float` 0.1 is `0.1`, not the `Double` it widens
    /// to), as JSONEncoder writes them; JSON has no NaN or infinity, so those are refused.
    static func number<Number: BinaryFloatingPoint & CustomStringConvertible>(
        _ value: Number, _ codingPath: @autoclosure () -> [any CodingKey]
    ) throws -> Node {
        guard value.isFinite else {
            throw EncodingError.invalidValue(value, .init(codingPath: codingPath(), debugDescription: "JSON has no \(value)"))
        }
        return .scalar(Array(JSONValue.text(of: value).utf8))
    }
}

/// A slot a value is written into (a member of an object, an element of an array, the root).
private final class Slot {
    var value: Node?
    init(_ value: Node? = nil) { self.value = value }

    /// A value that asked for no container is an empty object, as in JSONEncoder.
    func write(to out: inout [UInt8]) {
        if let value { value.write(to: &out) } else { out += "{}".utf8 }
    }
}

private final class ObjectNode {
    var members: [(key: String, value: Slot)] = []
}

private final class ArrayNode {
    var elements: [Slot] = []
}

/// The key `superEncoder()` writes under, whatever keys the type has.
private struct SuperKey: CodingKey {
    var stringValue: String { "super" }
    var intValue: Int? { nil }
    init() {}
    init?(stringValue: String) { nil }
    init?(intValue: Int) { nil }
}

private struct IndexKey: CodingKey {
    var stringValue: String { "Index \(intValue!)" }
    var intValue: Int?
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

/// Where a value sits, as a chain up to the root: `Encoder.codingPath` is worked out only when asked for (errors),
/// not copied into an array for every value.
private final class Path {
    let parent: Path?
    let key: (any CodingKey)?
    init(parent: Path?, key: (any CodingKey)?) {
        self.parent = parent
        self.key = key
    }

    var keys: [any CodingKey] {
        var keys: [any CodingKey] = []
        var node: Path? = self
        while let current = node {
            if let key = current.key { keys.append(key) }
            node = current.parent
        }
        return keys.reversed()
    }

    func appending(_ key: any CodingKey) -> Path { Path(parent: self, key: key) }
}

private final class TreeEncoder: Encoder {
    let path: Path
    var codingPath: [any CodingKey] { path.keys }
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    let node: Slot

    init(path: Path, node: Slot = Slot()) {
        self.path = path
        self.node = node
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(KeyedContainer<Key>(object: object(), path: path))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        UnkeyedContainer(array: array(), path: path)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleValue(slot: node, path: path) }

    /// The object this encoder writes (the same one when asked twice, as a superclass and its subclass do).
    private func object() -> ObjectNode {
        if case .object(let object) = node.value { return object }
        let object = ObjectNode()
        node.value = .object(object)
        return object
    }

    private func array() -> ArrayNode {
        if case .array(let array) = node.value { return array }
        let array = ArrayNode()
        node.value = .array(array)
        return array
    }

    /// Encodes `value` into `slot`; types JSONEncoder wrote in a form of their own are refused (see `BodyEncoder`).
    static func encode<T: Encodable>(_ value: T, into slot: Slot, path: Path) throws {
        if T.self == Data.self || T.self == Date.self || T.self == URL.self || T.self == Decimal.self {
            throw EncodingError.invalidValue(value, .init(codingPath: path.keys,
                                                          debugDescription: "\(T.self) has no form of its own in the API's bodies"))
        }
        try value.encode(to: TreeEncoder(path: path, node: slot))
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let object: ObjectNode
    let path: Path
    var codingPath: [any CodingKey] { path.keys }

    private func slot(_ key: Key, _ value: Node? = nil) -> Slot {
        let slot = Slot(value)
        object.members.append((key.stringValue, slot))
        return slot
    }

    mutating func encodeNil(forKey key: Key) throws { _ = slot(key, .scalar(Array("null".utf8))) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { _ = slot(key, .scalar(Array((value ? "true" : "false").utf8))) }
    mutating func encode(_ value: String, forKey key: Key) throws { _ = slot(key, .string(value)) }
    mutating func encode(_ value: Double, forKey key: Key) throws { _ = slot(key, try .number(value, path.appending(key).keys)) }
    mutating func encode(_ value: Float, forKey key: Key) throws { _ = slot(key, try .number(value, path.appending(key).keys)) }
    mutating func encode(_ value: Int, forKey key: Key) throws { _ = slot(key, .number(value)) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { _ = slot(key, .number(value)) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { _ = slot(key, .number(value)) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { _ = slot(key, .number(value)) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { _ = slot(key, .number(value)) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { _ = slot(key, .number(value)) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { _ = slot(key, .number(value)) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { _ = slot(key, .number(value)) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { _ = slot(key, .number(value)) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { _ = slot(key, .number(value)) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try TreeEncoder.encode(value, into: slot(key), path: path.appending(key))
    }

    /// The object or array already written under `key`, when a type asks for the same nested container twice (it
    /// then gets the same one back, as from JSONEncoder).
    private func existing(_ key: Key) -> Node? {
        object.members.last { $0.key == key.stringValue }?.value.value
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        if case .object(let nested) = existing(key) {
            return KeyedEncodingContainer(KeyedContainer<NestedKey>(object: nested, path: path.appending(key)))
        }
        let nested = ObjectNode()
        _ = slot(key, .object(nested))
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(object: nested, path: path.appending(key)))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        if case .array(let nested) = existing(key) { return UnkeyedContainer(array: nested, path: path.appending(key)) }
        let nested = ArrayNode()
        _ = slot(key, .array(nested))
        return UnkeyedContainer(array: nested, path: path.appending(key))
    }

    mutating func superEncoder() -> any Encoder {
        let slot = Slot()
        object.members.append(("super", slot))
        return TreeEncoder(path: path.appending(SuperKey()), node: slot)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder { TreeEncoder(path: path.appending(key), node: slot(key)) }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let array: ArrayNode
    let path: Path
    var codingPath: [any CodingKey] { path.keys }
    var count: Int { array.elements.count }

    private func slot(_ value: Node? = nil) -> Slot {
        let slot = Slot(value)
        array.elements.append(slot)
        return slot
    }

    private var nextPath: Path { path.appending(IndexKey(count)) }

    mutating func encodeNil() throws { _ = slot(.scalar(Array("null".utf8))) }
    mutating func encode(_ value: Bool) throws { _ = slot(.scalar(Array((value ? "true" : "false").utf8))) }
    mutating func encode(_ value: String) throws { _ = slot(.string(value)) }
    mutating func encode(_ value: Double) throws { _ = slot(try .number(value, nextPath.keys)) }
    mutating func encode(_ value: Float) throws { _ = slot(try .number(value, nextPath.keys)) }
    mutating func encode(_ value: Int) throws { _ = slot(.number(value)) }
    mutating func encode(_ value: Int8) throws { _ = slot(.number(value)) }
    mutating func encode(_ value: Int16) throws { _ = slot(.number(value)) }
    mutating func encode(_ value: Int32) throws { _ = slot(.number(value)) }
    mutating func encode(_ value: Int64) throws { _ = slot(.number(value)) }
    mutating func encode(_ value: UInt) throws { _ = slot(.number(value)) }
    mutating func encode(_ value: UInt8) throws { _ = slot(.number(value)) }
    mutating func encode(_ value: UInt16) throws { _ = slot(.number(value)) }
    mutating func encode(_ value: UInt32) throws { _ = slot(.number(value)) }
    mutating func encode(_ value: UInt64) throws { _ = slot(.number(value)) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let path = nextPath
        try TreeEncoder.encode(value, into: slot(), path: path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let path = nextPath
        let nested = ObjectNode()
        _ = slot(.object(nested))
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(object: nested, path: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let path = nextPath
        let nested = ArrayNode()
        _ = slot(.array(nested))
        return UnkeyedContainer(array: nested, path: path)
    }

    mutating func superEncoder() -> any Encoder {
        let path = nextPath
        return TreeEncoder(path: path, node: slot())
    }
}

private struct SingleValue: SingleValueEncodingContainer {
    let slot: Slot
    let path: Path
    var codingPath: [any CodingKey] { path.keys }

    mutating func encodeNil() throws { slot.value = .scalar(Array("null".utf8)) }
    mutating func encode(_ value: Bool) throws { slot.value = .scalar(Array((value ? "true" : "false").utf8)) }
    mutating func encode(_ value: String) throws { slot.value = .string(value) }
    mutating func encode(_ value: Double) throws { slot.value = try .number(value, path.keys) }
    mutating func encode(_ value: Float) throws { slot.value = try .number(value, path.keys) }
    mutating func encode(_ value: Int) throws { slot.value = .number(value) }
    mutating func encode(_ value: Int8) throws { slot.value = .number(value) }
    mutating func encode(_ value: Int16) throws { slot.value = .number(value) }
    mutating func encode(_ value: Int32) throws { slot.value = .number(value) }
    mutating func encode(_ value: Int64) throws { slot.value = .number(value) }
    mutating func encode(_ value: UInt) throws { slot.value = .number(value) }
    mutating func encode(_ value: UInt8) throws { slot.value = .number(value) }
    mutating func encode(_ value: UInt16) throws { slot.value = .number(value) }
    mutating func encode(_ value: UInt32) throws { slot.value = .number(value) }
    mutating func encode(_ value: UInt64) throws { slot.value = .number(value) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try TreeEncoder.encode(value, into: slot, path: path)
    }
}
