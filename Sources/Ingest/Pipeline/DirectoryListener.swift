import Dispatch
import Logging
import Postgres
import ServiceLifecycle

/// Keeps a `DeviceDirectory` coherent with the registry: listens for `NOTIFY cip_devices` (sent by a trigger on
/// every change to `devices`, by any gateway instance or by hand) and re-reads the named devices. After a lost
/// connection, and every `fullReloadInterval`, it reloads the whole directory, so a missed notification heals.
public struct DirectoryListener: Service {
    let url: String
    let directory: DeviceDirectory
    let logger: Logger
    let fullReloadInterval: Duration

    public init(url: String, directory: DeviceDirectory, logger: Logger, fullReloadInterval: Duration = .seconds(60)) {
        self.url = url
        self.directory = directory
        self.logger = logger
        self.fullReloadInterval = fullReloadInterval
    }

    public func run() async throws {
        let queue = DispatchQueue(label: "cip.directory-listener")
        var connection: PostgresConnection?
        var lastFullReload = ContinuousClock.now
        var failures = 0
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                let live: PostgresConnection
                if let connection { live = connection } else {
                    live = try await runBlocking(on: queue) { [url] in
                        let opened = try PostgresConnection(url: url)
                        try opened.execute("LISTEN cip_devices")
                        return opened
                    }
                    // Listening before the full reload: nothing changed in between goes unseen.
                    try await runBlocking(on: queue) { [directory] in try directory.reload(from: live) }
                    lastFullReload = .now
                    connection = live
                    if failures > 0 { logger.info("device directory listener reconnected") }
                    failures = 0
                }
                let notifications = try await runBlocking(on: queue) { try live.notifications(timeout: 0.5) }
                let ids = Set(notifications.map(\.payload))
                if !ids.isEmpty {
                    try await runBlocking(on: queue) { [directory] in try directory.refresh(ids, from: live) }
                }
                if ContinuousClock.now - lastFullReload >= fullReloadInterval {
                    try await runBlocking(on: queue) { [directory] in try directory.reload(from: live) }
                    lastFullReload = .now
                }
            } catch {
                connection = nil
                failures += 1
                if failures == 1 || failures % 30 == 0 {
                    logger.warning("device directory listener lost the database; retrying", metadata: ["error": "\(error)"])
                }
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            }
        }
        connection?.close()
    }

}
