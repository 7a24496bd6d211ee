import Synchronization

/// Subject access for router tests: links and, per section, JSON items as given; paged by position.
public final class InMemorySubjectAccessRepository: SubjectAccessRepository {
    private let state = Mutex<(links: [CareRecipientLink], items: [SubjectSection: [(deviceId: String?, json: String)]])>(([], [:]))

    public init() {}

    public func link(_ link: CareRecipientLink) {
        state.withLock { $0.links.append(link) }
    }

    /// An item of `section` belonging to `deviceId` (nil: to the care recipient by name, like an audit entry).
    public func add(_ section: SubjectSection, deviceId: String?, json: String) {
        state.withLock { $0.items[section, default: []].append((deviceId, json)) }
    }

    public func links(careRecipientRef: String) async throws -> [CareRecipientLink] {
        state.withLock { $0.links.filter { $0.careRecipientRef == careRecipientRef } }
    }

    public func page(_ section: SubjectSection, careRecipientRef: String?, links: [CareRecipientLink], after cursor: String?,
                     limit: Int) async throws -> SubjectPage {
        let devices = Set(links.map(\.deviceId))
        let all = state.withLock { $0.items[section] ?? [] }.filter { item in
            item.deviceId.map(devices.contains) ?? (careRecipientRef != nil)
        }
        let start = cursor.flatMap(Int.init) ?? 0
        let items = Array(all.dropFirst(start).prefix(limit)).map(\.json)
        return SubjectPage(items: items, next: start + items.count < all.count ? String(start + items.count) : nil)
    }
}
