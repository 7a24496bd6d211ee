import Locks
import Models
import Registry

/// The rules every lock route shares: the lock of the path is registered in one of the client's tenants (404
/// otherwise, worded like an unknown id), is a lock, is not decommissioned; and the client is cleared for class 3
/// (what a lock route returns tells when care staff come to a person's home).
struct LockLookup {
    let devices: any DeviceRepository
    /// Device types that are locks (the catalogue's types that report a lock state).
    let lockTypes: Set<String>

    static var dataClass: Int { 3 }

    /// `what` names the data in the 403 ("lock access grants", "lock commands"). A decommissioned lock is a 409,
    /// unless `decommissioned` allows it (its history stays readable: the access log).
    func require(_ context: some ClientRequestContext, what: String, decommissioned: Bool = false) async throws -> Device {
        let id = try knownDeviceID(context)
        guard context.scope.clearance >= Self.dataClass else {
            throw Problem.forbidden("\(what) are class \(Self.dataClass); this client is cleared for class \(context.scope.clearance)")
        }
        guard let device = try await devices.device(id), context.scope.sees(tenant: device.tenant) else {
            throw Problem.notFound("no device \(id) is registered")
        }
        guard lockTypes.contains(device.type) else {
            throw Problem.conflict("device \(id) is a \(device.type), not a lock")
        }
        guard decommissioned || device.lifecycleState != .decommissioned else {
            throw Problem.conflict("lock \(id) is decommissioned")
        }
        return device
    }
}
