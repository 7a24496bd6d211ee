import Foundation
import Hummingbird
import Models
import Telemetry

/// JSON bodies of the read API. Times are RFC 3339 UTC; binary data base64url.
struct ObservationBody: ResponseEncodable, Equatable {
    var deviceId: String
    var quantity: String
    /// number, string, boolean or data
    var valueType: String?
    var value: JSONScalar?
    var sum: Double?
    var unit: String?
    var observedAt: String
    var receivedAt: String
    var messageKey: String

    init(_ observation: Observation) {
        deviceId = observation.deviceID
        quantity = observation.quantity
        switch observation.value {
        case .number(let number): valueType = "number"; value = .number(number)
        case .string(let string): valueType = "string"; value = .string(string)
        case .boolean(let boolean): valueType = "boolean"; value = .boolean(boolean)
        case .data(let data): valueType = "data"; value = .string(base64url(data))
        case .none: valueType = nil; value = nil
        }
        sum = observation.sum
        unit = observation.unit
        observedAt = RFC3339.format(micros: observation.observedAtMicros)
        receivedAt = RFC3339.format(micros: observation.receivedAtMicros)
        messageKey = Hex.encode(observation.messageKey)
    }
}

enum JSONScalar: Encodable, Equatable {
    case number(Double), string(String), boolean(Bool)

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .boolean(let value): try container.encode(value)
        }
    }
}

struct Page<Item: Encodable & Sendable>: ResponseEncodable {
    var items: [Item]
    /// Pass as `cursor` to get the next page; null on the last page.
    var nextCursor: String?
}

struct LatestBody: ResponseEncodable {
    var deviceId: String
    var items: [ObservationBody]
}

struct RawMessageBody: ResponseEncodable {
    var deviceId: String?
    var topic: String
    var receivedAt: String
    var outcome: String
    var recordsAccepted: Int
    var recordsRejected: Int
    var messageKey: String
    var journalSequence: UInt64
    /// The payload as text when it is UTF-8, else null (then see payloadBase64). Both are left out for clients
    /// below clearance 3 (`payloadRedacted`): a raw payload carries every value of the message.
    var payloadText: String?
    var payloadBase64: String?
    var payloadRedacted: Bool

    init(_ message: RawMessage, withPayload: Bool = true) {
        deviceId = message.deviceID
        topic = message.topic
        receivedAt = RFC3339.format(micros: message.receivedAtMicros)
        outcome = message.outcome.rawValue
        recordsAccepted = message.recordsAccepted
        recordsRejected = message.recordsRejected
        messageKey = Hex.encode(message.messageKey)
        journalSequence = message.journalSequence
        payloadText = withPayload ? String(validating: message.payload, as: UTF8.self) : nil
        payloadBase64 = withPayload ? base64url(message.payload) : nil
        payloadRedacted = !withPayload
    }
}

struct DeadLetterBody: ResponseEncodable {
    var id: Int64
    var receivedAt: String
    var topic: String
    var deviceId: String?
    var recordIndex: Int?
    var reason: String
    var messageKey: String
    var payloadText: String?
    var payloadBase64: String?
    var payloadRedacted: Bool

    init(_ letter: DeadLetter, withPayload: Bool = true) {
        id = letter.id ?? 0
        receivedAt = RFC3339.format(micros: letter.receivedAtMicros)
        topic = letter.topic
        deviceId = letter.deviceID
        recordIndex = letter.recordIndex
        // A reason may quote what it refused (`location_text "Kitchen"`): redacted like the payload it comes from.
        reason = withPayload ? letter.reason : RedactedReason.of(letter.reason)
        messageKey = Hex.encode(letter.messageKey)
        payloadText = withPayload ? String(validating: letter.payload, as: UTF8.self) : nil
        payloadBase64 = withPayload ? base64url(letter.payload) : nil
        payloadRedacted = !withPayload
    }
}

/// A dead letter's reason for a client below clearance 3: its wording stays, the values it quotes go. Every
/// quoted text becomes `"…"` and every number `…`, except record indexes (`records[2]`), which are positions,
/// not data. Deliberately blunt: reasons are free text from many parsers, so no value is trusted to be harmless.
enum RedactedReason {
    private static let quoted = try! NSRegularExpression(pattern: #""(?:[^"\\]|\\.)*"?"#)
    private static let number = try! NSRegularExpression(
        pattern: #"(?<![\w.\[-])-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?![\w\]])"#)

    static func of(_ reason: String) -> String {
        var text = replace(quoted, in: reason, with: "\"…\"")
        text = replace(number, in: text, with: "…")
        return text
    }

    private static func replace(_ expression: NSRegularExpression, in text: String, with template: String) -> String {
        expression.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text), withTemplate: template)
    }
}

func base64url(_ bytes: [UInt8]) -> String {
    Data(bytes).base64EncodedString()
        .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}
