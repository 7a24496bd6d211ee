import API
import ArgumentParser
import Composition
import Foundation
import Logging
import Models
import Postgres
import Registry

/// `cip-gateway devices ...`: device administration from the command line.
struct Devices: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Administer registered devices.", subcommands: [Import.self])

    /// `cip-gateway devices import FILE.csv [--atomic]`
    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register devices from a CSV file and print a per-row report (claim codes are shown once).")

        @OptionGroup var database: DatabaseOptions

        @Argument(help: "CSV with a header: device_id,serial_number,type,vendor,model,firmware_version,tenant,placement,care_recipient_ref,tags")
        var file: String

        @Flag(help: "Register nothing unless every row is valid.")
        var atomic = false

        @Option(help: "Days a claim code stays usable.")
        var claimValidityDays: Double = 30

        func run() async throws {
            Observability.bootstrapLogging()
            let logger = Logger(label: "cip.devices")
            guard let data = FileManager.default.contents(atPath: file) else {
                throw StartupError(description: "cannot read \(file)")
            }
            let catalogue = try Catalogue.loadDefault()
            let pool = PostgresPool(url: database.url, size: 1, logger: logger)
            let registry = DeviceRegistry(repository: PostgresDeviceRepository(pool: pool),
                                          knownTypes: Set(catalogue.deviceTypes.map(\.id)),
                                          claimValiditySeconds: claimValidityDays * 86_400, logger: logger)
            let started = Date()
            let result: ImportReportBody
            do {
                result = ImportReportBody(try await registry.importCSV(Array(data), atomic: atomic, actor: "cli"))
            } catch let error as RegistryError {
                throw StartupError(description: "\(file): \(error.description)")
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
            FileHandle.standardError.write(Data(String(format: "registered %d, rejected %d in %.2f s\n",
                                                       result.registered.count, result.rejected.count,
                                                       Date().timeIntervalSince(started)).utf8))
            if !result.rejected.isEmpty { throw ExitCode(2) }
        }
    }
}
