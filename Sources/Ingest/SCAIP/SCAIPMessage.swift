/// One SCAIP (SS 91100) message request, `mrq`, as sent by a safety alarm ("trygghetslarm")
/// controller. Field names follow the XML element names given in the comments.
///
/// Text values are trimmed; an optional element that is absent or empty is `nil`.
public struct SCAIPMessage: Sendable, Equatable {
    /// `mty`: what the message is about.
    public enum MessageType: String, Sendable {
        /// `ME`: an alarm.
        case alarm = "ME"
        /// `RE`: reset or cancellation of an alarm.
        case reset = "RE"
        /// `IN`: information (for example battery low).
        case info = "IN"
        /// `PI`: heartbeat ("ping").
        case heartbeat = "PI"
    }

    /// `ref`: the message reference, echoed in the receiver's `mrs` answer. Required.
    public var reference: String
    /// `ver`: protocol version.
    public var version: String?
    /// `cid`: controller id. Required.
    public var controllerID: String
    /// `dty`: device type code, exactly 4 digits (0003 personal trigger, 0005 fall detector, 0014 door sensor).
    public var deviceType: String?
    /// `did`: device id.
    public var deviceID: String?
    /// `dco`: device component.
    public var component: String?
    /// `dte`: device text.
    public var deviceText: String?
    /// `mty`: message type. Required.
    public var messageType: MessageType
    /// `stc`: status code, exactly 4 digits (0009 automatic alarm, 0010 manual alarm, 0016 battery low, ...).
    public var statusCode: String?
    /// `stt`: status text.
    public var statusText: String?
    /// `pri`: priority, 1...9.
    public var priority: Int?
    /// `cha`: call handling.
    public var callHandling: String?
    /// `crd`: caller address.
    public var callerAddress: String?
    /// `lco`: location code.
    public var locationCode: String?
    /// `lte`: location text.
    public var locationText: String?
    /// `lge`: geographic position (text "lat,lon[,accuracy]", or structured `geo`/`tim`/`gga`).
    public var position: GeoPosition?
    /// Optional fields that could not be read: left out of the message, each with its reason.
    public var issues: [SCAIPError]

    public init(
        reference: String, version: String? = nil, controllerID: String, deviceType: String? = nil,
        deviceID: String? = nil, component: String? = nil, deviceText: String? = nil,
        messageType: MessageType, statusCode: String? = nil, statusText: String? = nil,
        priority: Int? = nil, callHandling: String? = nil, callerAddress: String? = nil,
        locationCode: String? = nil, locationText: String? = nil, position: GeoPosition? = nil,
        issues: [SCAIPError] = []
    ) {
        self.reference = reference
        self.version = version
        self.controllerID = controllerID
        self.deviceType = deviceType
        self.deviceID = deviceID
        self.component = component
        self.deviceText = deviceText
        self.messageType = messageType
        self.statusCode = statusCode
        self.statusText = statusText
        self.priority = priority
        self.callHandling = callHandling
        self.callerAddress = callerAddress
        self.locationCode = locationCode
        self.locationText = locationText
        self.position = position
        self.issues = issues
    }
}

/// A WGS 84 position from the SCAIP `lge` element: "latitude,longitude[,accuracy]".
public struct GeoPosition: Sendable, Equatable {
    /// Decimal degrees, -90...90.
    public var latitude: Double
    /// Decimal degrees, -180...180.
    public var longitude: Double
    /// Accuracy radius in meters (non-negative), when the device sent one.
    public var accuracyMeters: Double?
    /// When the fix was taken (seconds since the Unix epoch), from a structured `lge`'s `tim`.
    public var time: Double?

    public init(latitude: Double, longitude: Double, accuracyMeters: Double? = nil, time: Double? = nil) {
        self.latitude = latitude
        self.longitude = longitude
        self.accuracyMeters = accuracyMeters
        self.time = time
    }
}

/// Why a payload is not an acceptable SCAIP message. `field` names the XML element
/// (for example "lge") when the problem is confined to one field.
public struct SCAIPError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String?
    public var reason: String

    public init(field: String? = nil, reason: String) {
        self.field = field
        self.reason = reason
    }

    /// `field "lge": latitude 91.2 is outside -90...90`, or the bare reason when no field applies.
    public var description: String {
        if let field {
            return "field \"\(field)\": \(reason)"
        }
        return reason
    }
}
