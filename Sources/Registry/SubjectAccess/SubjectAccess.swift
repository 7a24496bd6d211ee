import Models

/// A device's time with a care recipient: its data from `linkedAtMicros` until `unlinkedAtMicros` (nil: still
/// linked) is theirs; what it produced before or after is not.
public struct CareRecipientLink: Sendable, Equatable {
    public var deviceId: String
    public var deviceType: String
    /// The device's tenant now (a scoped client sees the links of its tenants' devices only).
    public var tenant: String
    public var careRecipientRef: String
    public var linkedAtMicros: Int64
    public var unlinkedAtMicros: Int64?

    public init(deviceId: String, deviceType: String, tenant: String, careRecipientRef: String, linkedAtMicros: Int64,
                unlinkedAtMicros: Int64?) {
        self.deviceId = deviceId
        self.deviceType = deviceType
        self.tenant = tenant
        self.careRecipientRef = careRecipientRef
        self.linkedAtMicros = linkedAtMicros
        self.unlinkedAtMicros = unlinkedAtMicros
    }
}

/// The parts of a subject access export, in the order they are written.
public enum SubjectSection: String, Sendable, CaseIterable {
    case observations
    case events
    case alarms
    case lockGrants
    case lockCommands
    /// Who read their data: audit entries naming the care recipient, or one of their devices while it was theirs.
    case auditEntries
}

/// One page of a section: each item a JSON object as text (built by the store, written as it is), and where the
/// next page starts (nil: the section is complete).
public struct SubjectPage: Sendable, Equatable {
    public var items: [String]
    public var next: String?

    public init(items: [String], next: String?) {
        self.items = items
        self.next = next
    }
}

/// Everything the gateway holds about a care recipient (GDPR art. 15), read a page at a time so that an export of
/// years of positions streams in bounded memory.
public protocol SubjectAccessRepository: Sendable {
    /// The devices linked to the care recipient now and before, oldest link first.
    func links(careRecipientRef: String) async throws -> [CareRecipientLink]
    /// A page of `section` within the links' windows, after `cursor` (nil: from the start). Audit entries that name
    /// `careRecipientRef` count too (nil: only entries about the links' devices, for a client scoped to tenants).
    func page(_ section: SubjectSection, careRecipientRef: String?, links: [CareRecipientLink], after cursor: String?,
              limit: Int) async throws -> SubjectPage
}
