import Hummingbird
import Models

/// Reads query parameters strictly: a wrong type or an oversize value is a 400 naming the parameter.
struct QueryReader {
    let parameters: Parameters

    init(_ request: Request) { parameters = request.uri.queryParameters }

    func string(_ name: String, maxLength: Int = 200) throws -> String? {
        guard let value = parameters[name[...]].map(String.init) else { return nil }
        guard !value.isEmpty else { throw Problem.badParameter(name, "\(name) must not be empty") }
        guard value.utf8.count <= maxLength else {
            throw Problem.badParameter(name, "\(name) is longer than \(maxLength) bytes")
        }
        return value
    }

    func limit(default defaultValue: Int, max maximum: Int) throws -> Int {
        guard let text = try string("limit", maxLength: 10) else { return defaultValue }
        guard let value = Int(text), (1...maximum).contains(value) else {
            throw Problem.badParameter("limit", "limit must be a whole number from 1 to \(maximum); got \"\(text)\"")
        }
        return value
    }

    /// `true` or `false`.
    func flag(_ name: String) throws -> Bool? {
        guard let text = try string(name, maxLength: 5) else { return nil }
        guard let value = Bool(text) else { throw Problem.badParameter(name, "\(name) must be true or false") }
        return value
    }

    /// An RFC 3339 timestamp, as microseconds since the epoch.
    func time(_ name: String) throws -> Int64? {
        guard let text = try string(name, maxLength: 40) else { return nil }
        guard let micros = RFC3339.micros(text) else {
            throw Problem.badParameter(name, "\(name) must be an RFC 3339 timestamp such as 2026-11-24T08:00:00Z; got \"\(text)\"")
        }
        return micros
    }

    /// `from`/`to` of a report: `to` defaults to `now` (plus `toAhead`), `from` to `defaultSpan` before `to`; the
    /// period is at most `maxDays` long (`what` names it in the 400: "a report", "a track").
    func period(now: Int64, defaultSpan: Int64, toAhead: Int64 = 0, maxDays: Int64, what: String) throws -> (from: Int64, to: Int64) {
        let to = try time("to") ?? now + toAhead
        let from = try time("from") ?? to - defaultSpan
        guard from < to else { throw Problem.badParameter("to", "to must be later than from") }
        guard to - from <= maxDays * 86_400_000_000 else { throw Problem.badParameter("from", "\(what) covers at most \(maxDays) days") }
        return (from, to)
    }
}
