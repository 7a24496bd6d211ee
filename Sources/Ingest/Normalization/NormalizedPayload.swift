// What normalization yields: catalogue values and events, per-part rejections, and the configuration error of `init`.

import Models

/// A catalogue value.
public enum NormalizedScalar: Sendable, Equatable {
    case number(Double)
    case string(String)
    case boolean(Bool)
    /// WGS 84 degrees; accuracy radius in metres when known.
    case position(latitude: Double, longitude: Double, accuracy: Double?)
}

/// One value of a catalogue quantity, in its canonical unit.
public struct NormalizedValue: Sendable, Equatable {
    /// Catalogue quantity id.
    public var quantity: String
    public var value: NormalizedScalar
    /// The quantity's canonical unit from the catalogue (nil when it has none).
    public var unit: String?
    public var classification: Classification
    /// Seconds since the Unix epoch.
    public var observedAt: Double
    /// Where in the payload it came from: SenML `records[2]`, a JSON pointer, a SCAIP element name.
    public var sourcePath: String

    public init(
        quantity: String, value: NormalizedScalar, unit: String?, classification: Classification,
        observedAt: Double, sourcePath: String
    ) {
        self.quantity = quantity
        self.value = value
        self.unit = unit
        self.classification = classification
        self.observedAt = observedAt
        self.sourcePath = sourcePath
    }
}

/// One catalogue event.
public struct NormalizedEvent: Sendable, Equatable {
    /// Catalogue event id.
    public var event: String
    /// Seconds since the Unix epoch.
    public var observedAt: Double
    public var classification: Classification
    /// Extra facts from the payload (SCAIP `ref`, `cid`, ...; SenML `vs` as "value").
    public var attributes: [String: String]
    public var sourcePath: String

    public init(
        event: String, observedAt: Double, classification: Classification,
        attributes: [String: String] = [:], sourcePath: String
    ) {
        self.event = event
        self.observedAt = observedAt
        self.classification = classification
        self.attributes = attributes
        self.sourcePath = sourcePath
    }
}

/// A payload, or one part of it, that does not fit the catalogue. `path` is "" for the whole message.
public struct Rejection: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { path.isEmpty ? reason : "\(path): \(reason)" }
}

/// What one payload yielded.
public struct NormalizedPayload: Sendable, Equatable {
    public var values: [NormalizedValue]
    public var events: [NormalizedEvent]
    public var rejections: [Rejection]
    /// Whether some time in the payload was taken relative to its arrival (SenML times below 2^28, or records
    /// rejected before their time was known); such payloads cannot be told apart from a later repeat by content.
    public var timesRelativeToArrival = false

    public init(values: [NormalizedValue] = [], events: [NormalizedEvent] = [], rejections: [Rejection] = []) {
        self.values = values
        self.events = events
        self.rejections = rejections
    }
}

/// A vendor mapping that does not fit the catalogue; thrown by `CatalogueNormalizer.init`.
public struct NormalizerConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The mapping's file name (or id when it has no file).
    public var mapping: String
    public var field: String
    public var reason: String

    public init(mapping: String, field: String, reason: String) {
        self.mapping = mapping
        self.field = field
        self.reason = reason
    }

    public var description: String {
        field.isEmpty ? "\(mapping): \(reason)" : "\(mapping): \(field): \(reason)"
    }
}
