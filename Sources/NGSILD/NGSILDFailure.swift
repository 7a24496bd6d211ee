/// An NGSI-LD error (GS CIM 009 §5.5.2, table 5.5.2-1): the problem type names what kind of error it is, so a
/// client can act on it without reading the text; the detail names the parameter or attribute at fault.
public struct NGSILDFailure: Error, Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case invalidRequest = "InvalidRequest"
        case badRequestData = "BadRequestData"
        case alreadyExists = "AlreadyExists"
        case operationNotSupported = "OperationNotSupported"
        case resourceNotFound = "ResourceNotFound"
        case nonexistentTenant = "NonexistentTenant"
        case tooManyResults = "TooManyResults"
        case internalError = "InternalError"

        /// The HTTP status the binding gives each kind (GS CIM 009 §6.3.2).
        public var status: Int {
            switch self {
            case .invalidRequest, .badRequestData: 400
            case .alreadyExists: 409
            case .operationNotSupported: 422
            case .resourceNotFound, .nonexistentTenant: 404
            case .tooManyResults: 403
            case .internalError: 500
            }
        }

        public var typeURI: String { "https://uri.etsi.org/ngsi-ld/errors/\(rawValue)" }
    }

    public var kind: Kind
    public var detail: String

    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public static func badRequest(_ detail: String) -> NGSILDFailure { NGSILDFailure(.badRequestData, detail) }
    public static func invalid(_ detail: String) -> NGSILDFailure { NGSILDFailure(.invalidRequest, detail) }
    public static func notFound(_ detail: String) -> NGSILDFailure { NGSILDFailure(.resourceNotFound, detail) }
}
