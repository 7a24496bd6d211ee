import Access
import Alarms
import Hummingbird
import Registry

/// A request context that knows the authenticated client (set by `AccessMiddleware`).
public protocol ClientRequestContext: RequestContext {
    var client: ClientIdentity? { get }
    var audit: AuditNote? { get }
    /// For responses that outlive their handler (the alarm stream); set with `client`.
    var streamAccess: StreamAccess? { get }
}

/// What a long-lived response needs from access control after its handler returned: the request's audit line
/// is written when the handler returns, before a stream's body runs, and the token was checked only once.
public struct StreamAccess: Sendable {
    /// False once the token no longer stands for the same client with the same rights (revoked, rotated, or
    /// its roles, tenants or clearance changed). A lookup that fails (database away) is not a revocation.
    public var isStillAuthorized: @Sendable () async -> Bool
    /// Stores an audit line for data of `dataClass` about `subjects` about to be sent on the open response, and
    /// says whether it is stored (only then may the data go); lines of class 1 are skipped like for every other read.
    public var audit: @Sendable (_ records: Int, _ dataClass: Int, _ subjects: [String]) async -> Bool

    public init(isStillAuthorized: @escaping @Sendable () async -> Bool,
                audit: @escaping @Sendable (_ records: Int, _ dataClass: Int, _ subjects: [String]) async -> Bool) {
        self.isStillAuthorized = isStillAuthorized
        self.audit = audit
    }
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
