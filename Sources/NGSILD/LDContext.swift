import Foundation

/// JSON-LD term definitions as NGSI-LD uses them (ETSI GS CIM 009 §5.5.7): a short name (a term) stands for an
/// IRI; a name the context does not define stands for the default vocabulary's IRI of that name. Entity types and
/// attribute names are stored as IRIs and compacted again with the context of the request that reads them.
public struct LDContext: Sendable, Equatable {
    /// What a request without a context of its own gets: the ETSI core context (NGSI-LD §5.5.7).
    public static let etsiCoreURL = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
    public static let defaultVocabulary = "https://uri.etsi.org/ngsi-ld/default-context/"
    static let ngsiLD = "https://uri.etsi.org/ngsi-ld/"

    /// term → IRI (or a JSON-LD keyword such as `@id`).
    public private(set) var terms: [String: String]
    public private(set) var vocabulary: String
    private var reverse: [String: String]

    public init(terms: [String: String], vocabulary: String = LDContext.defaultVocabulary) {
        self.terms = terms
        self.vocabulary = vocabulary
        reverse = [:]
        for (term, iri) in terms.sorted(by: { $0.key < $1.key }) where !iri.hasPrefix("@") && reverse[iri] == nil {
            reverse[iri] = term
        }
    }

    /// This context with `other`'s terms on top (JSON-LD: a later context's definition wins).
    public func merged(with other: LDContext) -> LDContext {
        LDContext(terms: terms.merging(other.terms) { _, new in new }, vocabulary: other.vocabulary)
    }

    /// Whether a term stands for a JSON-LD keyword (`id` and `type` in the core context).
    public func isKeyword(_ term: String) -> Bool { terms[term]?.hasPrefix("@") == true }

    /// The IRI of a name: a term's IRI, a compact IRI (`prefix:suffix` with a defined prefix) expanded, an absolute
    /// IRI as it is, anything else in the default vocabulary.
    public func expand(_ name: String) -> String {
        if let iri = terms[name], !iri.hasPrefix("@") { return iri }
        if let colon = name.firstIndex(of: ":") {
            let prefix = String(name[..<colon])
            let suffix = name[name.index(after: colon)...]
            if !suffix.hasPrefix("//"), let base = terms[prefix], !base.hasPrefix("@") { return base + suffix }
            if Self.isAbsoluteIRI(name) { return name }
        }
        return vocabulary + name
    }

    /// The shortest name of an IRI under this context: its term, or the name within the default vocabulary, else
    /// the IRI itself.
    public func compact(_ iri: String) -> String {
        if let term = reverse[iri] { return term }
        if iri.hasPrefix(vocabulary), !iri.dropFirst(vocabulary.count).isEmpty {
            let name = String(iri.dropFirst(vocabulary.count))
            if terms[name] == nil { return name }
        }
        return iri
    }

    /// `scheme:rest` with a scheme of letters, digits, `+`, `-`, `.` starting with a letter (RFC 3987).
    public static func isAbsoluteIRI(_ text: String) -> Bool {
        guard let colon = text.firstIndex(of: ":"), colon != text.startIndex else { return false }
        let scheme = text[..<colon]
        guard let first = scheme.first, first.isASCII, first.isLetter else { return false }
        guard scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }) else { return false }
        let rest = text[text.index(after: colon)...]
        return !rest.isEmpty && !rest.contains(where: { $0 == " " || $0 == "<" || $0 == ">" || $0 == "\"" || $0.isNewline })
    }

    // MARK: - The core context

    /// The NGSI-LD core terms this gateway speaks: entities, properties, geometry, temporal values, subscriptions,
    /// notifications and the type and attribute lists. Served at `/ngsi-ld/v1/jsonldContexts/ngsi-ld-core-context-v1.8.jsonld`
    /// so that no client or test depends on the internet.
    public static let core: LDContext = {
        var terms: [String: String] = ["id": "@id", "type": "@type", "ngsi-ld": ngsiLD, "geojson": "https://purl.org/geojson/vocab#"]
        let core = ["Property", "Relationship", "GeoProperty", "LanguageProperty", "ListProperty", "observedAt", "createdAt",
                    "modifiedAt", "deletedAt", "datasetId", "unitCode", "location", "observationSpace", "operationSpace",
                    "instanceId", "object", "Subscription", "entities", "idPattern", "watchedAttributes", "notification",
                    "endpoint", "uri", "accept", "receiverInfo", "notifierInfo", "attributes", "format", "status",
                    "throttling", "timeInterval", "expiresAt", "q", "geoQ", "georel", "geometry", "coordinates", "description",
                    "subscriptionName", "isActive", "lastNotification", "lastSuccess", "lastFailure", "timesSent",
                    "timesFailed", "Notification", "notifiedAt", "subscriptionId", "data", "EntityTypeList", "typeList",
                    "EntityType", "typeName", "EntityTypeInfo", "entityCount", "attributeDetails", "AttributeList",
                    "attributeList", "Attribute", "attributeName", "attributeCount", "attributeTypes", "typeNames",
                    "showChanges", "sysAttrs", "lang", "title", "detail", "instance", "values", "objects", "avg", "min",
                    "max", "sum", "totalCount", "distinctCount", "stddev", "sumsq"]
        for term in core { terms[term] = ngsiLD + term }
        terms["value"] = ngsiLD + "hasValue"
        terms["object"] = ngsiLD + "hasObject"
        for geometry in ["Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon", "Feature", "FeatureCollection"] {
            terms[geometry] = "https://purl.org/geojson/vocab#" + geometry
        }
        return LDContext(terms: terms)
    }()

    /// The JSON-LD document of a context (`{"@context": {...}}`, terms sorted), optionally importing other contexts
    /// first (`{"@context": ["url", {...}]}`).
    public func document(importing imports: [String] = []) -> String {
        var lines = ["    \"@vocab\": \(Self.quoted(vocabulary))"]
        for (term, iri) in terms.sorted(by: { $0.key < $1.key }) {
            lines.append("    \(Self.quoted(term)): \(Self.quoted(iri))")
        }
        let object = "{\n" + lines.joined(separator: ",\n") + "\n  }"
        if imports.isEmpty { return "{\n  \"@context\": \(object)\n}\n" }
        let list = imports.map { "    " + Self.quoted($0) }.joined(separator: ",\n")
        return "{\n  \"@context\": [\n\(list),\n    \(object.replacingOccurrences(of: "\n", with: "\n  "))\n  ]\n}\n"
    }

    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
