import Testing

@testable import Registry

@Suite struct ClaimThrottleTests {
    /// Fails `serial` `times` times one second apart starting at `start`; returns the last decision.
    @discardableResult
    func fail(_ throttle: inout ClaimThrottle, _ serial: String, times: Int, start: Double) -> ThrottleDecision {
        var decision = ThrottleDecision.allowed
        for i in 0..<times { decision = throttle.recordFailure(serial: serial, now: start + Double(i)) }
        return decision
    }

    @Test func fourFailuresAreAllowedTheFifthLocksOut() {
        var throttle = ClaimThrottle()
        #expect(fail(&throttle, "SN1", times: 4, start: 0) == .allowed)
        #expect(throttle.check(serial: "SN1", now: 4) == .allowed)
        #expect(throttle.recordFailure(serial: "SN1", now: 4) == .refused(retryAfter: 60))
        #expect(throttle.check(serial: "SN1", now: 5) == .refused(retryAfter: 59))
        #expect(throttle.check(serial: "SN1", now: 63.5) == .refused(retryAfter: 0.5))
        #expect(throttle.check(serial: "SN1", now: 64) == .allowed)
    }

    @Test func otherSerialsAreUnaffected() {
        var throttle = ClaimThrottle()
        fail(&throttle, "SN1", times: 5, start: 0)
        #expect(throttle.check(serial: "SN1", now: 10) != .allowed)
        #expect(throttle.check(serial: "SN2", now: 10) == .allowed)
    }

    @Test func failuresOutsideTheWindowDoNotCount() {
        var throttle = ClaimThrottle()
        fail(&throttle, "SN1", times: 4, start: 0)
        // The first four fall out of the 15-minute window before the fifth.
        #expect(throttle.recordFailure(serial: "SN1", now: 900 + 3.5) == .allowed)
        #expect(throttle.check(serial: "SN1", now: 904) == .allowed)
        // Only the failure at 903.5 is in the window now: three more are allowed, the fourth locks out.
        #expect(fail(&throttle, "SN1", times: 3, start: 905) == .allowed)
        #expect(throttle.recordFailure(serial: "SN1", now: 910) == .refused(retryAfter: 60))
    }

    @Test func backoffDoublesUpToOneHour() {
        var throttle = ClaimThrottle()
        var now = 0.0
        var lockouts: [Double] = []
        for _ in 0..<9 {
            fail(&throttle, "SN1", times: 4, start: now)
            guard case .refused(let retryAfter) = throttle.recordFailure(serial: "SN1", now: now + 4) else {
                Issue.record("expected lockout")
                return
            }
            lockouts.append(retryAfter)
            #expect(throttle.check(serial: "SN1", now: now + 4 + retryAfter - 1) != .allowed)
            now += 4 + retryAfter
            #expect(throttle.check(serial: "SN1", now: now) == .allowed)
        }
        #expect(lockouts == [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600])
    }

    @Test func failuresDuringLockoutAreIgnored() {
        var throttle = ClaimThrottle()
        fail(&throttle, "SN1", times: 5, start: 0)
        #expect(throttle.recordFailure(serial: "SN1", now: 10) == .refused(retryAfter: 54))
        #expect(throttle.check(serial: "SN1", now: 64) == .allowed)
    }

    @Test func successResetsFailuresAndBackoff() {
        var throttle = ClaimThrottle()
        fail(&throttle, "SN1", times: 5, start: 0)  // lockout 1: 60 s
        fail(&throttle, "SN1", times: 4, start: 100)
        throttle.recordSuccess(serial: "SN1")
        #expect(throttle.count == 0)
        #expect(throttle.check(serial: "SN1", now: 105) == .allowed)
        #expect(fail(&throttle, "SN1", times: 4, start: 110) == .allowed)
        // Back to the initial backoff, not 120.
        #expect(throttle.recordFailure(serial: "SN1", now: 120) == .refused(retryAfter: 60))
    }

    @Test func idleSerialsAreForgottenAndLoseTheirBackoff() {
        var throttle = ClaimThrottle()
        fail(&throttle, "SN1", times: 5, start: 0)  // locked until 64
        fail(&throttle, "SN2", times: 1, start: 0)
        #expect(throttle.count == 2)
        // Not idle while the lockout lasts, nor within an hour after it.
        throttle.sweep(now: 64 + 3600)
        #expect(throttle.count == 1)  // SN2 (last failure at 0) is gone; SN1's activity ended at 64
        throttle.sweep(now: 64 + 3601)
        #expect(throttle.count == 0)
        fail(&throttle, "SN1", times: 4, start: 10_000)
        #expect(throttle.recordFailure(serial: "SN1", now: 10_004) == .refused(retryAfter: 60))
    }

    @Test func checkForgetsAnIdleSerial() {
        var throttle = ClaimThrottle()
        fail(&throttle, "SN1", times: 2, start: 0)
        #expect(throttle.check(serial: "SN1", now: 3602) == .allowed)
        #expect(throttle.count == 0)
    }

    @Test func capEvictsTheLeastRecentlyActive() {
        var throttle = ClaimThrottle(configuration: .init(maxEntries: 3))
        throttle.recordFailure(serial: "A", now: 1)
        throttle.recordFailure(serial: "B", now: 2)
        throttle.recordFailure(serial: "C", now: 3)
        throttle.recordFailure(serial: "A", now: 4)  // A is now the most recent
        throttle.recordFailure(serial: "D", now: 5)  // full: evicts B
        #expect(throttle.count == 3)
        #expect(Set(throttle.entries.keys) == ["A", "C", "D"])
        throttle.recordFailure(serial: "E", now: 6)  // evicts C
        #expect(Set(throttle.entries.keys) == ["A", "D", "E"])
    }

    @Test func capPrefersDroppingIdleEntries() {
        var throttle = ClaimThrottle(configuration: .init(maxEntries: 3))
        throttle.recordFailure(serial: "A", now: 0)
        throttle.recordFailure(serial: "B", now: 0)
        throttle.recordFailure(serial: "C", now: 5000)
        throttle.recordFailure(serial: "D", now: 5001)  // A and B are idle and both go
        #expect(Set(throttle.entries.keys) == ["C", "D"])
    }

    @Test func memoryStaysBoundedUnderAFlood() {
        var throttle = ClaimThrottle(configuration: .init(maxEntries: 500))
        for i in 0..<5_000 { throttle.recordFailure(serial: "SN\(i)", now: Double(i) * 0.001) }
        #expect(throttle.count <= 500)
        #expect(throttle.entries["SN4999"] != nil)
        #expect(throttle.entries["SN0"] == nil)
    }
}
