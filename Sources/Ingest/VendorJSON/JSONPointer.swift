/// A JSON Pointer (RFC 6901) in its JSON-string form, e.g. `/lock/state` or `/a~1b/0`.
///
/// Only the string representation is accepted (not the URI fragment form `#/...`). Reference tokens are
/// unescaped once at parse time (`~1` → `/`, then `~0` → `~`), so resolving costs one lookup per token.
public struct JSONPointer: Sendable, Hashable, CustomStringConvertible {
    /// The unescaped reference tokens; empty for the whole document ("").
    public let tokens: [String]
    /// The pointer as written (escaped), e.g. `/a~1b/0`.
    public let description: String

    /// Parses a pointer such as `/lock/state`; `""` is the whole document.
    public init(parsing text: String) throws(JSONPointerSyntaxError) {
        self.tokens = try JSONPointer.parseTokens(text)
        self.description = text
    }

    /// A pointer made of already unescaped tokens; `description` is the escaped form.
    public init(tokens: [String]) {
        self.tokens = tokens
        self.description = tokens.map { "/" + JSONPointer.escape($0) }.joined()
    }

    /// Escapes one reference token: `~` → `~0`, `/` → `~1`.
    public static func escape(_ token: String) -> String {
        guard token.utf8.contains(where: { $0 == UInt8(ascii: "~") || $0 == UInt8(ascii: "/") }) else {
            return token
        }
        var escaped = ""
        for character in token.unicodeScalars {
            switch character {
            case "~": escaped += "~0"
            case "/": escaped += "~1"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }

    private static func parseTokens(_ text: String) throws(JSONPointerSyntaxError) -> [String] {
        if text.isEmpty { return [] }
        let bytes = Array(text.utf8)
        guard bytes[0] == UInt8(ascii: "/") else {
            let hint = bytes[0] == UInt8(ascii: "#")
                ? " (the URI fragment form \"#/...\" is not supported; write the pointer without '#')"
                : ""
            throw JSONPointerSyntaxError(offset: 0, reason: "a JSON pointer must be empty or start with '/'\(hint)")
        }
        var tokens: [String] = []
        var current: [UInt8] = []
        var index = 1
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "/"):
                tokens.append(String(decoding: current, as: UTF8.self))
                current.removeAll(keepingCapacity: true)
            case UInt8(ascii: "~"):
                guard index + 1 < bytes.count else {
                    throw JSONPointerSyntaxError(offset: index, reason: "'~' at the end of the pointer; write '~0' for '~' and '~1' for '/'")
                }
                switch bytes[index + 1] {
                case UInt8(ascii: "0"): current.append(UInt8(ascii: "~"))
                case UInt8(ascii: "1"): current.append(UInt8(ascii: "/"))
                default:
                    let next = bytes[index + 1]
                    let shown = next >= 0x20 && next < 0x7F ? "'~\(Character(Unicode.Scalar(next)))'" : "'~' followed by a non-ASCII byte"
                    throw JSONPointerSyntaxError(offset: index, reason: "invalid escape \(shown); only '~0' (for '~') and '~1' (for '/') are allowed")
                }
                index += 1
            default:
                current.append(byte)
            }
            index += 1
        }
        tokens.append(String(decoding: current, as: UTF8.self))
        return tokens
    }

    /// Resolves the pointer in `document`.
    ///
    /// Gateway policy on top of RFC 6901: a JSON `null` on the way counts as absent (devices write
    /// `"pos": null` when they have no fix), the array index `-` (one past the end) is absent, and a key
    /// that occurs more than once in an object is an error rather than "the first one wins", because
    /// the value would be ambiguous. A final `null` is returned as `.found(.null)`; callers decide.
    public func resolve(in document: JSONValue) -> JSONPointerResolution {
        var current = document
        for (depth, token) in tokens.enumerated() {
            switch current {
            case .object(let object):
                var found: JSONValue?
                for member in object.members where member.key == token {
                    if found != nil {
                        return .invalid("\(describePrefix(depth)) has the key \(vendorJSONQuoted(token)) more than once")
                    }
                    found = member.value
                }
                guard let value = found else {
                    return .missing("\(describePrefix(depth)) has no member \(vendorJSONQuoted(token))")
                }
                current = value
            case .array(let elements):
                if token == "-" {
                    return .missing("'-' in \(describePrefix(depth)) refers to the element after the last one")
                }
                guard let index = JSONPointer.arrayIndex(token) else {
                    return .invalid("\(describePrefix(depth)) is an array, and \(vendorJSONQuoted(token)) is not an array index (digits without leading zeros)")
                }
                guard index < elements.count else {
                    return .missing("\(describePrefix(depth)) has no index \(index) (it has \(elements.count) element\(elements.count == 1 ? "" : "s"))")
                }
                current = elements[index]
            case .null:
                return .missing("\(describePrefix(depth)) is null")
            default:
                return .invalid("\(describePrefix(depth)) is \(current.kindWithArticle), so it has no member \(vendorJSONQuoted(token))")
            }
        }
        return .found(current)
    }

    /// "the document" or "'/a/b'" for the first `count` tokens.
    private func describePrefix(_ count: Int) -> String {
        count == 0 ? "the document" : "'\(JSONPointer(tokens: Array(tokens.prefix(count))).description)'"
    }

    /// RFC 6901 array index: "0" or digits without a leading zero. Nil for anything else or an absurd size.
    static func arrayIndex(_ token: String) -> Int? {
        let utf8 = token.utf8
        guard let first = utf8.first, utf8.count <= 18 else { return nil }
        if first == UInt8(ascii: "0") { return utf8.count == 1 ? 0 : nil }
        var value = 0
        for byte in utf8 {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }
}

/// The outcome of resolving a JSON pointer in a document.
public enum JSONPointerResolution: Sendable, Equatable {
    /// The value at the pointer (possibly `.null`).
    case found(JSONValue)
    /// Nothing at the pointer: a member, an index or a parent is absent or null. The text says which.
    case missing(String)
    /// The document's shape does not fit the pointer (a scalar on the way, a key that is not an array
    /// index, a duplicate key). The text says where.
    case invalid(String)
}

/// A pointer text that is not RFC 6901 syntax. `offset` is the 0-based UTF-8 offset in the pointer.
public struct JSONPointerSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var offset: Int
    public var reason: String

    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "invalid JSON pointer at offset \(offset): \(reason)" }
}

/// A vendor string for an error message: quoted, escaped, and cut at 40 characters (payloads are untrusted).
func vendorJSONQuoted(_ text: String) -> String {
    let scalars = text.unicodeScalars
    if scalars.count <= 40 { return text.debugDescription }
    return String(String.UnicodeScalarView(scalars.prefix(40))).debugDescription + "..."
}
