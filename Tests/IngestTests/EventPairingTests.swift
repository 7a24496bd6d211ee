import Testing
@testable import Ingest

@Suite("EventPairing: the session's and the events connection's copies of an event")
struct EventPairingTests {
    let a: [UInt8] = [1], b: [UInt8] = [2]

    @Test("the events connection first: fast path at once, the session's copy journaled under that arrival time")
    func eventsFirst() {
        var pairing = EventPairing()
        #expect(pairing.arrived(a, on: .events, nowMicros: 100) == .fastPathOnly(receivedAtMicros: 100))
        #expect(pairing.count == 1)
        #expect(pairing.arrived(a, on: .session, nowMicros: 900) == .journal(receivedAtMicros: 100, fastPath: false))
        #expect(pairing.count == 0)
    }

    @Test("the session first: journaled and to the fast path; the events connection's copy skipped")
    func sessionFirst() {
        var pairing = EventPairing()
        #expect(pairing.arrived(a, on: .session, nowMicros: 100) == .journal(receivedAtMicros: 100, fastPath: true))
        #expect(pairing.arrived(a, on: .events, nowMicros: 150) == .skip)
        #expect(pairing.count == 0)
    }

    @Test("the same payload sent twice pairs by order, each keeping its own arrival time")
    func repeatedContent() {
        var pairing = EventPairing()
        #expect(pairing.arrived(a, on: .events, nowMicros: 10) == .fastPathOnly(receivedAtMicros: 10))
        #expect(pairing.arrived(a, on: .events, nowMicros: 20) == .fastPathOnly(receivedAtMicros: 20))
        #expect(pairing.arrived(b, on: .session, nowMicros: 25) == .journal(receivedAtMicros: 25, fastPath: true))
        #expect(pairing.arrived(a, on: .session, nowMicros: 30) == .journal(receivedAtMicros: 10, fastPath: false))
        #expect(pairing.arrived(a, on: .session, nowMicros: 40) == .journal(receivedAtMicros: 20, fastPath: false))
        // A third send that the events connection missed (it was reconnecting) is the session's alone.
        #expect(pairing.arrived(a, on: .session, nowMicros: 50) == .journal(receivedAtMicros: 50, fastPath: true))
        #expect(pairing.arrived(b, on: .events, nowMicros: 60) == .skip)
        #expect(pairing.arrived(a, on: .events, nowMicros: 70) == .skip)
        #expect(pairing.count == 0)
    }

    @Test("bounded: copies whose pair never comes make way, oldest first, and a forgotten pair is handled alone")
    func bounded() {
        var pairing = EventPairing(capacity: 8)
        for index in 0..<10_000 {
            _ = pairing.arrived([UInt8(index % 256), UInt8(index / 256)], on: .events, nowMicros: Int64(index))
            #expect(pairing.count <= 8)
        }
        // The newest is still paired; the first was forgotten, so its session copy is journaled as if alone.
        let newest: [UInt8] = [UInt8(9_999 % 256), UInt8(9_999 / 256)]
        #expect(pairing.arrived(newest, on: .session, nowMicros: 20_000) == .journal(receivedAtMicros: 9_999, fastPath: false))
        #expect(pairing.arrived([0, 0], on: .session, nowMicros: 20_001) == .journal(receivedAtMicros: 20_001, fastPath: true))
    }

    @Test("a long run of paired copies leaves nothing behind")
    func pairedLeavesNothing() {
        var pairing = EventPairing(capacity: 4)
        for index in 0..<5_000 {
            let key: [UInt8] = [UInt8(index % 251)]
            #expect(pairing.arrived(key, on: .events, nowMicros: Int64(index)) == .fastPathOnly(receivedAtMicros: Int64(index)))
            #expect(pairing.arrived(key, on: .session, nowMicros: Int64(index) + 1) == .journal(receivedAtMicros: Int64(index), fastPath: false))
        }
        #expect(pairing.count == 0)
    }

    @Test("which topics the events connection receives", arguments: [
        ("devices/gps-1/events", true), ("devices//events", true), ("devices/a.b:c/events", true),
        ("devices/events", false), ("devices/gps-1/telemetry", false), ("devices/a/b/events", false),
        ("devices/gps-1/events/x", false), ("device/gps-1/events", false), ("xdevices/a/events", false),
    ])
    func eventTopics(topic: String, expected: Bool) {
        #expect(MQTTIngress.isEventTopic(topic) == expected)
    }
}
