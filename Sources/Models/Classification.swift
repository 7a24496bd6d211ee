/// Information-security classification of confidentiality, an ordered scale.
///
/// Only `.open` data may ever leave the city through the outward CIP tier; access to
/// `.internal` and `.sensitive` data is logged.
public enum Confidentiality: Int, Sendable, Codable, Equatable, Hashable, CaseIterable, Comparable {
    /// 1: open data, may be shared outside the city.
    case open = 1
    /// 2: internal to the city; not personal, but not published either.
    case `internal` = 2
    /// 3: sensitive: personal, health or secrecy-protected information.
    case sensitive = 3

    public static func < (lhs: Confidentiality, rhs: Confidentiality) -> Bool {
        lhs.rawValue < rhs.rawValue
    }
}

/// How an attribute (a quantity or an event) is classified and how long it is kept.
public struct Classification: Sendable, Codable, Equatable, Hashable {
    public var confidentiality: Confidentiality
    /// Whether the value is personal data (GDPR), even if only pseudonymously linked to a person.
    public var personalData: Bool
    /// How many days stored values are kept before they are purged. Always > 0.
    public var retentionDays: Int

    public init(confidentiality: Confidentiality, personalData: Bool, retentionDays: Int) {
        self.confidentiality = confidentiality
        self.personalData = personalData
        self.retentionDays = retentionDays
    }
}
