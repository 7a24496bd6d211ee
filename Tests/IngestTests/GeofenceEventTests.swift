import Foundation
import Geofence
import Testing
@testable import Ingest

/// The event a geofence exit is stored as: where, when the position was taken (whole UTC seconds) and how old it was.
@Suite struct GeofenceEventTests {
    @Test("an exit's attributes date its position in RFC 3339 to the second")
    func exitAttributes() throws {
        let fix = Fix(atMicros: 1_760_000_000_750_000, point: GeoPoint(latitude: 57.6996, longitude: 11.9527), accuracyMeters: 12)
        let event = GeofenceMonitor.event(deviceId: "gps-1",
                                          action: .exit(zoneId: 3, fix: fix, distanceMeters: 40, atMicros: 1_760_000_090_000_000),
                                          zoneName: [3: "Home"])
        #expect(event.name == "geofence_exit")
        let attributes = try #require(try JSONSerialization.jsonObject(with: Data(event.attributes.utf8)) as? [String: String])
        #expect(attributes["positionAt"] == "2025-10-09T08:53:20Z")
        #expect(attributes["positionAgeSeconds"] == "89")
        #expect(attributes["zoneName"] == "Home")
    }
}
