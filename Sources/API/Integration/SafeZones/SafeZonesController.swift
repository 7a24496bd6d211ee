import Foundation
import Geofence
import Hummingbird
import Models
import Registry
import SafeZones
import Telemetry

/// Integration tier: the safe zones of a GPS alarm, and where it has been. Zone geometry and positions tell where a
/// person lives and goes (class 3): every route needs clearance 3, sees the devices of the client's tenants only,
/// takes only devices that report a position, and is audited.
struct SafeZonesController<Context: ClientRequestContext> {
    let zones: any ZoneRepository
    let devices: any DeviceRepository
    let telemetry: any TelemetryRepository
    /// Device types that report `position`.
    let positionTypes: Set<String>
    let clock: @Sendable () -> Int64

    static var dataClass: Int { 3 }
    static var maxZonesPerDevice: Int { 20 }

    var routes: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.post("devices/:deviceId/zones", use: create)
        routes.get("devices/:deviceId/zones", use: list)
        routes.patch("devices/:deviceId/zones/:zoneId", use: update)
        routes.delete("devices/:deviceId/zones/:zoneId", use: delete)
        routes.get("devices/:deviceId/track", use: track)
        return routes
    }

    struct PointRequest: Decodable { var latitude: Double; var longitude: Double }
    struct CircleRequest: Decodable { var latitude: Double; var longitude: Double; var radiusMeters: Double }
    struct WindowRequest: Decodable { var days: [String]; var start: String; var end: String }
    struct TuningRequest: Decodable {
        var exitBufferMeters: Double?
        var maxAccuracyMeters: Double?
        var confirmFixes: Int?
        var confirmSeconds: Int?
    }
    struct ZoneRequest: Decodable {
        var name: String?
        var circle: CircleRequest?
        var polygon: [PointRequest]?
        var schedule: [WindowRequest]?
        var tuning: TuningRequest?
    }

    static var example: String { #"{"name": "Home", "circle": {"latitude": 57.6996, "longitude": 11.9527, "radiusMeters": 150}, "schedule": [{"days": ["mon","tue"], "start": "22:00", "end": "07:00"}], "tuning": {"confirmFixes": 2, "confirmSeconds": 60}}"# }

    /// `POST /integration/v1/devices/{id}/zones`: 201 with the zone.
    @Sendable func create(_ request: Request, context: Context) async throws -> EditedResponse<ZoneBody> {
        let device = try await requireGPSDevice(context)
        let body = try await Self.decode(request)
        let spec = try Self.spec(from: body, base: nil)
        guard try await zones.zones(deviceId: device.deviceId).count < Self.maxZonesPerDevice else {
            throw Problem.conflict("device \(device.deviceId) has \(Self.maxZonesPerDevice) zones already")
        }
        let created = try await zones.create(spec, deviceId: device.deviceId, by: context.client?.name ?? "api")
        context.audit?.returned(records: 1, dataClass: Self.dataClass, subjects: Self.subjects(device))
        return EditedResponse(status: .created, response: ZoneBody(created))
    }

    /// `GET /integration/v1/devices/{id}/zones`.
    @Sendable func list(_ request: Request, context: Context) async throws -> ZoneListBody {
        let device = try await requireGPSDevice(context)
        let found = try await zones.zones(deviceId: device.deviceId)
        context.audit?.returned(records: found.count, dataClass: Self.dataClass, subjects: Self.subjects(device))
        return ZoneListBody(deviceId: device.deviceId, items: found.map(ZoneBody.init))
    }

    /// `PATCH /integration/v1/devices/{id}/zones/{zoneId}`: the fields given replace the zone's (a shape replaces
    /// the shape: `circle` or `polygon`).
    @Sendable func update(_ request: Request, context: Context) async throws -> ZoneBody {
        let device = try await requireGPSDevice(context)
        let id = try Self.zoneID(context)
        guard let current = try await zones.zones(deviceId: device.deviceId).first(where: { $0.id == id }) else {
            throw Problem.notFound("device \(device.deviceId) has no zone \(id)")
        }
        let spec = try Self.spec(from: try await Self.decode(request), base: current)
        guard let updated = try await zones.update(id, deviceId: device.deviceId, to: spec) else {
            throw Problem.notFound("device \(device.deviceId) has no zone \(id)")
        }
        context.audit?.returned(records: 1, dataClass: Self.dataClass, subjects: Self.subjects(device))
        return ZoneBody(updated)
    }

    /// `DELETE /integration/v1/devices/{id}/zones/{zoneId}`: 204.
    @Sendable func delete(_ request: Request, context: Context) async throws -> HTTPResponse.Status {
        let device = try await requireGPSDevice(context)
        let id = try Self.zoneID(context)
        guard try await zones.delete(id, deviceId: device.deviceId) else {
            throw Problem.notFound("device \(device.deviceId) has no zone \(id)")
        }
        context.audit?.returned(records: 1, dataClass: Self.dataClass, subjects: Self.subjects(device))
        return .noContent
    }

    /// `GET /integration/v1/devices/{id}/track?from=&to=&limit=`: positions, newest first (default the last 24 hours,
    /// at most 31 days, 500 points).
    @Sendable func track(_ request: Request, context: Context) async throws -> TrackBody {
        let device = try await requireGPSDevice(context)
        let query = QueryReader(request)
        let (from, to) = try query.period(now: clock(), defaultSpan: 86_400_000_000, maxDays: 31, what: "a track")
        let limit = try query.limit(default: 500, max: 5_000)
        let positions = try await telemetry.observations(ObservationQuery(
            deviceID: device.deviceId, quantity: "position", fromMicros: from, toMicros: to, limit: limit + 1, maxConfidentiality: 3))
        let page = positions.prefix(limit)
        context.audit?.returned(records: page.count, dataClass: Self.dataClass, subjects: Self.subjects(device))
        return TrackBody(deviceId: device.deviceId, from: RFC3339.format(micros: from), to: RFC3339.format(micros: to),
                         items: page.compactMap(TrackBody.Point.init), truncated: positions.count > limit)
    }

    // MARK: Rules

    static func subjects(_ device: Device) -> [String] { [device.deviceId] + (device.careRecipientRef.map { [$0] } ?? []) }

    private func requireGPSDevice(_ context: Context) async throws -> Device {
        let id = try knownDeviceID(context)
        guard context.scope.clearance >= Self.dataClass else {
            throw Problem.forbidden("safe zones and positions are class \(Self.dataClass); this client is cleared for class \(context.scope.clearance)")
        }
        guard let device = try await devices.device(id), context.scope.sees(tenant: device.tenant) else {
            throw Problem.notFound("no device \(id) is registered")
        }
        guard positionTypes.contains(device.type) else {
            throw Problem.conflict("device \(id) is a \(device.type), which reports no position")
        }
        return device
    }

    static func zoneID(_ context: Context) throws -> Int64 {
        guard let id = context.parameters.get("zoneId").flatMap({ Int64($0) }), id > 0 else {
            throw Problem.badParameter("zoneId", "zoneId must be a positive whole number")
        }
        return id
    }

    static func decode(_ request: Request) async throws -> ZoneRequest {
        let buffer = try await request.body.collect(upTo: 256 << 10)
        do {
            return try JSONDecoder().decode(ZoneRequest.self, from: Data(buffer: buffer))
        } catch {
            throw Problem.badRequest("the body must be a JSON zone, e.g. \(example)")
        }
    }

    /// The zone a request describes, on top of `base` for a PATCH; validated (geometry, schedule, tuning).
    static func spec(from body: ZoneRequest, base: SafeZone?) throws -> ZoneSpec {
        guard let name = body.name ?? base?.name else { throw Problem.badParameter("name", "a zone needs a name") }
        guard (1...100).contains(name.unicodeScalars.count), !name.unicodeScalars.contains(where: { $0.value < 0x20 }),
              !PersonalIdentityNumber.appears(in: name) else {
            throw Problem.badParameter("name", "name is 1 to 100 characters of text, never a personal identity number")
        }
        let shape: ZoneShape
        switch (body.circle, body.polygon) {
        case (let circle?, nil):
            shape = .circle(center: GeoPoint(latitude: circle.latitude, longitude: circle.longitude), radiusMeters: circle.radiusMeters)
        case (nil, let polygon?):
            shape = .polygon(polygon.map { GeoPoint(latitude: $0.latitude, longitude: $0.longitude) })
        case (nil, nil):
            guard let base else { throw Problem.badParameter("circle", "a zone needs a circle or a polygon") }
            shape = base.shape
        case (.some, .some):
            throw Problem.badParameter("polygon", "a zone is a circle or a polygon, not both")
        }
        let problems = ZoneValidation.problems(shape)
        guard problems.isEmpty else { throw Problem.badParameter(body.polygon != nil ? "polygon" : "circle", problems.joined(separator: "; ")) }
        let schedule = try body.schedule.map { windows in
            guard windows.count <= 21 else { throw Problem.badParameter("schedule", "at most 21 weekly windows") }
            return try windows.map { try WeeklyWindowText.parse(days: $0.days, start: $0.start, end: $0.end, field: "schedule") }
        } ?? base?.schedule ?? []
        var tuning = base?.tuning ?? ZoneTuning()
        if let requested = body.tuning {
            if let buffer = requested.exitBufferMeters {
                guard buffer.isFinite, (0...5_000).contains(buffer) else {
                    throw Problem.badParameter("tuning.exitBufferMeters", "exitBufferMeters is 0 to 5000")
                }
                tuning.exitBufferMeters = buffer
            }
            if let accuracy = requested.maxAccuracyMeters {
                guard accuracy.isFinite, (1...5_000).contains(accuracy) else {
                    throw Problem.badParameter("tuning.maxAccuracyMeters", "maxAccuracyMeters is 1 to 5000")
                }
                tuning.maxAccuracyMeters = accuracy
            }
            if let fixes = requested.confirmFixes {
                guard (1...100).contains(fixes) else { throw Problem.badParameter("tuning.confirmFixes", "confirmFixes is 1 to 100") }
                tuning.confirmFixes = fixes
            }
            if let seconds = requested.confirmSeconds {
                guard (0...86_400).contains(seconds) else {
                    throw Problem.badParameter("tuning.confirmSeconds", "confirmSeconds is 0 to 86400")
                }
                tuning.confirmSeconds = seconds
            }
        }
        return ZoneSpec(name: name, shape: shape, schedule: schedule, tuning: tuning)
    }
}

struct ZoneBody: ResponseEncodable, Sendable {
    struct Point: Encodable, Sendable { var latitude: Double; var longitude: Double }
    struct Circle: Encodable, Sendable { var latitude: Double; var longitude: Double; var radiusMeters: Double }
    struct Tuning: Encodable, Sendable {
        var exitBufferMeters: Double?
        var maxAccuracyMeters: Double
        var confirmFixes: Int
        var confirmSeconds: Int
    }

    var id: Int64
    var deviceId: String
    var name: String
    var circle: Circle?
    var polygon: [Point]?
    var schedule: [WeeklyWindowText]
    var tuning: Tuning
    var createdBy: String
    var createdAt: String
    var updatedAt: String

    init(_ zone: SafeZone) {
        id = zone.id
        deviceId = zone.deviceId
        name = zone.name
        switch zone.shape {
        case .circle(let center, let radius):
            circle = Circle(latitude: center.latitude, longitude: center.longitude, radiusMeters: radius)
        case .polygon(let points):
            polygon = points.map { Point(latitude: $0.latitude, longitude: $0.longitude) }
        }
        schedule = zone.schedule.map(WeeklyWindowText.init)
        tuning = Tuning(exitBufferMeters: zone.tuning.exitBufferMeters, maxAccuracyMeters: zone.tuning.maxAccuracyMeters,
                        confirmFixes: zone.tuning.confirmFixes, confirmSeconds: zone.tuning.confirmSeconds)
        createdBy = zone.createdBy
        createdAt = RFC3339.format(micros: zone.createdAtMicros)
        updatedAt = RFC3339.format(micros: zone.updatedAtMicros)
    }
}

struct ZoneListBody: ResponseEncodable, Sendable {
    var deviceId: String
    var items: [ZoneBody]
}

struct TrackBody: ResponseEncodable, Sendable {
    struct Point: Encodable, Sendable {
        var at: String
        var latitude: Double
        var longitude: Double
        var accuracyMeters: Double?

        init?(_ observation: Observation) {
            guard case .string(let text) = observation.value else { return nil }
            let parts = text.split(separator: ",").compactMap { Double($0) }
            guard parts.count >= 2 else { return nil }
            at = RFC3339.format(micros: observation.observedAtMicros)
            latitude = parts[0]
            longitude = parts[1]
            accuracyMeters = parts.count >= 3 ? parts[2] : nil
        }
    }

    var deviceId: String
    var from: String
    var to: String
    /// Newest first.
    var items: [Point]
    var truncated: Bool
}
