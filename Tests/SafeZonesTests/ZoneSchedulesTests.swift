import Foundation
import Geofence
import Models
import SafeZones
import Testing

/// A safe zone's schedule on the city's calendar, across the daylight-saving nights, as the geofence reads it.
@Suite struct ZoneSchedulesTests {
    static func zone(_ schedule: [WeeklyWindow]) -> SafeZone {
        SafeZone(id: 1, deviceId: "gps-1", name: "Home at night",
                 shape: .circle(center: GeoPoint(latitude: 57.6996, longitude: 11.9527), radiusMeters: 150),
                 schedule: schedule, tuning: ZoneTuning(), createdBy: "t", createdAtMicros: 0, updatedAtMicros: 0)
    }

    static func micros(_ text: String) -> Int64 { RFC3339.micros(text)! }

    @Test("22:00–07:00 every night: in force to the second across the spring and autumn changes; its start is known")
    func nightAcrossDST() {
        let schedules = ZoneSchedules([Self.zone([WeeklyWindow(days: Set(1...7), startMinute: 22 * 60, endMinute: 7 * 60)])])
        // Spring night 2027-03-27/28: 22:00 CET = 21:00Z, 07:00 CEST = 05:00Z.
        #expect(!schedules.isActive(1, atMicros: Self.micros("2027-03-27T20:59:59Z")))
        #expect(schedules.isActive(1, atMicros: Self.micros("2027-03-27T21:00:00Z")))
        #expect(schedules.isActive(1, atMicros: Self.micros("2027-03-28T04:59:59Z")))
        #expect(!schedules.isActive(1, atMicros: Self.micros("2027-03-28T05:00:00Z")))
        #expect(schedules.activeSince(1, atMicros: Self.micros("2027-03-28T03:00:00Z")) == Self.micros("2027-03-27T21:00:00Z"))
        // Autumn night 2027-10-30/31: 22:00 CEST = 20:00Z, 07:00 CET = 06:00Z.
        #expect(schedules.isActive(1, atMicros: Self.micros("2027-10-31T05:59:59Z")))
        #expect(!schedules.isActive(1, atMicros: Self.micros("2027-10-31T06:00:00Z")))
        #expect(schedules.activeSince(1, atMicros: Self.micros("2027-10-31T01:30:00Z")) == Self.micros("2027-10-30T20:00:00Z"))
    }

    @Test("windows that follow each other are one period: the second is no new start")
    func adjacentWindows() {
        let schedules = ZoneSchedules([Self.zone([
            WeeklyWindow(days: Set(1...7), startMinute: 22 * 60, endMinute: 7 * 60),
            WeeklyWindow(days: Set(1...7), startMinute: 7 * 60, endMinute: 12 * 60),
        ])])
        // 2027-01-13 08:00 CET is inside the second window, which continues the night begun 2027-01-12 22:00 CET.
        #expect(schedules.activeSince(1, atMicros: Self.micros("2027-01-13T07:00:00Z")) == Self.micros("2027-01-12T21:00:00Z"))
        #expect(!schedules.isActive(1, atMicros: Self.micros("2027-01-13T11:00:00Z")))
    }

    @Test("no schedule: always in force, no start; an unknown zone likewise")
    func always() {
        let schedules = ZoneSchedules([Self.zone([])])
        #expect(schedules.isActive(1, atMicros: 0) && schedules.activeSince(1, atMicros: 0) == nil)
        #expect(schedules.isActive(99, atMicros: 0))
    }
}
