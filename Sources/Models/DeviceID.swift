/// The one rule for device ids, wherever an id enters (registration, import, the topic of a message, a URL):
/// 1 to 128 bytes of `A–Z a–z 0–9 - _ . :`. Ids become MQTT topic levels (`devices/<id>/...`), broker user
/// names and client ids, so `/`, `+`, `#` and anything beyond ASCII stay out. (Which ids are reserved for the
/// broker's own accounts is the registry's rule on top of this one.)
public enum DeviceID {
    public static let maxLength = 128
    /// The allowed characters, for messages.
    public static let allowedCharacters = "A-Z, a-z, 0-9, '-', '_', '.', ':'"

    public static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x5F, 0x2E, 0x3A: true
        default: false
        }
    }

    public static func isValid(_ id: some StringProtocol) -> Bool {
        !id.isEmpty && id.utf8.count <= maxLength && id.utf8.allSatisfy(isAllowed)
    }

    /// The first character that is not allowed, if any.
    public static func firstDisallowed(in id: String) -> Unicode.Scalar? {
        id.unicodeScalars.first { !($0.isASCII && isAllowed(UInt8($0.value))) }
    }
}
