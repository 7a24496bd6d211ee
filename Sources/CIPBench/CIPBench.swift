import ArgumentParser

/// `cip-bench`: the tools around the gateway, kept out of the product binary: the demo fleet and the benchmarks.
/// They share the gateway's composition root (`Composition`), so the benchmarks start the same services `serve` runs.
@main
struct CIPBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cip-bench",
        abstract: "Tools around the CIP gateway: a demo fleet of devices and the benchmarks (see BENCHMARKS.md).",
        subcommands: [Simulate.self, Bench.self, BenchAdapters.self, BenchRegistry.self, BenchAlarms.self, BenchAudit.self, BenchLocks.self, BenchGeofence.self, BenchZones.self, BenchRetention.self]
    )
}
