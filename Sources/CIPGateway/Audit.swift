import Access
import ArgumentParser
import Composition
import Foundation
import Logging
import Models
import Postgres

/// `cip-gateway audit verify`: recomputes the audit trail's hash chain and names the first broken link.
struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The audit trail: verify its hash chain.", subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the audit trail's hash chain from its anchor to its head; exit 1 at the first broken link.")

        @OptionGroup var database: DatabaseOptions

        @Option(name: .customLong("known"),
                help: "An entry's id:hash recorded outside the database earlier (the head this command printed); repeatable. The owner of the database could rewrite the whole chain; not these.")
        var known: [String] = []

        func run() async throws {
            var logger = Logger(label: "cip.audit")
            logger.logLevel = .warning
            let anchors = try known.map { text -> (id: Int64, hash: [UInt8]) in
                let parts = text.split(separator: ":")
                guard parts.count == 2, let id = Int64(parts[0]), let hash = Hex.decode(String(parts[1])), hash.count == 32 else {
                    throw ValidationError("--known \(text): expected <id>:<64 hex digits>")
                }
                return (id, hash)
            }
            let pool = PostgresPool(url: database.url, size: 1, logger: logger)
            let reader = PostgresAuditChainReader(pool: pool)
            let finding = try await reader.verify(known: anchors)
            await pool.shutDown()
            print(finding.description)
            if case .broken = finding { throw ExitCode(1) }
        }
    }
}
