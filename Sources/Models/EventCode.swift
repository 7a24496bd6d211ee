/// An event a device can report, e.g. `sos`, `low_battery`, `heartbeat`.
public struct EventCode: Sendable, Codable, Equatable, Hashable, Identifiable {
    public var id: String
    public var description: LocalizedText
    public var kind: EventKind
    /// Whether (and with which priority) the event opens an alarm; nil when it never does.
    public var alarm: AlarmSpec?
    public var classification: Classification

    public init(id: String, description: LocalizedText, kind: EventKind, alarm: AlarmSpec?, classification: Classification) {
        self.id = id
        self.description = description
        self.kind = kind
        self.alarm = alarm
        self.classification = classification
    }

    /// True when the event opens an alarm.
    public var raisesAlarm: Bool { alarm != nil }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, description, kind, alarm, classification
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        description = try c.decode(LocalizedText.self, forKey: .description)
        kind = try c.decode(EventKind.self, forKey: .kind)
        alarm = try c.decodeIfPresent(AlarmSpec.self, forKey: .alarm)
        classification = try c.decode(Classification.self, forKey: .classification)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(description, forKey: .description)
        try c.encode(kind, forKey: .kind)
        try c.encode(alarm, forKey: .alarm)  // null written explicitly, as in the files
        try c.encode(classification, forKey: .classification)
    }
}

/// What an event is about.
public enum EventKind: String, Sendable, Codable, Equatable, Hashable, CaseIterable {
    /// About the person's care or safety (SOS, fall, smoke, ...).
    case care
    /// About the device or its connection (low battery, offline, missed heartbeat, ...).
    case technical
    /// Informational; never opens an alarm (heartbeat, locked/unlocked, ...).
    case info
}

/// How an event is handled as an alarm.
public struct AlarmSpec: Sendable, Codable, Equatable, Hashable {
    /// Alarm priority, 1 (highest) ... 5 (lowest).
    public var priority: Int

    public static let priorities: ClosedRange<Int> = 1...5

    public init(priority: Int) {
        self.priority = priority
    }
}

/// A resolution outcome for an alarm, e.g. `false_alarm`, `visit_made`.
public struct Outcome: Sendable, Codable, Equatable, Hashable, Identifiable {
    public var id: String
    public var description: LocalizedText

    public init(id: String, description: LocalizedText) {
        self.id = id
        self.description = description
    }
}
