import Testing

@testable import API
import Telemetry


@Suite struct CursorTests {
    @Test func observationCursorsRoundTrip() throws {
        let cursor = ObservationCursor(observedAtMicros: -5, quantity: "temp.ärlig/1", messageKey: [0, 1, 254, 255],
                                       recordIndex: 7)
        let text = Cursor.encode(cursor)
        #expect(text.utf8.allSatisfy { $0 != UInt8(ascii: "=") && $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "/") })
        #expect(try Cursor.decodeObservation(text) == cursor)
        #expect(try Cursor.decodeDeadLetter(Cursor.encodeDeadLetter(id: 42)) == 42)
    }

    @Test(arguments: ["", "not a cursor", "bzE", "%27%20OR%201=1", String(repeating: "a", count: 2_000)])
    func foreignCursorsAreRejected(text: String) {
        #expect(throws: Problem.self) { try Cursor.decodeObservation(text) }
        #expect(throws: Problem.self) { try Cursor.decodeDeadLetter(text) }
    }

    @Test func aDeadLetterCursorIsNotAnObservationCursor() {
        #expect(throws: Problem.self) { try Cursor.decodeObservation(Cursor.encodeDeadLetter(id: 1)) }
    }
}
