import Models

/// Which event does what to alarms, from the catalogue (never from code): an event code with an `alarm` spec opens
/// an alarm of that type and priority (or counts on the active one); `alarm_cancelled` (SCAIP RE) cancels the
/// device's open care alarms; everything else leaves alarms alone.
public struct AlarmRules: Sendable {
    /// The event a device sends when its user resets an alarm before anyone acknowledged it.
    public static let cancellationEvent = "alarm_cancelled"
    /// Back inside a safe zone: noted on the device's open `geofence_exit` alarm.
    public static let zoneReturnEvent = "geofence_return"
    public static let zoneExitAlarm = "geofence_exit"
    /// Alarms the gateway concludes (not the device's own): a device's cancel (SCAIP `RE`, a GPS alarm's cancel)
    /// never ends them.
    public static let gatewayConcludedAlarms = ["geofence_exit", "unplanned_unlock"]

    public enum Decision: Sendable, Equatable {
        case raise(type: String, kind: String, priority: Int)
        case cancelOpenCareAlarms
        case noteZoneReturn
        case none
    }

    let catalogue: Catalogue
    /// Seconds to acknowledge, per priority; priorities without an entry use the last one.
    public let acknowledgeTargets: [Int: Double]

    public init(catalogue: Catalogue, acknowledgeTargets: [Int: Double] = AlarmRules.defaultTargets) {
        self.catalogue = catalogue
        self.acknowledgeTargets = acknowledgeTargets
    }

    /// 60 s for the highest priority, then 5 min, 15 min, 1 h, 4 h.
    public static let defaultTargets: [Int: Double] = [1: 60, 2: 300, 3: 900, 4: 3_600, 5: 14_400]

    public func decide(event: String) -> Decision {
        if event == Self.cancellationEvent { return .cancelOpenCareAlarms }
        if event == Self.zoneReturnEvent { return .noteZoneReturn }
        guard let code = catalogue.event(event), let alarm = code.alarm else { return .none }
        return .raise(type: code.id, kind: code.kind.rawValue, priority: alarm.priority)
    }

    public func acknowledgeTarget(priority: Int) -> Double {
        acknowledgeTargets[priority] ?? acknowledgeTargets.filter { $0.key <= priority }.max { $0.key < $1.key }?.value ?? 300
    }

    /// Parses `1=60,2=300,...` (priority = seconds).
    public static func parseTargets(_ text: String) -> [Int: Double]? {
        var targets: [Int: Double] = [:]
        for part in text.split(separator: ",") {
            let pair = part.split(separator: "=")
            guard pair.count == 2, let priority = Int(pair[0].trimmingCharacters(in: .whitespaces)),
                  AlarmSpec.priorities.contains(priority),
                  let seconds = Double(pair[1].trimmingCharacters(in: .whitespaces)), seconds > 0 else { return nil }
            targets[priority] = seconds
        }
        return targets.isEmpty ? nil : targets
    }
}
