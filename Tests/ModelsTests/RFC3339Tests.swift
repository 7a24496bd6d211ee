import Testing

@testable import Models

@Suite struct RFC3339Tests {
    @Test(arguments: [
        ("1970-01-01T00:00:00Z", Int64(0)),
        ("2025-10-09T08:53:20Z", Int64(1_760_000_000_000_000)),
        ("2025-10-09T10:53:20+02:00", Int64(1_760_000_000_000_000)),
        ("2025-10-09T08:53:20.5Z", Int64(1_760_000_000_500_000)),
        ("2025-10-09t08:53:20.123456789z", Int64(1_760_000_000_123_456)),
        ("2024-02-29T23:59:59-00:30", Int64(1_709_252_999_000_000)),
        ("1969-12-31T23:59:59Z", Int64(-1_000_000)),
    ])
    func parses(text: String, micros: Int64) {
        #expect(RFC3339.micros(text) == micros)
    }

    @Test(arguments: [
        "", "yesterday", "2025-10-09", "2025-10-09T08:53:20", "2025-13-01T00:00:00Z", "2025-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z", "2025-10-09T24:00:00Z", "2025-10-09T08:60:00Z", "2025-10-09T08:53:20.Z",
        "2025-10-09T08:53:20+0200", "2025-10-09T08:53:20Z ", "２０２５-10-09T08:53:20Z",
        "2025-10-09T08:53:20Z' OR 1=1--",
    ])
    func rejects(text: String) {
        #expect(RFC3339.micros(text) == nil)
    }

    @Test func leapSecondsAndLongTextsAreRefusedWithAReason() {
        #expect(RFC3339.parse("2016-12-31T23:59:60Z") == .failure(RFC3339.Problem(reason: "leap second 60 is not supported")))
        #expect(RFC3339.micros(String(repeating: "9", count: 10_000)) == nil)
        #expect(RFC3339.parse("2025-10-09T08:53:20.25Z").map(\.secondsValue) == .success(1_760_000_000.25))
    }

    @Test func formatsAndRoundTrips() {
        #expect(RFC3339.format(micros: 0) == "1970-01-01T00:00:00.000000Z")
        #expect(RFC3339.format(micros: -1) == "1969-12-31T23:59:59.999999Z")
        #expect(RFC3339.format(micros: 1_760_000_000_123_456) == "2025-10-09T08:53:20.123456Z")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<1_000 {
            let micros = Int64.random(in: -2_000_000_000_000_000...8_000_000_000_000_000, using: &generator)
            #expect(RFC3339.micros(RFC3339.format(micros: micros)) == micros)
        }
    }

    @Test("fewer fraction digits cut the time (never round it later), before and after the epoch")
    func formatsWithFewerFractionDigits() {
        let micros: Int64 = 1_760_000_000_999_999
        #expect(RFC3339.format(micros: micros, fractionDigits: 0) == "2025-10-09T08:53:20Z")
        #expect(RFC3339.format(micros: micros, fractionDigits: 3) == "2025-10-09T08:53:20.999Z")
        #expect(RFC3339.format(micros: 1_760_000_000_005_000, fractionDigits: 3) == "2025-10-09T08:53:20.005Z")
        #expect(RFC3339.format(micros: -1, fractionDigits: 0) == "1969-12-31T23:59:59Z")
        #expect(RFC3339.format(micros: -1, fractionDigits: 3) == "1969-12-31T23:59:59.999Z")
        #expect(RFC3339.micros(RFC3339.format(micros: micros, fractionDigits: 0)) == 1_760_000_000_000_000)
    }
}
