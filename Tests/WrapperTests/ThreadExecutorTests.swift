import Foundation
import Postgres
import Testing

/// `ThreadExecutor`: the alarm path's services run on it as their task executor, batch normalization through `run`.
@Suite struct ThreadExecutorTests {
    @Test("a task that prefers it runs every step on its thread, before and after suspensions")
    func tasksStayOnTheThread() async {
        // The executor's thread is the only one at this nice level: a step anywhere else shows the process's own.
        let base = currentNice()
        let executor = ThreadExecutor(name: "cip-test-exec", nice: 7)
        let levels = await withTaskExecutorPreference(executor) { () async -> [Int32] in
            var levels = [currentNice()]
            for _ in 0..<5 {
                try? await Task.sleep(for: .milliseconds(2))
                await Task.yield()
                levels.append(currentNice())
            }
            return levels
        }
        #expect(levels == Array(repeating: min(base + 7, 19), count: 6))
        // And nothing else runs there: a task without the preference is elsewhere.
        #expect(await Task.detached { currentNice() }.value == base)
    }

    @Test("run returns the body's result, on its thread at the nice level asked for; every job runs once")
    func runOnTheThread() async {
        let base = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        let executor = ThreadExecutor(name: "cip-test-nice", nice: 5)
        let nice = await executor.run { currentNice() }
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
        // Its threads are told from every other thread of the test process (other suites run beside this one) by a
        // nice level nothing else uses.
        func threadsAtNice11() -> Int {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
            return tasks.filter { task in
                guard let stat = try? String(contentsOfFile: "/proc/self/task/\(task)/stat", encoding: .utf8),
                      let close = stat.lastIndex(of: ")") else { return false }
                // After "pid (comm)": state is field 3, nice field 19.
                let fields = stat[stat.index(after: close)...].split(separator: " ")
                return fields.count > 16 && fields[16] == "\(min(currentNice() + 11, 19))"
            }.count
        }
        #expect(threadsAtNice11() == 0)
        do {
            let executor = ThreadExecutor(name: "cip-test-short", nice: 11)
            _ = await executor.run { 1 }
            #expect(threadsAtNice11() == 1)
        }
        for _ in 0..<20 {
            let executor = ThreadExecutor(name: "cip-test-short", nice: 11)
            _ = await executor.run { 1 }
        }
        // Each thread wakes on its executor's end and returns; allow them a moment.
        var left = threadsAtNice11()
        for _ in 0..<250 where left > 0 {
            try await Task.sleep(for: .milliseconds(20))
            left = threadsAtNice11()
        }
        #expect(left == 0)
    }
}

/// The calling thread's nice level (Linux: a thread's own).
private func currentNice() -> Int32 { getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0) }

private final class Order: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [Int] = []
    func append(_ value: Int) { lock.lock(); list.append(value); lock.unlock() }
    var values: [Int] { lock.lock(); defer { lock.unlock() }; return list }
}
