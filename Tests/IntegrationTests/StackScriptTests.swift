import Foundation
import Testing

extension IntegrationTests {
    /// The stack script as a fresh clone and CI meet it: no `.stack/`, no port variables.
    @Suite struct StackScript {
        @Test("a fresh checkout's Gateway/stack answers at the default ports without any variable (CI ran it so, and it ended silently)")
        func freshCheckoutUsesDefaultPorts() throws {
            let script = try #require(TestStack.environment["CIP_STACK_SCRIPT"])
            let checkout = NSTemporaryDirectory() + TestStack.uniqueName("fresh-checkout")
            try FileManager.default.createDirectory(atPath: checkout + "/Gateway", withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: checkout) }
            try FileManager.default.copyItem(atPath: script, toPath: checkout + "/Gateway/stack")

            let output = checkout + "/status.txt"
            // Only what a bare CI environment has: the port variables and .stack/env of this run are absent.
            let bare = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": NSTemporaryDirectory()]
            let status = try ChildProcess(["/bin/bash", checkout + "/Gateway/stack", "status"], environment: bare, logPath: output).wait()
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            #expect(status == 0 || status == 3, "stack status exited \(status): \(text)")
            #expect(text.contains("127.0.0.1:54329"), "\(text)")
            #expect(text.contains("127.0.0.1:18830"), "\(text)")
        }
    }
}
