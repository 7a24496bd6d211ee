import ArgumentParser
import Dispatch

/// `cip-bench`: the tools around the gateway, kept out of the product binary: the demo fleet and the benchmarks.
/// They share the gateway's composition root (`Composition`), so the benchmarks start the same services `serve` runs.
struct CIPBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cip-bench",
        abstract: "Tools around the CIP gateway: a demo fleet of devices and the benchmarks (see BENCHMARKS.md).",
        subcommands: [Simulate.self, Bench.self, BenchAPI.self, BenchReplay.self, BenchAdapters.self, BenchRegistry.self, BenchAlarms.self, BenchAudit.self, BenchLocks.self, BenchGeofence.self, BenchZones.self, BenchRetention.self, BenchMemory.self, BenchOutage.self, BenchFleet.self]
    )
}

/// A synchronous entry point that waits for the command on a semaphore. An `async` main parks the main thread in
/// libdispatch's `sigsuspend`, which valgrind 3.19 cannot follow (it aborts), and the instruction counts of
/// `valgrind --tool=callgrind` are how BENCHMARKS.md measures CPU work on a noisy machine.
@main
enum CIPBenchMain {
    static func main() {
        let done = DispatchSemaphore(value: 0)
        // Detached: a task started here would inherit the main actor, whose thread is the one waiting.
        Task.detached {
            await CIPBench.main()
            done.signal()
        }
        done.wait()
    }
}
