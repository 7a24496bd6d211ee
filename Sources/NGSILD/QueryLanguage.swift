import Foundation

/// The NGSI-LD query language (GS CIM 009 §4.9) as far as this tier evaluates it: terms joined by `;` (and), each
/// `attribute op value` with op `==`, `!=`, `>`, `>=`, `<`, `<=`, a value a number, a "quoted" text, `true` or
/// `false`, a list (`==a,b,c`) or a range (`==1..5`); or an attribute alone (it exists). Or (`|`) and parentheses
/// are refused with a precise error rather than half evaluated.
public struct QueryTerm: Sendable, Equatable {
    public enum Operator: String, Sendable, CaseIterable {
        case equal = "==", notEqual = "!=", greater = ">", greaterOrEqual = ">=", less = "<", lessOrEqual = "<="
    }

    public enum Literal: Sendable, Equatable {
        case number(Double)
        case text(String)
        case boolean(Bool)
    }

    public enum Test: Sendable, Equatable {
        case exists
        case compare(Operator, Literal)
        /// `==a,b,c` (any of them) or `!=a,b,c` (none of them).
        case oneOf([Literal], negated: Bool)
        /// `==low..high` (inclusive) or `!=low..high`.
        case range(Double, Double, negated: Bool)
    }

    /// The attribute as written (a term or an IRI); the caller expands it with the context in force.
    public var attribute: String
    public var test: Test

    public init(attribute: String, test: Test) {
        self.attribute = attribute
        self.test = test
    }

    public static let maxLength = 1024
    public static let maxTerms = 10

    /// Parses `q`; a text with `%` escapes (as some clients send it) is decoded first.
    public static func parse(_ raw: String) throws(NGSILDFailure) -> [QueryTerm] {
        let text = raw.contains("%") ? (raw.removingPercentEncoding ?? raw) : raw
        guard !text.isEmpty else { throw .badRequest("q is empty") }
        guard text.count <= maxLength else { throw .badRequest("q is longer than \(maxLength) characters") }
        var terms: [QueryTerm] = []
        for part in splitOutsideQuotes(text, on: ";") {
            if part.contains(where: { $0 == "|" || $0 == "(" || $0 == ")" }) && !insideQuotesOnly(part) {
                throw NGSILDFailure(.operationNotSupported, "q: or (|) and parentheses are not supported; join terms with ; (and)")
            }
            terms.append(try term(String(part)))
        }
        guard terms.count <= maxTerms else { throw .badRequest("q: at most \(maxTerms) terms") }
        return terms
    }

    private static func term(_ text: String) throws(NGSILDFailure) -> QueryTerm {
        for op in [Operator.greaterOrEqual, .lessOrEqual, .equal, .notEqual, .greater, .less] {
            guard let range = rangeOutsideQuotes(of: op.rawValue, in: text) else { continue }
            let name = String(text[..<range.lowerBound])
            try checkName(name)
            let value = String(text[range.upperBound...])
            guard !value.isEmpty else { throw .badRequest("q: \(text) has no value after \(op.rawValue)") }
            if op == .equal || op == .notEqual {
                if let dots = rangeOutsideQuotes(of: "..", in: value) {
                    guard let low = number(String(value[..<dots.lowerBound])), let high = number(String(value[dots.upperBound...])), low <= high else {
                        throw .badRequest("q: the range \(value) needs two numbers, the first not above the second")
                    }
                    return QueryTerm(attribute: name, test: .range(low, high, negated: op == .notEqual))
                }
                let items = splitOutsideQuotes(value, on: ",")
                if items.count > 1 {
                    guard items.count <= 20 else { throw .badRequest("q: a list has at most 20 values") }
                    var literals: [Literal] = []
                    for item in items { literals.append(try literal(String(item), in: text)) }
                    return QueryTerm(attribute: name, test: .oneOf(literals, negated: op == .notEqual))
                }
            }
            let parsed = try literal(value, in: text)
            if case .number = parsed {} else if op != .equal && op != .notEqual {
                throw .badRequest("q: \(op.rawValue) compares numbers; \(value) is not a number")
            }
            return QueryTerm(attribute: name, test: .compare(op, parsed))
        }
        if text.contains("~=") { throw NGSILDFailure(.operationNotSupported, "q: pattern matching (~=) is not supported") }
        try checkName(text)
        return QueryTerm(attribute: text, test: .exists)
    }

    private static func checkName(_ name: String) throws(NGSILDFailure) {
        guard !name.isEmpty, name.count <= 256,
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_:/.#-".contains($0)) }) else {
            throw .badRequest("q: \(name.isEmpty ? "a term" : "\"\(name)\"") is not an attribute name")
        }
        if name.contains(".") && !LDContext.isAbsoluteIRI(name) {
            throw NGSILDFailure(.operationNotSupported, "q: sub-attributes and compound values (\(name)) are not supported")
        }
    }

    private static func literal(_ text: String, in term: String) throws(NGSILDFailure) -> Literal {
        if let value = number(text) { return .number(value) }
        if text == "true" || text == "false" { return .boolean(text == "true") }
        if text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") {
            let inner = text.dropFirst().dropLast()
            guard !inner.contains("\"") else { throw .badRequest("q: \(text) has a quote inside") }
            return .text(String(inner))
        }
        throw .badRequest("q: \(text) in \(term) must be a number, true, false or a \"quoted\" text")
    }

    private static func number(_ text: String) -> Double? {
        guard let value = Double(text), value.isFinite, !text.contains(where: { $0.isLetter && $0 != "e" && $0 != "E" }) else { return nil }
        return value
    }

    private static func splitOutsideQuotes(_ text: String, on separator: Character) -> [Substring] {
        var parts: [Substring] = []
        var start = text.startIndex
        var quoted = false
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if character == "\"" { quoted.toggle() } else if character == separator && !quoted {
                parts.append(text[start..<index])
                start = text.index(after: index)
            }
            index = text.index(after: index)
        }
        parts.append(text[start...])
        return parts
    }

    private static func rangeOutsideQuotes(of needle: String, in text: String) -> Range<String.Index>? {
        var quoted = false
        var index = text.startIndex
        while index < text.endIndex {
            if text[index] == "\"" { quoted.toggle() } else if !quoted, text[index...].hasPrefix(needle) {
                return index..<text.index(index, offsetBy: needle.count)
            }
            index = text.index(after: index)
        }
        return nil
    }

    private static func insideQuotesOnly(_ text: Substring) -> Bool {
        var quoted = false
        for character in text {
            if character == "\"" { quoted.toggle() } else if !quoted, "|()".contains(character) { return false }
        }
        return true
    }

    // MARK: - Evaluation

    /// Whether a value passes this term's test (a value of another kind never does, as in the SQL).
    public func matches(_ value: Literal?) -> Bool {
        switch test {
        case .exists: return value != nil
        case .compare(let op, let literal):
            guard let value else { return false }
            switch (value, literal) {
            case (.number(let a), .number(let b)):
                switch op {
                case .equal: return a == b
                case .notEqual: return a != b
                case .greater: return a > b
                case .greaterOrEqual: return a >= b
                case .less: return a < b
                case .lessOrEqual: return a <= b
                }
            case (.text(let a), .text(let b)): return op == .equal ? a == b : op == .notEqual ? a != b : false
            case (.boolean(let a), .boolean(let b)): return op == .equal ? a == b : op == .notEqual ? a != b : false
            default: return false
            }
        case .oneOf(let literals, let negated):
            guard let value else { return false }
            return literals.contains(value) != negated
        case .range(let low, let high, let negated):
            guard case .number(let number)? = value else { return false }
            return (low...high).contains(number) != negated
        }
    }
}
