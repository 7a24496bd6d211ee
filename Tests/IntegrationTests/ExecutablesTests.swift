import Foundation
import Testing

extension IntegrationTests {
    /// The two executables: `cip-gateway` is the product only; benchmarks and the demo fleet live in `cip-bench`.
    @Suite struct Executables {
        @Test("cip-gateway lists exactly the product's subcommands: no benchmark, no simulator")
        func gatewayIsTheProductOnly() throws {
            let subcommands = try Self.subcommands(of: GatewayProcess.binary)
            #expect(subcommands == ["serve", "migrate", "devices", "clients", "audit"])
        }

        @Test("cip-bench lists the benchmarks and the demo fleet simulator")
        func benchListsBenchmarksAndSimulate() throws {
            let subcommands = try Self.subcommands(of: GatewayProcess.benchBinary)
            #expect(subcommands == ["simulate", "bench", "bench-api", "bench-replay", "bench-adapters", "bench-registry", "bench-alarms", "bench-audit", "bench-locks", "bench-geofence", "bench-zones", "bench-retention", "bench-memory", "bench-outage", "bench-fleet"])
        }

        @Test("cip-bench's synchronous entry point (for valgrind) still exits with the command's status: 0 for help, 64 for a bad option")
        func benchExitStatuses() throws {
            let output = NSTemporaryDirectory() + TestStack.uniqueName("bench-exit") + ".txt"
            defer { try? FileManager.default.removeItem(atPath: output) }
            #expect(try ChildProcess([GatewayProcess.benchBinary, "bench-api", "--help"], environment: TestStack.environment,
                                     logPath: output).wait() == 0)
            let status = try ChildProcess([GatewayProcess.benchBinary, "bench-api", "--routes", "latest,nope"],
                                          environment: TestStack.environment, logPath: output).wait()
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            #expect(status == 64, "\(text)")
            #expect(text.contains("unknown route nope"), "\(text)")
        }

        /// The names under SUBCOMMANDS in `<binary> --help`, in order.
        static func subcommands(of binary: String) throws -> [String] {
            let output = NSTemporaryDirectory() + TestStack.uniqueName("help") + ".txt"
            defer { try? FileManager.default.removeItem(atPath: output) }
            let status = try ChildProcess([binary, "--help"], environment: TestStack.environment, logPath: output).wait()
            let help = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            guard status == 0 else { throw TestFailure("\(binary) --help exited \(status): \(help)") }
            let lines = help.split(separator: "\n", omittingEmptySubsequences: false)
            guard let start = lines.firstIndex(of: "SUBCOMMANDS:") else { throw TestFailure("no SUBCOMMANDS in: \(help)") }
            // A name stands two spaces in; a wrapped abstract further in; a blank line ends the list.
            return lines[(start + 1)...].prefix { !$0.isEmpty }
                .filter { $0.hasPrefix("  ") && !$0.hasPrefix("   ") }
                .compactMap { $0.split(separator: " ").first.map(String.init) }
        }
    }
}
