/// A parsed JSON document (RFC 8259).
///
/// Numbers are kept as `Double` because every consumer in the gateway (SenML and the
/// payload adapters) works with IEEE doubles; the parser rejects numbers that do not fit.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
}

/// A JSON object that keeps its members in document order.
///
/// Order and duplicates are preserved on purpose: RFC 8259 leaves duplicate names
/// undefined, so callers decide whether a duplicate is an error (SenML treats a
/// repeated label as one) instead of the parser silently keeping one of them.
public struct JSONObject: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        public var key: String
        public var value: JSONValue

        public init(key: String, value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    public var members: [Member]

    public init(_ members: [Member] = []) {
        self.members = members
    }

    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }

    /// The value of the first member named `key`, or nil when there is none.
    public subscript(key: String) -> JSONValue? {
        for member in members where member.key == key {
            return member.value
        }
        return nil
    }

    /// The first key (in document order) that appears a second time, or nil when all keys are unique.
    public var firstDuplicateKey: String? {
        // Typical objects have a handful of members: a quadratic scan beats hashing there.
        if members.count <= 16 {
            for later in members.indices.dropFirst() {
                let key = members[later].key
                for earlier in 0..<later where members[earlier].key == key {
                    return key
                }
            }
            return nil
        }
        var seen = Set<String>(minimumCapacity: members.count)
        for member in members where !seen.insert(member.key).inserted {
            return member.key
        }
        return nil
    }
}

extension JSONValue {
    /// The JSON type with an article, for error messages ("expected a number, got a string").
    var kindWithArticle: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
