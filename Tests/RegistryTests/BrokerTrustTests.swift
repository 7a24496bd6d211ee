import Digest
import Foundation
import Testing

@testable import Registry

/// The pure parts of broker trust: reserved names, the claim protocol's nonce, what a claim answer reveals, and
/// that the throttle never refuses the right code.
@Suite struct BrokerTrustTests {
    // MARK: Reserved names

    /// Why registration refuses `id` (nil: accepted).
    func registrationProblem(_ id: String) -> String? {
        let row: [DeviceCSVColumn: String] = [.deviceId: id, .serialNumber: "SN-1", .type: "sensor", .tenant: "t"]
        if case .failure(let rejection) = DeviceCSV.validate(row, knownTypes: ["sensor"]) { return rejection.reason }
        return nil
    }

    @Test(arguments: ["cip-gateway", "cip-bridge", "cip-admin", "bootstrap", "cip-", "cip-anything", "CIP-Gateway",
                      "Bootstrap", "BOOTSTRAP", "cip-bridge2"])
    func reservedNamesAreRefusedAsDeviceIds(_ id: String) {
        #expect(ReservedNames.isReserved(id))
        #expect(registrationProblem(id)?.contains("reserved") == true)
    }

    @Test(arguments: ["lock-001", "cip", "cipher-1", "bootstrap2", "my-bootstrap", "ci-p", "sensor:cip-gateway"])
    func ordinaryIdsAreNotReserved(_ id: String) {
        #expect(!ReservedNames.isReserved(id))
        #expect(registrationProblem(id) == nil)
    }

    @Test func csvImportRejectsReservedIdsLineByLine() throws {
        let csv = """
            device_id,serial_number,type,tenant
            cip-bridge,SN-A,sensor,t
            sensor-1,SN-B,sensor,t
            bootstrap,SN-C,sensor,t
            """
        let report = try DeviceCSV.parse(csv, knownTypes: ["sensor"])
        #expect(report.accepted.map(\.row.deviceId) == ["sensor-1"])
        #expect(report.rejected.map(\.line) == [2, 4])
        #expect(report.rejected.allSatisfy { $0.reason.contains("reserved") })
    }

    @Test func brokerCommandsOnReservedNamesAreRefused() {
        // What the gateway builds for devices is fine...
        #expect(DynamicSecurityCommand.reservedTarget([
            DynamicSecurityCommand.deleteClient("lock-1"), DynamicSecurityCommand.createDeviceRole("lock-1"),
            DynamicSecurityCommand.createDeviceClient("lock-1", password: "p"),
        ]) == nil)
        // ...but the same builders, or hand-made commands, aimed at a fixed account or role are not.
        for commands in [
            [DynamicSecurityCommand.deleteClient("cip-bridge")],
            [DynamicSecurityCommand.createDeviceClient("bootstrap", password: "p")],
            [DynamicSecurityCommand.disableClient("cip-gateway")],
            [DynamicSecurityCommand.enableClient("CIP-ADMIN")],
            [DynamicSecurityCommand.deleteRole("cip-x")],
            [["command": "deleteRole", "rolename": "bootstrap"]],
            [["command": "deleteRole", "rolename": "admin"]],
            [["command": "createClient", "username": "x", "roles": [["rolename": "cip-gateway"]]]],
            [DynamicSecurityCommand.enableClient("lock-1"), DynamicSecurityCommand.deleteClient("cip-gateway")],
        ] {
            #expect(DynamicSecurityCommand.reservedTarget(commands) != nil, "\(commands)")
        }
    }

    @Test func deviceClientsAreBoundToTheirClientId() {
        let command = DynamicSecurityCommand.createDeviceClient("lock-7", password: "p")
        #expect(command["clientid"] as? String == "lock-7")
        #expect(command["username"] as? String == "lock-7")
    }

    // MARK: Claim requests

    static let nonce = "0123456789abcdef0123456789ABCDEF"

    func claim(_ object: [String: Any]) -> [UInt8] { Array(try! JSONSerialization.data(withJSONObject: object)) }

    @Test func aClaimNeedsANonceOrIsNotAnswered() {
        let code = "K7QH-2M9X-RT4C-8VWN-J3PA"
        for payload in [
            claim(["serial": "S", "claimCode": code]),                                     // the old protocol
            claim(["serial": "S", "claimCode": code, "nonce": "short"]),                   // < 128 bits
            claim(["serial": "S", "claimCode": code, "nonce": "0123456789abcdef0123456789abcde/"]),  // a topic level
            claim(["serial": "S", "claimCode": code, "nonce": "0123456789abcdef0123456789abcde+"]),
            claim(["serial": "S", "claimCode": code, "nonce": "0123456789abcdef0123456789abcde#"]),
            claim(["serial": "S", "claimCode": code, "nonce": 12345]),
            Array("not json".utf8),
        ] {
            guard case .failure(.unanswerable) = ClaimRequest.parse(payload, topicSerial: "S") else {
                Issue.record("answered: \(String(decoding: payload, as: UTF8.self))")
                continue
            }
        }
        let good = ClaimRequest.parse(claim(["serial": "S", "claimCode": code, "nonce": Self.nonce]), topicSerial: "S")
        #expect(good == .success(ClaimRequest(serial: "S", claimCode: code, nonce: Self.nonce)))
        #expect(Onboarding.resultTopic(serial: "S", nonce: Self.nonce) == "provisioning/S/result/\(Self.nonce)")
        // With a nonce, a malformed claim is refused on the claimant's own topic.
        guard case .failure(.refused(let nonce, _)) = ClaimRequest.parse(
            claim(["serial": "OTHER", "claimCode": code, "nonce": Self.nonce]), topicSerial: "S") else {
            Issue.record("a wrong serial was not refused")
            return
        }
        #expect(nonce == Self.nonce)
    }

    // MARK: What an answer reveals

    static let code = "K7QH-2M9X-RT4C-8VWN-J3PA"
    static let salt = [UInt8](repeating: 7, count: ClaimCode.saltLength)

    func record(_ state: LifecycleState, id: String = "lock-1", expired: Bool = false, withCode: Bool = true) -> ClaimRecord {
        ClaimRecord(deviceId: id, lifecycleState: state, hash: withCode ? ClaimCode.hash(Self.code, salt: Self.salt) : nil,
                    salt: withCode ? Self.salt : nil, expired: expired)
    }

    func reason(_ verdict: ClaimEvaluation.Verdict) -> String? {
        if case .refused(.refused(let reason, _)) = verdict { return reason }
        return nil
    }

    @Test func refusalsWithoutTheRightCodeAreIndistinguishable() {
        let wrong = "2222-2222-2222-2222-2222"
        var throttle = ClaimThrottle()
        let cases: [(ClaimRecord?, String)] = [
            (nil, Self.code),                                                    // unknown serial
            (record(.registered), wrong),                                        // wrong code
            (record(.registered, expired: true), wrong),                         // expired, wrong code
            (record(.provisioned, withCode: false), Self.code),                  // used
            (record(.decommissioned, withCode: false), Self.code),               // decommissioned
            (record(.decommissioned), wrong),
        ]
        var reasons = Set<String>()
        for (index, (record, code)) in cases.enumerated() {
            let verdict = ClaimEvaluation.evaluate(record: record, claimCode: code, serial: "S\(index)", now: 0, throttle: &throttle)
            guard let reason = reason(verdict) else {
                Issue.record("case \(index): \(verdict)")
                continue
            }
            #expect(!reason.contains("lock-1") && !reason.contains("S\(index)"), "\(reason)")
            reasons.insert(reason)
        }
        #expect(reasons == [ClaimEvaluation.notAccepted])
    }

    @Test func theRightCodeProvisionsOrSaysWhyNot() {
        var throttle = ClaimThrottle()
        #expect(ClaimEvaluation.evaluate(record: record(.registered), claimCode: Self.code, serial: "S", now: 0, throttle: &throttle)
                == .provision(deviceId: "lock-1"))
        #expect(reason(ClaimEvaluation.evaluate(record: record(.registered, expired: true), claimCode: Self.code,
                                                serial: "S", now: 0, throttle: &throttle))?.contains("expired") == true)
        #expect(reason(ClaimEvaluation.evaluate(record: record(.decommissioned), claimCode: Self.code,
                                                serial: "S", now: 0, throttle: &throttle))?.contains("withdrawn") == true)
        #expect(ClaimEvaluation.evaluate(record: record(.registered, id: "cip-bridge"), claimCode: Self.code, serial: "S",
                                         now: 0, throttle: &throttle) == .reservedDeviceId("cip-bridge"))
    }

    @Test func aFloodOfWrongCodesNeverLocksOutTheRightOne() {
        var throttle = ClaimThrottle(configuration: .init(maxFailures: 3, initialBackoff: 60, maxBackoff: 3600))
        var now = 0.0
        var lockedOut = false
        for _ in 0..<1_000 {
            now += 0.01
            let verdict = ClaimEvaluation.evaluate(record: record(.registered), claimCode: "2222-2222-2222-2222-2222",
                                                   serial: "S", now: now, throttle: &throttle)
            if case .refused(.refused(_, let retryAfter?)) = verdict, retryAfter > 0 { lockedOut = true }
        }
        #expect(lockedOut, "wrong codes are still counted and answered with a retry-after")
        #expect(ClaimEvaluation.evaluate(record: record(.registered), claimCode: Self.code, serial: "S", now: now + 1,
                                         throttle: &throttle) == .provision(deviceId: "lock-1"))
        // And an unknown serial is throttled exactly like a known one (no oracle).
        var unknown = ClaimThrottle(configuration: .init(maxFailures: 3))
        var known = ClaimThrottle(configuration: .init(maxFailures: 3))
        for step in 0..<5 {
            let a = ClaimEvaluation.evaluate(record: nil, claimCode: Self.code, serial: "U", now: Double(step), throttle: &unknown)
            let b = ClaimEvaluation.evaluate(record: record(.registered), claimCode: "2222-2222-2222-2222-2222", serial: "U",
                                             now: Double(step), throttle: &known)
            #expect(a == b)
        }
    }
}
