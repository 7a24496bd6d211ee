import Models
import Testing

/// One rule for every pseudonymous reference: id-like, short, never a personal identity number.
@Suite struct PseudonymousReferenceTests {
    @Test("references pass; names, oversize and personal identity numbers in any separator do not", arguments: [
        ("staff-7", true), ("v:2027-01-12:08", true), ("cr.demo_001", true),
        ("", false), ("anna andersson", false), (String(repeating: "a", count: 65), false), ("ö", false),
        ("19121212-1212", false), ("121212_1212", false), ("121212.1212", false), ("191212121212", false),
    ])
    func rule(value: String, valid: Bool) {
        #expect((PseudonymousReference.problem(value) == nil) == valid, "\(value)")
    }
}
