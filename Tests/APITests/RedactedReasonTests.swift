import Testing

@testable import API

/// Dead-letter reasons shown below clearance 3 keep their wording and lose every value they quote.
@Suite struct RedactedReasonTests {
    @Test(arguments: [
        (#"records[0]: location_text "Kitchen" is longer than 64 characters"#, "Kitchen"),
        (#"lge: latitude 95.3 is outside -90...90"#, "95.3"),
        (#"lge: latitude -95.25 is outside -90...90"#, "95.25"),
        (#"records[1]: time 1e13 plus base time 0 is not a finite number"#, "1e13"),
        (#"expected "latitude,longitude" in decimal degrees, got "59.3;18.0""#, "59.3"),
        (#"unknown message type "Bed\"room"#, "room"),
        (#""urn:dev:ow:195bc4:temperature" is neither a quantity nor an event of the catalogue"#, "195bc4"),
        (#"value .5 is not allowed"#, ".5"),
    ])
    func valuesAreGone(reason: String, secret: String) {
        let shown = RedactedReason.of(reason)
        #expect(!shown.contains(secret), "\(shown)")
        #expect(shown != reason)
    }

    @Test func wordingAndRecordIndexesStay() {
        #expect(RedactedReason.of(#"records[12]: location_text "Kitchen" is not allowed"#)
                == #"records[12]: location_text "…" is not allowed"#)
        #expect(RedactedReason.of("payload is not valid UTF-8") == "payload is not valid UTF-8")
        #expect(RedactedReason.of("lge: latitude 95 is outside the range") == "lge: latitude … is outside the range")
    }
}
