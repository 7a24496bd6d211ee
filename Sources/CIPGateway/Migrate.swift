import ArgumentParser
import Composition
import Logging
import Postgres
import Storage

/// `cip-gateway migrate`: applies pending schema migrations and creates upcoming partitions.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending database migrations.")

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        Observability.bootstrapLogging()
        let logger = Logger(label: "cip.migrate")
        let pool = PostgresPool(url: database.url, size: 1, logger: logger)
        let migrator = Migrator(migrations: try Migration.bundled(), logger: logger)
        let applied = try await pool.withConnection { connection in
            let applied = try migrator.migrate(connection)
            try Migrator.ensurePartitions(connection)
            return applied
        }
        await pool.shutDown()
        print(applied.isEmpty ? "schema is up to date" : "applied migrations: \(applied.map(String.init).joined(separator: ", "))")
    }
}
