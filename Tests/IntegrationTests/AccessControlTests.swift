import Foundation
import Testing

extension IntegrationTests {
    /// Bearer tokens and roles on a real gateway process: 401 without a valid token, 403 without the role;
    /// rotation and revocation take effect.
    @Suite(.serialized) struct AccessControl {
        @Test("tokens and roles guard every tier; rotated and revoked tokens stop working")
        func tokensAndRoles() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let gateway = GatewayProcess(databaseURL: database.url)
            defer { gateway.cleanUp() }
            try gateway.start()
            try await gateway.waitUntilReady()
            let admin = try gateway.createClient(name: "admin", roles: "device-admin", clearance: 2)
            let integrator = try gateway.createClient(name: "integration", roles: "integrator", clearance: 1)
            let operatorToken = try gateway.createClient(name: "night-team", roles: "alarm-operator", clearance: 3)

            // Open: health, readiness, the document, the console page; metrics from loopback.
            for path in ["/healthz", "/readyz", "/openapi.json", "/console/", "/metrics"] {
                #expect(try gateway.httpGet(path, token: "").status == 200, "\(path)")
            }
            // Load balancers probe with HEAD, without a token.
            for path in ["/healthz", "/readyz"] {
                #expect(try SimpleHTTP.request("HEAD", port: gateway.httpPort, path: path, body: nil).status == 200, "HEAD \(path)")
            }
            // No token, a wrong one: 401 as problem+json with WWW-Authenticate.
            let missing = try SimpleHTTP.request("GET", port: gateway.httpPort, path: "/iot/v1/devices", body: nil)
            #expect(missing.status == 401 && missing.body.contains("urn:cip:problem:unauthorized"))
            #expect(try gateway.httpGet("/iot/v1/devices", token: "cip_not-a-token").status == 401)
            // The right role, the wrong role.
            #expect(try gateway.httpGet("/iot/v1/devices", token: admin).status == 200)
            let forbidden = try gateway.httpGet("/iot/v1/devices", token: integrator)
            #expect(forbidden.status == 403 && forbidden.body.contains("device-admin"))
            #expect(try gateway.httpGet("/integration/v1/models", token: integrator).status == 200)
            #expect(try gateway.httpGet("/integration/v1/models", token: admin).status == 403)
            #expect(try gateway.httpGet("/integration/v1/alarms", token: integrator).status == 200)
            #expect(try gateway.httpSend("POST", "/integration/v1/alarms/1/acknowledge", json: #"{"operator":"x"}"#, token: integrator).status == 403)
            #expect(try gateway.httpSend("POST", "/integration/v1/alarms/1/acknowledge", json: #"{"operator":"x"}"#, token: operatorToken).status == 404)

            // The decision is the matched route's, over real sockets: a doubled slash routes like the canonical path
            // and is checked like it (these three answered 200 when the policy matched raw prefixes).
            let openData = try gateway.createClient(name: "public", roles: "open-data", clearance: 1)
            #expect(try gateway.httpGet("//iot/v1/devices", token: openData).status == 403)
            #expect(try gateway.httpSend("POST", "//iot/v1/devices/sensor-004/suspend", json: "{}", token: openData).status == 403)
            #expect(try gateway.httpGet("/integration//v1/audit", token: integrator).status == 403)
            #expect(try gateway.httpGet("//iot/v1/devices/", token: admin).status == 200)
            // Unknown routes: 404 to any valid token, 401 without one.
            let unknown = try gateway.httpGet("/iot/v1/nothing-here", token: openData)
            #expect(unknown.status == 404 && unknown.body.contains("no resource at"))
            #expect(try SimpleHTTP.request("GET", port: gateway.httpPort, path: "/iot/v1/nothing-here", body: nil).status == 401)

            // Rotation: the old token stops working (within the 5 s cache), the new one works.
            let rotated = try runCLI(gateway, ["clients", "rotate", "--name", "admin"])
            try await Task.sleep(for: .seconds(6))
            #expect(try gateway.httpGet("/iot/v1/devices", token: admin).status == 401)
            #expect(try gateway.httpGet("/iot/v1/devices", token: rotated).status == 200)
            _ = try runCLI(gateway, ["clients", "revoke", "--name", "admin"])
            try await Task.sleep(for: .seconds(6))
            #expect(try gateway.httpGet("/iot/v1/devices", token: rotated).status == 401)
            // Tokens are stored hashed only.
            #expect(try database.count("SELECT count(*) FROM api_clients WHERE position(convert_to($1, 'UTF8') in token_hash) > 0", [integrator]) == 0)
        }

        private func runCLI(_ gateway: GatewayProcess, _ arguments: [String]) throws -> String {
            var environment = TestStack.environment
            environment["DATABASE_URL"] = gateway.databaseURL
            let output = NSTemporaryDirectory() + TestStack.uniqueName("cli")
            defer { try? FileManager.default.removeItem(atPath: output) }
            let child = try ChildProcess([GatewayProcess.binary] + arguments, environment: environment, logPath: output)
            let status = child.wait()
            let text = FileManager.default.contents(atPath: output).map { String(decoding: $0, as: UTF8.self) } ?? ""
            guard status == 0 else { throw TestFailure("cip-gateway \(arguments.joined(separator: " ")) failed: \(text)") }
            return text.split(separator: "\n").last.map(String.init) ?? ""
        }
    }
}
