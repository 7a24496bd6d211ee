// The contract between `CatalogueNormalizer` and the adapter of one payload format (see README.md here).

import Models

/// Turns payloads of one format into catalogue values, events and rejections. One adapter per format, each in the
/// folder of its format (`SenML/`, `VendorJSON/`, `SCAIP/`); `CatalogueNormalizer.adapter(for:)` chooses it.
///
/// The normalizer has already checked that the device type exists and accepts the format. The adapter parses the
/// payload (a payload it cannot parse, or that it cannot use as a whole, is a thrown `Rejection`), judges each part
/// with `context.checks` (a bad part is a `Rejection` in the result) and folds positions when its format may send
/// them in parts. Adapters are pure and cheap to copy: what they prepare from the configuration is built once.
protocol PayloadAdapter: Sendable {
    /// The format this adapter reads.
    static var format: PayloadFormat { get }

    func normalize(_ payload: [UInt8], context: AdapterContext) throws(Rejection) -> NormalizedPayload
}

/// What an adapter knows about the payload besides its bytes.
struct AdapterContext {
    /// The sending device's type, with the quantities and events it produces.
    var deviceType: DeviceTypeInfo
    /// The device model (for vendor JSON, the mapping id), when known.
    var model: String?
    /// Seconds since the Unix epoch.
    var receivedAt: Double
    /// The message came on the events channel: a name that is both a quantity and an event of the type is the event.
    var preferEvents: Bool
    /// The sending device's id, when known.
    var deviceID: String?
    /// The catalogue and the checks every value and event goes through.
    var checks: CatalogueChecks
}

/// A catalogue device type with set lookups; built once per type in `CatalogueNormalizer.init`. A class, so handing
/// it to an adapter per payload costs one reference.
final class DeviceTypeInfo: Sendable {
    let type: DeviceType
    let quantities: Set<String>
    let events: Set<String>

    init(_ type: DeviceType) {
        self.type = type
        self.quantities = Set(type.quantities)
        self.events = Set(type.events)
    }

    var id: String { type.id }
}
