/// A human-readable text in Swedish and English. Every description in the catalogue has both.
public struct LocalizedText: Sendable, Codable, Equatable, Hashable {
    /// Swedish.
    public var sv: String
    /// English.
    public var en: String

    public init(sv: String, en: String) {
        self.sv = sv
        self.en = en
    }
}
