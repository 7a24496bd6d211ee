import Foundation
import Logging
import Postgres

/// One versioned schema change, shipped as `Migrations/NNNN_name.sql`.
public struct Migration: Sendable, Equatable {
    public var version: Int
    public var name: String
    public var sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// The migrations bundled with the gateway, in version order.
    public static func bundled() throws -> [Migration] {
        guard let directory = Bundle.module.url(forResource: "Migrations", withExtension: nil) else {
            throw MigrationError("the Migrations folder is missing from the gateway's resources")
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".sql") }
        let migrations = try files.map { file -> Migration in
            let stem = file.dropLast(4)
            guard let underscore = stem.firstIndex(of: "_"), let version = Int(stem[..<underscore]) else {
                throw MigrationError("migration file \(file) is not named NNNN_name.sql")
            }
            let sql = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            return Migration(version: version, name: String(stem[stem.index(after: underscore)...]), sql: sql)
        }.sorted { $0.version < $1.version }
        for (previous, next) in zip(migrations, migrations.dropFirst()) where previous.version == next.version {
            throw MigrationError("two migrations have version \(next.version): \(previous.name), \(next.name)")
        }
        return migrations
    }
}

public struct MigrationError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Applies pending migrations, each once and in its own transaction, recorded in `schema_migrations`.
/// An advisory lock keeps two gateways that start together from racing.
public struct Migrator: Sendable {
    public let migrations: [Migration]
    private let logger: Logger

    public init(migrations: [Migration], logger: Logger) {
        self.migrations = migrations
        self.logger = logger
    }

    /// Returns the versions it applied. Run by the database's owner; the gateway's own role (least privilege) may
    /// call it too, and it then succeeds only when nothing is pending.
    @discardableResult
    public func migrate(_ connection: PostgresConnection) throws -> [Int] {
        let known: Bool = try connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS known").single().decode("known")
        if known {
            let done = Set(try connection.query("SELECT version FROM schema_migrations").all.map { try $0.decode("version", as: Int.self) })
            let pending = migrations.filter { !done.contains($0.version) }
            if pending.isEmpty { return [] }
            let owner: Bool = try connection.query(
                "SELECT pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = 'schema_migrations'::regclass), 'USAGE') AS owner"
            ).single().decode("owner")
            guard owner else {
                throw MigrationError("""
                    \(pending.count) migration(s) pending (\(pending.map { "\($0.version)_\($0.name)" }.joined(separator: ", "))) and \
                    this database user does not own the schema: run `cip-gateway migrate` with the owner's DATABASE_URL first
                    """)
            }
        } else {
            let mayCreate: Bool = try connection.query("SELECT has_schema_privilege('public', 'CREATE') AS may").single().decode("may")
            guard mayCreate else {
                throw MigrationError("""
                    the database has no schema yet and this database user may not create one: \
                    run `cip-gateway migrate` with the owner's DATABASE_URL first
                    """)
            }
            try connection.execute("""
                CREATE TABLE schema_migrations (
                    version    integer PRIMARY KEY,
                    name       text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """)
        }
        var applied: [Int] = []
        for migration in migrations {
            let didApply = try connection.transaction { connection -> Bool in
                // Held until the end of this transaction.
                try connection.query("SELECT pg_advisory_xact_lock(7243001)")
                let existing = try connection.query("SELECT 1 FROM schema_migrations WHERE version = $1",
                                                    [migration.version])
                guard existing.isEmpty else { return false }
                try connection.execute(migration.sql)
                // Every table gets its rule for the gateway's role in the migration that adds it, or the migration fails.
                try connection.execute("""
                    DO $$ BEGIN
                        IF to_regprocedure('cip_apply_gateway_grants()') IS NOT NULL THEN PERFORM cip_apply_gateway_grants(); END IF;
                    END $$
                    """)
                try connection.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                                     [migration.version, migration.name])
                return true
            }
            if didApply {
                applied.append(migration.version)
                logger.info("applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
            }
        }
        return applied
    }

    /// Creates the day partitions of the time-partitioned tables from yesterday to `daysAhead` days ahead.
    public static func ensurePartitions(_ connection: PostgresConnection, daysAhead: Int = 7) throws {
        for table in ["observations", "raw_messages"] {
            try connection.query(
                "SELECT cip_ensure_daily_partitions($1::regclass, (now() AT TIME ZONE 'UTC')::date - 1, (now() AT TIME ZONE 'UTC')::date + $2::integer)",
                [table, daysAhead + 1])
        }
    }
}
