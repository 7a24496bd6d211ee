import Access
import Foundation
import Hummingbird
import Registry
import SafeZones
import Testing

/// `/integration/v1/devices/{id}/zones` and `/track`: validation, roles, tenants, clearance, devices with positions only.
@Suite struct SafeZoneRoutesTests {
    static func seed(_ harness: Harness) async throws {
        try await harness.register("gps-n", tenant: "north", type: "gps-alarm")
        try await harness.register("gps-s", tenant: "south", type: "gps-alarm")
        try await harness.register("sensor-n", tenant: "north", type: "sensor")
    }

    static let circle = #"{"name":"Home","circle":{"latitude":57.6996,"longitude":11.9527,"radiusMeters":150},"schedule":[{"days":["mon","sun"],"start":"22:00","end":"07:00"}]}"#

    @Test("create, list, patch (fields replace), delete; the schedule and tuning round-trip")
    func lifecycle() async throws {
        let harness = Harness()
        try await Self.seed(harness)
        try await harness.test { client in
            let created = try await client.call(.post, "/integration/v1/devices/gps-n/zones", token: "planner-north", body: Self.circle)
            #expect(created.status == .created, "\(created.text)")
            let id = created.json["id"] as? Int ?? 0
            #expect((created.json["schedule"] as? [[String: Any]])?.first?["days"] as? [String] == ["mon", "sun"])
            #expect((created.json["tuning"] as? [String: Any])?["confirmFixes"] as? Int == 2)
            let patched = try await client.call(.patch, "/integration/v1/devices/gps-n/zones/\(id)", token: "operator-north",
                                                body: #"{"tuning":{"confirmFixes":3},"polygon":[{"latitude":57.70,"longitude":11.95},{"latitude":57.70,"longitude":11.96},{"latitude":57.71,"longitude":11.955}]}"#)
            #expect(patched.status == .ok, "\(patched.text)")
            #expect(patched.json["name"] as? String == "Home" && patched.json["circle"] == nil && (patched.json["polygon"] as? [Any])?.count == 3)
            #expect((patched.json["tuning"] as? [String: Any])?["confirmFixes"] as? Int == 3)
            #expect(try await client.call(.get, "/integration/v1/devices/gps-n/zones", token: "planner-north").items.count == 1)
            let r1 = try await client.call(.delete, "/integration/v1/devices/gps-n/zones/\(id)", token: "planner-north")
            #expect(r1.status == .noContent)
            let r2 = try await client.call(.delete, "/integration/v1/devices/gps-n/zones/\(id)", token: "planner-north")
            #expect(r2.status == .notFound)
        }
    }

    @Test("hostile zones are 400 problems naming the field", arguments: [
        #"{"name":"x","circle":{"latitude":91,"longitude":11,"radiusMeters":100}}"#,
        #"{"name":"x","circle":{"latitude":57,"longitude":11,"radiusMeters":0}}"#,
        #"{"name":"x","circle":{"latitude":57,"longitude":11,"radiusMeters":1e300}}"#,
        #"{"name":"x","polygon":[{"latitude":57,"longitude":11},{"latitude":57.1,"longitude":11}]}"#,
        #"{"name":"x","polygon":[{"latitude":57.70,"longitude":11.95},{"latitude":57.71,"longitude":11.96},{"latitude":57.70,"longitude":11.96},{"latitude":57.71,"longitude":11.95}]}"#,
        #"{"name":"x","circle":{"latitude":57,"longitude":11,"radiusMeters":100},"polygon":[]}"#,
        #"{"circle":{"latitude":57,"longitude":11,"radiusMeters":100}}"#,
        #"{"name":"19121212-1212","circle":{"latitude":57,"longitude":11,"radiusMeters":100}}"#,
        #"{"name":"x","circle":{"latitude":57,"longitude":11,"radiusMeters":100},"schedule":[{"days":["xyz"],"start":"22:00","end":"07:00"}]}"#,
        #"{"name":"x","circle":{"latitude":57,"longitude":11,"radiusMeters":100},"tuning":{"confirmFixes":0}}"#,
        #"{"name":"x","circle":{"latitude":57,"longitude":11,"radiusMeters":100},"tuning":{"maxAccuracyMeters":-1}}"#,
        "not json",
    ])
    func hostile(body: String) async throws {
        let harness = Harness()
        try await Self.seed(harness)
        try await harness.test { client in
            let reply = try await client.call(.post, "/integration/v1/devices/gps-n/zones", token: "planner-north", body: body)
            #expect(reply.status == .badRequest, "\(body): \(reply.text)")
            let r3 = try await harness.zones.zones(deviceId: "gps-n")
            #expect(r3.isEmpty)
        }
    }

    @Test("who may: tenants, clearance 3, roles, devices with a position only")
    func scope() async throws {
        let harness = Harness()
        try await Self.seed(harness)
        try await harness.test { client in
            let r4 = try await client.call(.post, "/integration/v1/devices/gps-s/zones", token: "planner-north", body: Self.circle)
            #expect(r4.status == .notFound)
            let r5 = try await client.call(.post, "/integration/v1/devices/gps-n/zones", token: "planner-2", body: Self.circle)
            #expect(r5.status == .forbidden)
            let r6 = try await client.call(.post, "/integration/v1/devices/sensor-n/zones", token: "planner-north", body: Self.circle)
            #expect(r6.status == .conflict)
            let r7 = try await client.call(.post, "/integration/v1/devices/gps-n/zones", token: "reader", body: Self.circle)
            #expect(r7.status == .forbidden)
            let r8 = try await client.call(.get, "/integration/v1/devices/gps-n/track", token: "reader")
            #expect(r8.status == .ok)
            let r9 = try await client.call(.get, "/integration/v1/devices/gps-n/track", token: "reader-2")
            #expect(r9.status == .forbidden)
            let r10 = try await client.call(.get, "/integration/v1/devices/gps-n/track", token: "planner-north")
            #expect(r10.status == .forbidden)
            #expect(try await client.call(.get, "/integration/v1/devices/gps-n/track?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z",
                                          token: "reader").status == .badRequest)
        }
    }
}
