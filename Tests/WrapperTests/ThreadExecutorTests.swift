import Foundation
import Postgres
import Testing

/// `ThreadExecutor`: the alarm path's services run on it as their task executor, batch normalization through `run`.
@Suite struct ThreadExecutorTests {
    @Test("a task that prefers it runs every step on its thread, before and after suspensions")
    func tasksStayOnTheThread() async {
        let executor = ThreadExecutor(name: "cip-test-exec")
        let names = await withTaskExecutorPreference(executor) { () async -> [String] in
            var names = [currentThreadName()]
            for _ in 0..<5 {
                try? await Task.sleep(for: .milliseconds(2))
                await Task.yield()
                names.append(currentThreadName())
            }
            return names
        }
        #expect(names == Array(repeating: "cip-test-exec", count: 6))
        // And nothing else runs there: a task without the preference is elsewhere.
        #expect(await Task.detached { currentThreadName() }.value != "cip-test-exec")
    }

    @Test("run returns the body's result, on the thread, at the nice level asked for; every job runs once")
    func runOnTheThread() async {
        let base = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        let executor = ThreadExecutor(name: "cip-test-nice", nice: 5)
        async let first = executor.run { (currentThreadName(), getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)) }
        let (name, nice) = await first
        #expect(name == "cip-test-nice")
        #expect(nice == min(base + 5, 19))
        // This thread's own level is untouched.
        #expect(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0) == base)
        let order = Order()
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<50 { group.addTask { _ = await executor.run { order.append(index) } } }
        }
        #expect(order.values.sorted() == Array(0..<50))
    }

    @Test("an executor nobody holds ends its thread")
    func endsWithItsOwner() async throws {
        func threads() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? 0 }
        let before = threads()
        for _ in 0..<20 {
            let executor = ThreadExecutor(name: "cip-test-short")
            _ = await executor.run { 1 }
        }
        // Each thread wakes on its executor's end and returns; allow the last ones a moment.
        var after = threads()
        for _ in 0..<100 where after > before + 2 {
            try await Task.sleep(for: .milliseconds(20))
            after = threads()
        }
        #expect(after <= before + 2, "threads before \(before), after \(after)")
    }
}

/// The calling thread's name as the kernel has it (ps, top -H). A synchronous function: `Thread.current` is
/// unavailable in async code.
private func currentThreadName() -> String {
    let name = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
    return name.trimmingCharacters(in: .newlines)
}

private final class Order: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [Int] = []
    func append(_ value: Int) { lock.lock(); list.append(value); lock.unlock() }
    var values: [Int] { lock.lock(); defer { lock.unlock() }; return list }
}
