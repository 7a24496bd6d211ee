/// The throttle's answer to "may this serial try a claim code now?".
public enum ThrottleDecision: Sendable, Equatable {
    case allowed
    /// Refused; the serial may try again in `retryAfter` seconds.
    case refused(retryAfter: Double)
}

/// Rate limiting of repeated claim failures per serial number. Onboarding uses it only for wrong codes: a
/// lockout answers wrong codes with a retry-after, but never refuses the right one (`ClaimEvaluation` explains
/// the trade-off), so a flood of bad claims cannot keep a genuine device out. A value type with an injected clock: every call
/// takes `now` (seconds, any monotonic-enough epoch), so it is deterministic and testable. The owner (an actor or a
/// mutex-protected property) serializes access.
///
/// Rules (defaults in `Configuration`):
/// - `maxFailures` failures within a sliding `window` lock the serial out for a backoff: `initialBackoff`, doubling
///   with each further lockout up to `maxBackoff`. A lockout clears the failure window, so after it expires the
///   serial again gets `maxFailures` attempts before the next (longer) lockout.
/// - `recordSuccess` forgets the serial entirely (failures and backoff level).
/// - Memory is bounded: a serial idle for longer than `idleExpiry` (no failure and no lockout running) is forgotten,
///   which also resets its backoff level; at most `maxEntries` serials are tracked, evicting the least recently
///   active ones first when full. (Under a flood of more than `maxEntries` distinct serials an attacker could push a
///   locked-out serial out of the table; the ≥ 80-bit claim codes make guessing hopeless regardless, so the throttle
///   is a brake on noise and log spam, not the primary defence.)
public struct ClaimThrottle: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var maxFailures: Int
        public var window: Double
        public var initialBackoff: Double
        public var maxBackoff: Double
        public var idleExpiry: Double
        public var maxEntries: Int

        public init(
            maxFailures: Int = 5,
            window: Double = 15 * 60,
            initialBackoff: Double = 60,
            maxBackoff: Double = 60 * 60,
            idleExpiry: Double = 60 * 60,
            maxEntries: Int = 100_000
        ) {
            precondition(maxFailures >= 1 && maxEntries >= 1, "maxFailures and maxEntries must be at least 1")
            self.maxFailures = maxFailures
            self.window = window
            self.initialBackoff = initialBackoff
            self.maxBackoff = maxBackoff
            self.idleExpiry = idleExpiry
            self.maxEntries = maxEntries
        }
    }

    struct Entry: Sendable {
        /// Failure times inside the current window, oldest first; never more than `maxFailures`.
        var failures: [Double] = []
        /// End of the running lockout, if any.
        var lockedUntil: Double?
        /// Lockouts so far (drives the doubling).
        var lockouts = 0
        /// Latest of the last failure and the end of the lockout: idleness is measured from here.
        var lastActivity: Double
    }

    public let configuration: Configuration
    private(set) var entries: [String: Entry] = [:]

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Serials currently tracked.
    public var count: Int { entries.count }

    /// Whether `serial` may attempt a claim now. Forgets the serial if it has been idle long enough.
    public mutating func check(serial: String, now: Double) -> ThrottleDecision {
        guard let entry = entries[serial] else { return .allowed }
        if isIdle(entry, now: now) {
            entries[serial] = nil
            return .allowed
        }
        if let until = entry.lockedUntil, until > now {
            return .refused(retryAfter: until - now)
        }
        return .allowed
    }

    /// Counts a wrong claim code for `serial`. Returns the decision for the serial's next attempt. A failure
    /// reported while a lockout is running (the caller should have checked first) is ignored.
    @discardableResult
    public mutating func recordFailure(serial: String, now: Double) -> ThrottleDecision {
        var entry: Entry
        if let existing = entries[serial], !isIdle(existing, now: now) {
            entry = existing
        } else {
            entries[serial] = nil
            makeRoom(now: now)
            entry = Entry(lastActivity: now)
        }

        if let until = entry.lockedUntil {
            if until > now {
                entries[serial] = entry
                return .refused(retryAfter: until - now)
            }
            entry.lockedUntil = nil
        }

        entry.failures.removeAll { now - $0 >= configuration.window }
        entry.failures.append(now)
        entry.lastActivity = max(entry.lastActivity, now)

        var decision = ThrottleDecision.allowed
        if entry.failures.count >= configuration.maxFailures {
            let backoff = backoff(afterLockouts: entry.lockouts)
            entry.lockouts += 1
            entry.lockedUntil = now + backoff
            entry.lastActivity = now + backoff
            entry.failures.removeAll()
            decision = .refused(retryAfter: backoff)
        }
        entries[serial] = entry
        return decision
    }

    /// A correct claim: forget everything about `serial`.
    public mutating func recordSuccess(serial: String) {
        entries[serial] = nil
    }

    /// Drops every idle serial. `recordFailure` calls this when the table is full; an owner may also call it
    /// periodically.
    public mutating func sweep(now: Double) {
        entries = entries.filter { !isIdle($0.value, now: now) }
    }

    /// Length of the lockout that follows `lockouts` earlier lockouts.
    func backoff(afterLockouts lockouts: Int) -> Double {
        var value = configuration.initialBackoff
        for _ in 0..<min(lockouts, 62) where value < configuration.maxBackoff {
            value *= 2
        }
        return min(value, configuration.maxBackoff)
    }

    private func isIdle(_ entry: Entry, now: Double) -> Bool {
        now - entry.lastActivity > configuration.idleExpiry
    }

    /// Ensures there is room for one more entry: drop idle entries, then, if still full, evict the least recently
    /// active ~10% (at least one) in one go so the O(n log n) pass is amortized over many insertions.
    private mutating func makeRoom(now: Double) {
        guard entries.count >= configuration.maxEntries else { return }
        sweep(now: now)
        guard entries.count >= configuration.maxEntries else { return }
        let evictCount = max(1, configuration.maxEntries / 10, entries.count - configuration.maxEntries + 1)
        let oldest = entries.sorted { $0.value.lastActivity < $1.value.lastActivity }.prefix(evictCount)
        for (serial, _) in oldest {
            entries[serial] = nil
        }
    }
}
