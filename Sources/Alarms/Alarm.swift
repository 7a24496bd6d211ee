/// An alarm as the alarm team sees it.
public struct Alarm: Sendable, Equatable {
    public var id: Int64
    public var deviceId: String
    public var type: String
    public var kind: String
    public var priority: Int
    public var state: AlarmState
    public var tenant: String?
    public var raisedAtMicros: Int64
    public var openedAtMicros: Int64
    public var lastTriggeredAtMicros: Int64
    public var triggerCount: Int
    public var ackDeadlineMicros: Int64
    public var escalatedAtMicros: Int64?
    public var acknowledgedAtMicros: Int64?
    public var acknowledgedBy: String?
    public var resolvedAtMicros: Int64?
    public var resolvedBy: String?
    public var outcome: String?
    public var note: String?
    public var cancelledAtMicros: Int64?
    /// The triggering event's attributes (e.g. SCAIP `lte` location text), as JSON text.
    public var attributesJSON: String
    public var confidentiality: Int
    /// The responder sent to this alarm (pseudonymous staff reference, class 3); their lock grants are the lock
    /// grants of source `alarm` whose visit reference is this alarm's id.
    public var responderRef: String? = nil
}

/// One line of an alarm's timeline; its id orders the live stream.
public struct AlarmChange: Sendable, Equatable {
    public var id: Int64
    public var alarmId: Int64
    public var change: AlarmChangeKind
    public var actor: String
    /// The authenticated API client that made the change, beside the `actor` it named (nil: the device or the
    /// gateway made it).
    public var client: String? = nil
    public var atMicros: Int64
    public var detailsJSON: String
}

extension AlarmRepository {
    public func apply(_ action: AlarmAction, to id: Int64, client: String?, visible: @escaping @Sendable (Alarm) -> Bool) async throws -> Alarm? {
        try await apply([action], to: id, client: client, visible: visible)
    }
}

/// Which alarms to list. Default: the active ones, highest priority first, oldest first within a priority.
public struct AlarmQuery: Sendable, Equatable {
    public var states: [AlarmState] = [.open, .acknowledged]
    public var priority: Int?
    public var type: String?
    public var tenant: String?
    /// One home's alarms: of this device, or of the devices registered for this care recipient now.
    public var deviceId: String?
    public var careRecipientRef: String?
    public var fromMicros: Int64?
    public var toMicros: Int64?
    public var after: AlarmCursor?
    public var limit: Int = 100
    /// The client's scope: only alarms of these tenants (nil: every tenant) and of this class or lower.
    public var tenants: [String]?
    public var maxConfidentiality: Int = 3

    public init() {}
}

/// Keyset position in the list order (priority, raised at, id).
public struct AlarmCursor: Sendable, Equatable {
    public var priority: Int
    public var raisedAtMicros: Int64
    public var id: Int64

    public init(priority: Int, raisedAtMicros: Int64, id: Int64) {
        self.priority = priority
        self.raisedAtMicros = raisedAtMicros
        self.id = id
    }
}

/// What the alarm detail shows beside the alarm: the device and its last known position or lock state.
public struct AlarmContext: Sendable, Equatable {
    public var deviceType: String?
    public var placement: String?
    public var careRecipientRef: String?
    /// Latest values that help act: position (or latitude/longitude/accuracy), lock and door state, battery.
    public var latest: [(quantity: String, value: String, observedAtMicros: Int64)]

    public static func == (lhs: AlarmContext, rhs: AlarmContext) -> Bool {
        lhs.deviceType == rhs.deviceType && lhs.placement == rhs.placement && lhs.careRecipientRef == rhs.careRecipientRef
            && lhs.latest.map(\.quantity) == rhs.latest.map(\.quantity) && lhs.latest.map(\.value) == rhs.latest.map(\.value)
    }
}

/// Alarm figures over a period.
public struct AlarmStats: Sendable, Equatable {
    public struct Group: Sendable, Equatable {
        public var type: String
        public var priority: Int
        public var count: Int
        public var escalated: Int
    }

    public var total = 0
    public var escalated = 0
    public var groups: [Group] = []
    public var acknowledgeMedianSeconds: Double?
    public var acknowledgeP90Seconds: Double?
    public var resolveMedianSeconds: Double?
    public var resolveP90Seconds: Double?

    public init() {}
}

/// The alarms as the API reads and changes them.
public protocol AlarmRepository: Sendable {
    func list(_ query: AlarmQuery) async throws -> [Alarm]
    func alarm(_ id: Int64) async throws -> (alarm: Alarm, timeline: [AlarmChange], context: AlarmContext)?
    /// Applies an operator's action; throws `AlarmConflict` when the lifecycle refuses it. nil when there is no
    /// such alarm, or when `visible` (checked in the same transaction) says the caller may not see it.
    /// `client` is the authenticated API client, recorded on the timeline beside the operator the action names.
    func apply(_ action: AlarmAction, to id: Int64, client: String?, visible: @escaping @Sendable (Alarm) -> Bool) async throws -> Alarm?
    /// Applies actions in order in one transaction (an acknowledgement and its responder): all or nothing.
    func apply(_ actions: [AlarmAction], to id: Int64, client: String?, visible: @escaping @Sendable (Alarm) -> Bool) async throws -> Alarm?
    /// Changes after `afterId`, in order (the stream's catch-up).
    func changes(after afterId: Int64, limit: Int) async throws -> [(change: AlarmChange, alarm: Alarm)]
    /// Figures over the alarms of `tenants` (nil: every tenant) up to class `maxConfidentiality`: the same scope
    /// as `list`, so that counts do not reveal alarms the caller may not see.
    func stats(fromMicros: Int64, toMicros: Int64, tenants: [String]?, maxConfidentiality: Int) async throws -> AlarmStats
}
