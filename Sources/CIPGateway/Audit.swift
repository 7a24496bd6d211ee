import Access
import ArgumentParser
import Composition
import Foundation
import Logging
import Postgres

/// `cip-gateway audit verify`: recomputes the audit trail's hash chain and names the first broken link.
struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The audit trail: verify its hash chain.", subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the audit trail's hash chain from its anchor to its head; exit 1 at the first broken link.")

        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            var logger = Logger(label: "cip.audit")
            logger.logLevel = .warning
            let pool = PostgresPool(url: database.url, size: 1, logger: logger)
            let finding = try await PostgresAuditChainReader(pool: pool).verify()
            await pool.shutDown()
            print(finding.description)
            if case .broken = finding { throw ExitCode(1) }
        }
    }
}
