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
        let connection = try PostgresConnection(url: database.url)
        let migrator = Migrator(migrations: try Migration.bundled(), logger: logger)
        let applied = try migrator.migrate(connection)
        try Migrator.ensurePartitions(connection)
        print(applied.isEmpty ? "schema is up to date" : "applied migrations: \(applied.map(String.init).joined(separator: ", "))")
    }
}
