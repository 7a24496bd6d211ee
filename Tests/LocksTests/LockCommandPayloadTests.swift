import Foundation
import Models
import Testing
import Locks

/// What a lock receives for a remote command: its expiry in whole UTC seconds, as locks have always read it.
@Suite struct LockCommandPayloadTests {
    @Test("the payload carries the id, the action, the staff member and the expiry cut to the second")
    func payload() throws {
        let command = LockCommand(id: "c-1", deviceId: "lock-1", action: .unlock, staffRef: "staff-7", requestedBy: "t",
                                  requestedAtMicros: 1_760_000_000_000_000, expiresAtMicros: 1_760_000_030_999_999,
                                  grantId: 1, status: .pending)
        let body = try #require(try JSONSerialization.jsonObject(with: Data(command.payload)) as? [String: String])
        #expect(body == ["id": "c-1", "action": "unlock", "staffRef": "staff-7", "expiresAt": "2025-10-09T08:53:50Z"])
        #expect(RFC3339.micros(body["expiresAt"] ?? "") == 1_760_000_030_000_000)
    }
}
