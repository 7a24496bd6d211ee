import Access
import Synchronization
import Testing

@testable import API

/// Token lookups under guessing: unknown tokens are remembered without evicting valid ones, and lookups are
/// bounded in number, running and waiting.
@Suite struct AuthenticatorTests {
    final class Lookup: TokenLookup, @unchecked Sendable {
        struct Counts { var calls: [String: Int] = [:]; var running = 0; var maxRunning = 0 }
        let counts = Mutex(Counts())
        let delay: Duration
        init(delay: Duration = .zero) { self.delay = delay }

        func identity(token: String) async throws -> ClientIdentity? {
            counts.withLock { $0.calls[token, default: 0] += 1; $0.running += 1; $0.maxRunning = max($0.maxRunning, $0.running) }
            defer { counts.withLock { $0.running -= 1 } }
            if delay > .zero { try await Task.sleep(for: delay) }
            return token == "good" || token == "fresh"
                ? ClientIdentity(name: token, roles: [.integrator], tenants: nil, clearance: 1) : nil
        }

        func calls(_ token: String) -> Int { counts.withLock { $0.calls[token] ?? 0 } }

        /// "good" and "fresh" are tokens in use.
        func activeTokenHashes() async throws -> Set<[UInt8]> { [ClientToken.hash("good"), ClientToken.hash("fresh")] }
    }

    @Test("an unknown token is looked up once, and a flood of distinct guesses does not evict a valid token")
    func negativeCacheIsBoundedAndSeparate() async throws {
        let lookup = Lookup()
        var limits = CachingClientAuthenticator.Limits()
        limits.ttl = .seconds(60)
        limits.unknownCapacity = 1_000
        let authenticator = CachingClientAuthenticator(lookup: lookup, limits: limits)
        #expect(try await authenticator.identity(token: "good")?.name == "good")
        for _ in 0..<50 { #expect(try await authenticator.identity(token: "guess") == nil) }
        #expect(lookup.calls("guess") == 1)
        for index in 0..<12_000 { _ = try await authenticator.identity(token: "guess-\(index)") }
        #expect(try await authenticator.identity(token: "good")?.name == "good")
        #expect(lookup.calls("good") == 1, "the valid token must still be cached after 12,000 guesses")
        // Bounded: the oldest guesses were forgotten (asked again), the newest are still remembered.
        _ = try await authenticator.identity(token: "guess-0")
        _ = try await authenticator.identity(token: "guess-11999")
        #expect(lookup.calls("guess-0") == 2 && lookup.calls("guess-11999") == 1)
    }

    @Test("a token in use but never seen by this process (after a restart) goes ahead of a flood of guesses")
    func aFirstRequestOfAValidClientIsNotRefusedInAFlood() async throws {
        let lookup = Lookup(delay: .milliseconds(20))
        var limits = CachingClientAuthenticator.Limits()
        limits.maxConcurrentLookups = 1
        limits.maxWaitingLookups = 4
        let authenticator = CachingClientAuthenticator(lookup: lookup, limits: limits)
        let outcome = await withTaskGroup(of: (String, String).self) { group in
            for index in 0..<200 {
                group.addTask {
                    do { return ("guess", try await authenticator.identity(token: "flood-\(index)") == nil ? "unknown" : "valid") }
                    catch { return ("guess", "busy") }
                }
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(30))  // in the middle of the flood
                do { return ("fresh", try await authenticator.identity(token: "fresh")?.name ?? "unknown") }
                catch { return ("fresh", "busy") }
            }
            return await group.reduce(into: [String: [String]]()) { $0[$1.0, default: []].append($1.1) }
        }
        #expect(outcome["fresh"] == ["fresh"], "the valid token was answered, not refused")
        #expect(outcome["guess"]?.contains("busy") == true, "the flood did overflow the waiting room")
    }

    @Test("parallel guesses run at most maxConcurrentLookups at a time; beyond the waiting room they are refused")
    func lookupsAreBounded() async throws {
        let lookup = Lookup(delay: .milliseconds(20))
        var limits = CachingClientAuthenticator.Limits()
        limits.maxConcurrentLookups = 2
        limits.maxWaitingLookups = 8
        let authenticator = CachingClientAuthenticator(lookup: lookup, limits: limits)
        let outcomes = await withTaskGroup(of: String.self) { group in
            for index in 0..<200 {
                group.addTask {
                    do { return try await authenticator.identity(token: "flood-\(index)") == nil ? "unknown" : "valid" }
                    catch is AuthenticationBusy { return "busy" }
                    catch { return "error" }
                }
            }
            return await group.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
        }
        #expect(lookup.counts.withLock { $0.maxRunning } <= 2)
        #expect((outcomes["busy"] ?? 0) > 100 && outcomes["valid"] == nil && outcomes["error"] == nil, "\(outcomes)")
        #expect(try await authenticator.identity(token: "good")?.name == "good")
    }
}
