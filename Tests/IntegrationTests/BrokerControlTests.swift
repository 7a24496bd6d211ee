import Foundation
import Registry
import ServiceLifecycle
import Postgres
import Testing

extension IntegrationTests {
    /// The control connection's requests end with their caller: a request the broker never answers fails at its
    /// deadline, and a cancelled caller stops waiting at once.
    @Suite(.serialized) struct BrokerControlRequests {
        @Test("an unanswered request fails at its deadline; a cancelled caller stops waiting", .timeLimit(.minutes(1)))
        func requestsEndWithTheirCaller() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            // The bootstrap account may not administer the broker: its requests are dropped, never answered.
            let control = try BrokerControl(
                configuration: TestStack.mqtt(TestStack.uniqueName("control-test"), TestStack.bootstrapAccount),
                devices: PostgresDeviceRepository(pool: PostgresPool(url: database.url, size: 1, logger: TestStack.logger)),
                logger: TestStack.logger)
            let group = ServiceGroup(services: [control], logger: TestStack.logger)
            let running = Task { try await group.run() }
            defer { running.cancel() }
            #expect(await eventually(timeout: 10) { control.isConnected })
            let request: [[String: Any]] = [["command": "getDefaultACLAccess"]]
            let clock = ContinuousClock()

            var deadlineError: (any Error)?
            let atDeadline = await clock.measure {
                do { _ = try await control.send(request, timeout: .milliseconds(300)) } catch { deadlineError = error }
            }
            #expect("\(deadlineError.map { "\($0)" } ?? "answered")".contains("did not answer"))
            #expect(atDeadline < .seconds(5))

            let waiting = Task { try await control.send(request, timeout: .seconds(60)) }
            try await Task.sleep(for: .milliseconds(200))
            waiting.cancel()
            var outcome: Result<[DynamicSecurityCommand.Response], any Error>?
            let cancelled = await clock.measure { outcome = await waiting.result }
            #expect(cancelled < .seconds(5), "stopped waiting, not left to the 60 s deadline")
            #expect(throws: CancellationError.self) { try outcome?.get() }

            await group.triggerGracefulShutdown()
            try await running.value
        }
    }
}
