/// One row of the SCAIP (SS 91100) table in `DataModels/catalogue/scaip.json`: which catalogue event a SCAIP
/// message means. Rules are tried in file order; the first whose conditions all hold decides.
public struct SCAIPRule: Sendable, Equatable, Codable {
    /// `mty`: ME, RE, IN or PI.
    public var messageType: String
    /// `dty` (4 digits), when the rule needs one.
    public var deviceType: String?
    /// `stc` (4 digits), when the rule needs one.
    public var statusCode: String?
    /// The catalogue event.
    public var event: String
    /// The element that chose the event (`mty`, `dty`, `stc`): the event's source path.
    public var path: String

    public static let messageTypes = ["ME", "RE", "IN", "PI"]

    public init(messageType: String, deviceType: String? = nil, statusCode: String? = nil, event: String, path: String) {
        self.messageType = messageType
        self.deviceType = deviceType
        self.statusCode = statusCode
        self.event = event
        self.path = path
    }

    /// Whether a message with these codes matches.
    public func matches(messageType: String, deviceType: String?, statusCode: String?) -> Bool {
        self.messageType == messageType
            && (self.deviceType == nil || self.deviceType == deviceType)
            && (self.statusCode == nil || self.statusCode == statusCode)
    }
}
