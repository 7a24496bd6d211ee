import Testing

@testable import Models

@Suite struct DeviceIDTests {
    @Test(arguments: ["lock-042", "urn:dev:ow:10e2073a01080063", "A.b_c", String(repeating: "x", count: 128)])
    func valid(id: String) {
        #expect(DeviceID.isValid(id))
        #expect(DeviceID.firstDisallowed(in: id) == nil)
    }

    @Test(arguments: ["", String(repeating: "x", count: 129), "a/b", "a+b", "a#b", "a b", "å", "a\u{0}b", "ｌｏｃｋ"])
    func invalid(id: String) {
        #expect(!DeviceID.isValid(id))
    }

    @Test func theFirstDisallowedCharacterIsNamed() {
        #expect(DeviceID.firstDisallowed(in: "lock/42") == "/")
        #expect(DeviceID.firstDisallowed(in: "lock-ö") == "ö")
    }
}
