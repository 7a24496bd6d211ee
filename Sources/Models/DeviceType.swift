/// A kind of device (`digital-lock`, `gps-alarm`, `safety-alarm`, `sensor`), one file each in
/// `DataModels/device-types/<id>.json`.
public struct DeviceType: Sendable, Codable, Equatable, Hashable, Identifiable {
    public var id: String
    public var description: LocalizedText
    /// The payload formats devices of this type may publish, at least one.
    public var payloadFormats: [PayloadFormat]
    /// How often a device of this type sends a heartbeat; the platform supervises it.
    public var heartbeatIntervalSeconds: Int
    /// Ids of every quantity a device of this type may produce.
    public var quantities: [String]
    /// Ids of every event a device of this type may produce.
    public var events: [String]
    /// Other names devices of this type use for a quantity or event in SenML (`temp` → `temperature`), applied
    /// after the device's identity is taken off the name.
    public var nameAliases: [String: String]

    public init(
        id: String,
        description: LocalizedText,
        payloadFormats: [PayloadFormat],
        heartbeatIntervalSeconds: Int,
        quantities: [String],
        events: [String],
        nameAliases: [String: String] = [:]
    ) {
        self.id = id
        self.description = description
        self.payloadFormats = payloadFormats
        self.heartbeatIntervalSeconds = heartbeatIntervalSeconds
        self.quantities = quantities
        self.events = events
        self.nameAliases = nameAliases
    }

    private enum CodingKeys: String, CodingKey {
        case id, description, payloadFormats, heartbeatIntervalSeconds, quantities, events, nameAliases
    }

    /// `nameAliases` is optional in the files.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try container.decode(String.self, forKey: .id),
            description: try container.decode(LocalizedText.self, forKey: .description),
            payloadFormats: try container.decode([PayloadFormat].self, forKey: .payloadFormats),
            heartbeatIntervalSeconds: try container.decode(Int.self, forKey: .heartbeatIntervalSeconds),
            quantities: try container.decode([String].self, forKey: .quantities),
            events: try container.decode([String].self, forKey: .events),
            nameAliases: try container.decodeIfPresent([String: String].self, forKey: .nameAliases) ?? [:])
    }

    public func produces(quantity id: String) -> Bool { quantities.contains(id) }
    public func produces(event id: String) -> Bool { events.contains(id) }
    public func accepts(_ format: PayloadFormat) -> Bool { payloadFormats.contains(format) }
}

/// A payload format a device may publish over MQTT.
public enum PayloadFormat: String, Sendable, Codable, Equatable, Hashable, CaseIterable {
    /// SenML JSON (RFC 8428).
    case senml
    /// A vendor's own JSON, mapped declaratively per device model.
    case vendorJSON = "vendor-json"
    /// SCAIP XML (SS 91100), for safety alarms.
    case scaipXML = "scaip-xml"
}
