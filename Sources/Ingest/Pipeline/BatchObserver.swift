import Storage
import Telemetry

/// What one committed batch stored: the rows that are in the database now (poison messages left out), and the
/// registry profiles the batch was normalized with.
public struct CommittedBatch: Sendable {
    public var observations: [Observation]
    public var events: [DeviceEvent]
    /// Every message of the batch with its outcome (accepted, partial, rejected, quarantined).
    public var rawMessages: [RawMessage]
    public var profiles: [String: DeviceProfile]

    public init(observations: [Observation] = [], events: [DeviceEvent] = [], rawMessages: [RawMessage] = [],
                profiles: [String: DeviceProfile] = [:]) {
        self.observations = observations
        self.events = events
        self.rawMessages = rawMessages
        self.profiles = profiles
    }
}

/// Told about each batch right after it is committed, in journal order, on the pipeline's task: it must not
/// block (hand the work to a service of its own). Supervision is one; geofences and lock access are next.
/// A replay after a crash may tell an observer about a batch again: observers are idempotent or tolerate it.
public protocol BatchObserver: Sendable {
    func committed(_ batch: CommittedBatch)
}
