// The catalogue normalizer: one payload from one device → catalogue values, events and rejections.
//
// Rules (see README.md in this directory; each format's rules at the top of its adapter):
// - The adapter is chosen from the device's type and the message format (and, for vendor JSON, the
//   device model = mapping id); it is never guessed from the payload.
// - Whole-message rejection (a thrown `Rejection`, path "" or the failing part): unknown device type,
//   a format the type does not list in `payloadFormats`, and what the format's adapter cannot use as a whole
//   (vendor JSON without a model, without a mapping for the model or with a mapping for another device type;
//   a payload it cannot parse, with the adapter's own error text).
// - Everything else is judged per part by the adapter, with `CatalogueChecks`: a bad part becomes a `Rejection`
//   in the result and the other parts still count.
// - Every value and event carries the classification of its catalogue entry.
// - `init` throws when a mapping names an unknown device type, a quantity or event that is unknown or
//   not produced by its device type, or a unit that cannot be converted to the canonical unit.
// - Never traps on any input.

import Models

/// Turns payloads of every supported format into catalogue values and events.
public struct CatalogueNormalizer: Sendable {
    public let catalogue: Catalogue
    private let checks: CatalogueChecks
    private let deviceTypes: [String: DeviceTypeInfo]
    private let senML = SenMLAdapter()
    private let vendorJSON: VendorJSONAdapter
    private let scaip = SCAIPAdapter()

    /// Whether a vendor mapping with this id (a device model) exists.
    public func hasMapping(_ model: String) -> Bool { vendorJSON.hasMapping(model) }

    public init(catalogue: Catalogue, mappings: [VendorMapping]) throws {
        self.catalogue = catalogue
        checks = CatalogueChecks(catalogue: catalogue)
        var deviceTypes: [String: DeviceTypeInfo] = [:]
        for type in catalogue.deviceTypes where deviceTypes[type.id] == nil {
            deviceTypes[type.id] = DeviceTypeInfo(type)
        }
        self.deviceTypes = deviceTypes
        vendorJSON = try VendorJSONAdapter(mappings: mappings, checks: checks, deviceTypes: deviceTypes)
    }

    /// The adapter of a format. A new format is a new `PayloadFormat` case, an adapter in a folder of its own and
    /// its line here.
    func adapter(for format: PayloadFormat) -> any PayloadAdapter {
        switch format {
        case .senml: senML
        case .vendorJSON: vendorJSON
        case .scaipXML: scaip
        }
    }

    /// Normalizes one payload of a device of type `deviceType` (and, for vendor JSON, model `model`,
    /// the mapping id). Throws when the message as a whole cannot be used.
    /// - Parameter preferEvents: the message came on the events channel: a SenML name that is both a quantity
    ///   and an event of the type is the event.
    /// - Parameter deviceID: the sending device's id; a SenML base name that is this id is its identity.
    public func normalize(
        deviceType: String, model: String?, format: PayloadFormat, payload: [UInt8], receivedAt: Double,
        preferEvents: Bool = false, deviceID: String? = nil
    ) throws(Rejection) -> NormalizedPayload {
        guard let info = deviceTypes[deviceType] else {
            throw Rejection(path: "", reason: "unknown device type \"\(deviceType)\"")
        }
        guard info.type.accepts(format) else {
            let accepted = info.type.payloadFormats.map(\.rawValue).joined(separator: ", ")
            throw Rejection(
                path: "",
                reason: "device type \"\(deviceType)\" does not send payload format \"\(format.rawValue)\" (its formats: \(accepted))")
        }
        let context = AdapterContext(
            deviceType: info, model: model, receivedAt: receivedAt, preferEvents: preferEvents, deviceID: deviceID,
            checks: checks)
        return try adapter(for: format).normalize(payload, context: context)
    }
}
