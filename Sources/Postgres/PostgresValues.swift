import Models

/// Swift values as PostgreSQL's text format has them, both ways: parameters are bound from `PostgresBindable`
/// values (so a caller passes an `Int64` or a `Bool`, never a hand-formatted string), and rows decode into
/// `PostgresDecodable` values, failing on text that is not one.
public protocol PostgresBindable: Sendable {
    /// The value in PostgreSQL's text input format.
    var postgresText: String { get }
}

public protocol PostgresDecodable: Sendable {
    /// nil when `postgresText` (PostgreSQL's text output) is not a value of this type.
    init?(postgresText: String)
}

extension String: PostgresBindable, PostgresDecodable {
    public var postgresText: String { self }
    public init?(postgresText: String) { self = postgresText }
}

/// Integers: decimal text both ways (`bigint`, `integer`, `smallint`).
public protocol PostgresInteger: FixedWidthInteger, PostgresBindable, PostgresDecodable {}

extension PostgresInteger {
    public var postgresText: String { String(self) }
    public init?(postgresText: String) { self.init(postgresText, radix: 10) }
}

extension Int: PostgresInteger {}
extension Int32: PostgresInteger {}
extension Int64: PostgresInteger {}
extension UInt64: PostgresInteger {}

extension Double: PostgresBindable, PostgresDecodable {
    /// PostgreSQL spells the special values `NaN`, `Infinity`, `-Infinity`; Swift's shortest round-trip form
    /// is valid float8 input for every finite value.
    public var postgresText: String {
        if isNaN { return "NaN" }
        if isInfinite { return self < 0 ? "-Infinity" : "Infinity" }
        return String(self)
    }

    public init?(postgresText: String) { self.init(postgresText) }
}

extension Bool: PostgresBindable, PostgresDecodable {
    public var postgresText: String { self ? "t" : "f" }

    public init?(postgresText: String) {
        switch postgresText {
        case "t", "true": self = true
        case "f", "false": self = false
        default: return nil
        }
    }
}

/// `bytea`: PostgreSQL's hex format (`\x0a1b`) both ways.
extension Array: PostgresBindable, PostgresDecodable where Element == UInt8 {
    public var postgresText: String { "\\x" + Hex.encode(self) }

    public init?(postgresText: String) {
        guard postgresText.hasPrefix("\\x"), let bytes = Hex.decode(String(postgresText.dropFirst(2))) else { return nil }
        self = bytes
    }
}
