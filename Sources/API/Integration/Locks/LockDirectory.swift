import Registry

/// The one way the integration routes find care recipients' locks in the registry: devices of a lock type (the
/// catalogue's types that report `lock_state`), in the given tenants. Visit plans and alarm visits both use it.
struct LockDirectory: Sendable {
    let devices: any DeviceRepository
    /// Device types that are locks.
    let lockTypes: Set<String>

    /// The locks of `tenants` (nil: every tenant), of one care recipient when `careRecipientRef` is set, in device
    /// id order, every lifecycle state (callers choose: plans skip decommissioned ones, alarm visits take active ones).
    func locks(tenants: [String]?, careRecipientRef: String? = nil) async throws -> [Device] {
        var found: [Device] = []
        for type in lockTypes.sorted() {
            var after: String?
            while true {
                var query = DeviceQuery(type: type, afterDeviceId: after, limit: 1_000)
                query.tenants = tenants
                query.careRecipientRef = careRecipientRef
                let page = try await devices.list(query)
                found += page
                guard page.count == 1_000, let last = page.last else { break }
                after = last.deviceId
            }
        }
        return found
    }
}
