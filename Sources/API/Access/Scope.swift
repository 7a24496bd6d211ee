import Access
import Alarms
import Hummingbird
import Registry

/// A request context that knows the authenticated client (set by `AccessMiddleware`).
public protocol ClientRequestContext: RequestContext {
    var client: ClientIdentity? { get }
    var audit: AuditNote? { get }
}

extension AppRequestContext: ClientRequestContext {}

/// What the calling client may see: the tenants whose devices it reads and the highest confidentiality class.
/// Every route that returns device data asks its scope; a device or alarm outside it does not exist for the
/// client (404, as for an unknown id: no existence leak), and values above its clearance are never read from the
/// database. Without access control (in-process tests of routes and bodies only) the scope is everything.
struct Scope: Sendable {
    let client: ClientIdentity?

    var clearance: Int { client?.clearance ?? 3 }

    /// nil: every tenant.
    var tenants: [String]? { client?.tenants.map { $0.sorted() } }

    func sees(tenant: String?) -> Bool { client?.sees(tenant: tenant) ?? true }

    func sees(confidentiality: Int) -> Bool { confidentiality <= clearance }

    /// An alarm is visible when its tenant is the client's and its class within the clearance.
    func sees(_ alarm: Alarm) -> Bool { sees(tenant: alarm.tenant) && sees(confidentiality: alarm.confidentiality) }

    /// The one check of device-scoped routes: 404 for a device of another tenant, worded like an unknown id.
    /// Returns the device when it had to be read.
    @discardableResult
    func requireDevice(_ id: String, in devices: any DeviceRepository) async throws -> Device? {
        guard client?.tenants != nil else { return nil }
        guard let device = try await devices.device(id), sees(tenant: device.tenant) else {
            throw Problem.notFound("no device \(id) is registered")
        }
        return device
    }
}

extension ClientRequestContext {
    var scope: Scope { Scope(client: client) }
}
