import Models
import Telemetry

/// The city's NGSI-LD vocabulary, worked out from the catalogue: which IRI each catalogue quantity and entity type
/// has, and the city context that gives them short names. Quantities of a Smart Data Model carry its IRI
/// (`https://smartdatamodels.org/<name>`), the others the city's own namespace, so a client that expands names with
/// either context reaches the same attribute.
public struct OpenVocabulary: Sendable {
    public static let smartDataModels = "https://smartdatamodels.org/"
    /// The city's own terms (quantities no Smart Data Model defines).
    public static let cityNamespace = "urn:cip:vocab:"
    /// The entity type of registered devices.
    public static let deviceType = OpenEntity.deviceType
    /// Entity types of other city systems' data with a Smart Data Model, by short name.
    public static let knownTypes: [String: String] = [
        "Device": deviceType,
        "IndoorEnvironmentObserved": "https://smartdatamodels.org/dataModel.Environment/IndoorEnvironmentObserved",
        "AirQualityObserved": "https://smartdatamodels.org/dataModel.Environment/AirQualityObserved",
        "WeatherObserved": "https://smartdatamodels.org/dataModel.Weather/WeatherObserved",
        "Building": "https://smartdatamodels.org/dataModel.Building/Building",
    ]
    /// The GeoProperty every entity may have (the core's `location`): for this tier, where premises are.
    public static let location = "https://uri.etsi.org/ngsi-ld/location"

    /// The city's terms on their own (served as the city context, which imports the core context).
    public let cityTerms: LDContext
    /// Core and city terms: the context in force for a request that names none, and the one responses link to.
    public let context: LDContext
    private let byIRI: [String: Quantity]
    private let iriByID: [String: String]

    public init(catalogue: Catalogue) {
        var terms = Self.knownTypes
        var byIRI: [String: Quantity] = [:]
        var iriByID: [String: String] = [:]
        for quantity in catalogue.quantities {
            guard let name = quantity.ngsiLd?.property else { continue }
            let iri: String
            if name == "location" {
                iri = Self.location  // position: the core's location, never open
            } else {
                iri = (quantity.ngsiLd?.smartDataModel == nil ? Self.cityNamespace : Self.smartDataModels) + name
                terms[name] = iri
            }
            if byIRI[iri] == nil { byIRI[iri] = quantity }
            iriByID[quantity.id] = iri
        }
        cityTerms = LDContext(terms: terms)
        context = LDContext.core.merged(with: cityTerms)
        self.byIRI = byIRI
        self.iriByID = iriByID
    }

    /// The catalogue quantity an attribute IRI names, whatever its class (the caller decides what may pass).
    public func quantity(iri: String) -> Quantity? { iri == Self.location ? nil : byIRI[iri] }

    /// The IRI of a catalogue quantity.
    public func iri(quantityID: String) -> String? { iriByID[quantityID] }

    /// The open (class 1) quantity an attribute IRI names: the only ones this tier reads, writes or notifies.
    public func openQuantity(iri: String) -> Quantity? {
        quantity(iri: iri).flatMap(Self.isOpen)
    }

    /// Open (class 1) quantities by IRI.
    public var openQuantities: [(iri: String, quantity: Quantity)] {
        byIRI.filter { Self.isOpen($0.value) != nil }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    private static func isOpen(_ quantity: Quantity) -> Quantity? {
        quantity.classification.confidentiality.rawValue == 1 ? quantity : nil
    }

    /// UN/CEFACT common codes of the catalogue's units (NGSI-LD `unitCode`).
    public static let unitCodes: [String: String] = ["Cel": "CEL", "%RH": "P1", "%": "P1", "V": "VLT", "m": "MTR", "m/s": "MTS", "dBm": "2Q", "1": "C62"]
}
