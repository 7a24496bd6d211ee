import Alarms
import Foundation
import Models
import Telemetry

/// Opaque page cursors: base64url of a small versioned text. Clients pass them back unchanged.
enum Cursor {
    static func encode(_ cursor: ObservationCursor) -> String {
        let fields = ["o1", String(cursor.observedAtMicros), Hex.encode(Array(cursor.quantity.utf8)),
                      Hex.encode(cursor.messageKey), String(cursor.recordIndex)]
        return base64url(fields.joined(separator: "."))
    }

    static func decodeObservation(_ text: String) throws -> ObservationCursor {
        let fields = try decodeFields(text)
        guard fields.count == 5, fields[0] == "o1", let micros = Int64(fields[1]),
              let quantity = Hex.decode(fields[2]), let key = Hex.decode(fields[3]),
              let index = Int(fields[4]) else { throw invalid }
        return ObservationCursor(observedAtMicros: micros, quantity: String(decoding: quantity, as: UTF8.self),
                                 messageKey: key, recordIndex: index)
    }

    static func encodeDeadLetter(id: Int64) -> String { base64url("d1.\(id)") }

    static func encodeDevice(id: String) -> String { base64url("v1." + Hex.encode(Array(id.utf8))) }

    static func decodeDevice(_ text: String) throws -> String {
        let fields = try decodeFields(text)
        guard fields.count == 2, fields[0] == "v1", let id = Hex.decode(fields[1]) else { throw invalid }
        return String(decoding: id, as: UTF8.self)
    }

    static func encodeUnknownDevice(lastSeenMicros: Int64, id: String) -> String {
        base64url("u1.\(lastSeenMicros)." + Hex.encode(Array(id.utf8)))
    }

    static func decodeUnknownDevice(_ text: String) throws -> (lastSeenMicros: Int64, deviceId: String) {
        let fields = try decodeFields(text)
        guard fields.count == 3, fields[0] == "u1", let micros = Int64(fields[1]), let id = Hex.decode(fields[2]) else {
            throw invalid
        }
        return (micros, String(decoding: id, as: UTF8.self))
    }

    static func encodeAlarm(_ cursor: AlarmCursor) -> String {
        base64url("a1.\(cursor.priority).\(cursor.raisedAtMicros).\(cursor.id)")
    }

    static func decodeAlarm(_ text: String) throws -> AlarmCursor {
        let fields = try decodeFields(text)
        guard fields.count == 4, fields[0] == "a1", let priority = Int(fields[1]), let raised = Int64(fields[2]),
              let id = Int64(fields[3]) else { throw invalid }
        return AlarmCursor(priority: priority, raisedAtMicros: raised, id: id)
    }

    static func decodeDeadLetter(_ text: String) throws -> Int64 {
        let fields = try decodeFields(text)
        guard fields.count == 2, fields[0] == "d1", let id = Int64(fields[1]) else { throw invalid }
        return id
    }

    private static let invalid = Problem.badParameter("cursor", "cursor is not one this API issued; pass nextCursor from the previous page unchanged")

    private static func base64url(_ text: String) -> String { API.base64url(Array(text.utf8)) }

    private static func decodeFields(_ text: String) throws -> [String] {
        guard text.utf8.count <= 1024,
              text.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D || $0 == 0x5F })
        else { throw invalid }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let decoded = String(data: data, encoding: .utf8) else { throw invalid }
        return decoded.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    }
}
