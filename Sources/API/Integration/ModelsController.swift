import Hummingbird
import Models

/// Integration tier: the city's master/metadata catalogue, as the gateway loaded it from `DataModels/`.
struct ModelsController<Context: RequestContext> {
    let catalogue: Catalogue
    let retention: RetentionSettings?
    /// The whole catalogue, encoded once (it is the same until the gateway restarts); nil if it cannot be
    /// encoded (a value JSON cannot carry), which the route answers as an internal error.
    let document: StaticDocument?
    /// Each device type and quantity, encoded once too.
    let deviceTypeDocuments: [String: StaticDocument]
    let quantityDocuments: [String: StaticDocument]

    init(catalogue: Catalogue, retention: RetentionSettings?) {
        self.catalogue = catalogue
        self.retention = retention
        document = try? StaticDocument(encoding: CatalogueBody(
            version: Catalogue.supportedVersion, quantities: catalogue.quantities, events: catalogue.events,
            outcomes: catalogue.outcomes, deviceTypes: catalogue.deviceTypes, retention: retention))
        deviceTypeDocuments = Dictionary(uniqueKeysWithValues: catalogue.deviceTypes.compactMap { type in
            (try? StaticDocument(encoding: DeviceTypeBody(deviceType: type, quantities: catalogue.quantities(of: type),
                                                          events: catalogue.events(of: type)))).map { (type.id, $0) }
        })
        quantityDocuments = Dictionary(uniqueKeysWithValues: catalogue.quantities.compactMap { quantity in
            (try? StaticDocument(encoding: quantity)).map { (quantity.id, $0) }
        })
    }

    var routes: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.get("models", use: all)
        routes.get("models/device-types/:typeId", use: deviceType)
        routes.get("models/quantities/:quantityId", use: quantity)
        return routes
    }

    struct CatalogueBody: Encodable {
        var version: Int
        var quantities: [Quantity]
        var events: [EventCode]
        var outcomes: [Outcome]
        var deviceTypes: [DeviceType]
        /// Enforced retention: each quantity's and event's `classification.retentionDays`, and these for the rest.
        var retention: RetentionSettings?
    }

    /// A device type with the quantities and events it produces written out.
    struct DeviceTypeBody: Encodable {
        var deviceType: DeviceType
        var quantities: [Quantity]
        var events: [EventCode]
    }

    /// `GET /integration/v1/models`: the whole catalogue.
    @Sendable func all(_ request: Request, context: Context) async throws -> Response {
        try Self.serve(document, request)
    }

    private static func serve(_ document: StaticDocument?, _ request: Request) throws -> Response {
        guard let document else {
            throw Problem(status: .internalServerError, type: "urn:cip:problem:internal", title: "Internal error",
                          detail: "the catalogue cannot be encoded as JSON")
        }
        return document.response(to: request)
    }

    /// `GET /integration/v1/models/device-types/{id}`
    @Sendable func deviceType(_ request: Request, context: Context) async throws -> Response {
        let id = try catalogueID(context, "typeId")
        guard catalogue.deviceType(id) != nil else {
            throw Problem.notFound("the catalogue has no device type \(id); GET /integration/v1/models lists them")
        }
        return try Self.serve(deviceTypeDocuments[id], request)
    }

    /// `GET /integration/v1/models/quantities/{id}`
    @Sendable func quantity(_ request: Request, context: Context) async throws -> Response {
        let id = try catalogueID(context, "quantityId")
        guard catalogue.quantity(id) != nil else {
            throw Problem.notFound("the catalogue has no quantity \(id); GET /integration/v1/models lists them")
        }
        return try Self.serve(quantityDocuments[id], request)
    }

    private func catalogueID(_ context: Context, _ name: String) throws -> String {
        let id = context.parameters.get(name) ?? ""
        guard !id.isEmpty, id.utf8.count <= 64,
              id.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2D })
        else {
            throw Problem.badParameter(name, "\(name) must be 1 to 64 characters of a-z 0-9 _ -")
        }
        return id
    }
}


