import Certificates
import Foundation
import Testing

/// The device CA, checked by an independent verifier: every certificate and CRL it signs is read back with the
/// `openssl` command (as the broker's OpenSSL reads them), and the requests are made by `openssl` too.
@Suite struct CertificateAuthorityTests {
    /// A scratch directory with a device CA made by `openssl req -x509`.
    final class Scratch {
        let directory: String
        init() throws {
            directory = NSTemporaryDirectory() + "cip-ca-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
                         "-keyout", "\(directory)/ca.key", "-out", "\(directory)/ca.crt", "-subj", "/CN=test device CA",
                         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        }
        deinit { try? FileManager.default.removeItem(atPath: directory) }

        func authority() throws -> CertificateAuthority {
            try CertificateAuthority(certificateFile: "\(directory)/ca.crt", keyFile: "\(directory)/ca.key")
        }

        /// A CSR made by openssl for a new key; `subject` is what the device asks for (and must not get).
        func request(_ name: String, key: [String] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
                     subject: String = "/CN=someone-else") throws -> String {
            try openssl(["req", "-new"] + key + ["-nodes", "-keyout", "\(directory)/\(name).key",
                                                 "-out", "\(directory)/\(name).csr", "-subj", subject])
            return try String(contentsOfFile: "\(directory)/\(name).csr", encoding: .utf8)
        }

        func write(_ text: String, _ name: String) throws -> String {
            let path = "\(directory)/\(name)"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        @discardableResult
        func openssl(_ arguments: [String]) throws -> String { try Scratch.openssl(arguments) }

        @discardableResult
        static func openssl(_ arguments: [String]) throws -> String {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = arguments
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            let text = String(decoding: data, as: UTF8.self)
            guard process.terminationStatus == 0 else { throw Failure(text: "openssl \(arguments.joined(separator: " ")): \(text)") }
            return text
        }
    }

    struct Failure: Error, CustomStringConvertible { var text: String; var description: String { text } }

    @Test("a certificate for the device id from its CSR: the subject is the gateway's, a client-auth leaf, verified by openssl")
    func issues() throws {
        let scratch = try Scratch()
        let ca = try scratch.authority()
        let now = Date()
        let issued = try ca.issue(request: try scratch.request("dev"), deviceId: "lock-0001",
                                  notBefore: now.addingTimeInterval(-60), notAfter: now.addingTimeInterval(86_400))
        let path = try scratch.write(issued.pem, "dev.crt")
        #expect(try scratch.openssl(["verify", "-CAfile", "\(scratch.directory)/ca.crt", "-purpose", "sslclient", path]).contains("OK"))
        let text = try scratch.openssl(["x509", "-in", path, "-noout", "-subject", "-serial", "-ext", "basicConstraints,extendedKeyUsage",
                                        "-fingerprint", "-sha256"])
        #expect(text.contains("subject=CN = lock-0001"))
        #expect(!text.contains("someone-else"))
        #expect(text.contains("serial=\(issued.serial)"))
        #expect(text.contains("CA:FALSE"))
        #expect(text.contains("TLS Web Client Authentication"))
        #expect(text.replacingOccurrences(of: ":", with: "").lowercased().contains(issued.fingerprint))
        // The certificate carries the key of the request: the device's key matches it.
        let modulusOfCertificate = try scratch.openssl(["x509", "-in", path, "-noout", "-pubkey"])
        let modulusOfKey = try scratch.openssl(["pkey", "-in", "\(scratch.directory)/dev.key", "-pubout"])
        #expect(modulusOfCertificate == modulusOfKey)
        // A device can use it as a CA for nobody.
        let other = try ca.issue(request: try scratch.request("dev2"), deviceId: "lock-0002",
                                 notBefore: now, notAfter: now.addingTimeInterval(86_400))
        #expect(other.serial != issued.serial)
    }

    @Test("an expired validity is what openssl sees, and RSA 2048 and P-384 requests are accepted")
    func validityAndKeys() throws {
        let scratch = try Scratch()
        let ca = try scratch.authority()
        let past = Date().addingTimeInterval(-10 * 86_400)
        let expired = try ca.issue(request: try scratch.request("old"), deviceId: "gps-1", notBefore: past,
                                   notAfter: past.addingTimeInterval(86_400))
        let path = try scratch.write(expired.pem, "old.crt")
        #expect(throws: Failure.self) { try scratch.openssl(["verify", "-CAfile", "\(scratch.directory)/ca.crt", path]) }
        for key in [["-newkey", "rsa:2048"], ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"]] {
            let issued = try ca.issue(request: try scratch.request("k", key: key), deviceId: "gps-2", notBefore: Date(),
                                      notAfter: Date().addingTimeInterval(3_600))
            #expect(try scratch.openssl(["verify", "-CAfile", "\(scratch.directory)/ca.crt", try scratch.write(issued.pem, "k.crt")]).contains("OK"))
        }
    }

    @Test("hostile and careless requests are refused with the reason, and nothing is signed")
    func refusesRequests() throws {
        let scratch = try Scratch()
        let ca = try scratch.authority()
        let good = try scratch.request("good")
        func refusal(_ request: String) -> String? {
            do {
                _ = try ca.issue(request: request, deviceId: "x", notBefore: Date(), notAfter: Date().addingTimeInterval(60))
                return nil
            } catch {
                guard case .request(let reason) = error else { return "not a request error: \(error)" }
                return reason
            }
        }
        #expect(refusal("")?.contains("not a PEM certificate request") == true)
        #expect(refusal("garbage")?.contains("not a PEM") == true)
        #expect(refusal(String(repeating: "A", count: 9_000))?.contains("longer than") == true)
        // A truncated and a bit-flipped request (its signature no longer matches).
        #expect(refusal(String(good.prefix(good.count / 2)) + "\n-----END CERTIFICATE REQUEST-----\n") != nil)
        var bytes = Array(good.utf8)
        let index = bytes.count / 2
        bytes[index] = bytes[index] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(refusal(String(decoding: bytes, as: UTF8.self)) != nil)
        // A certificate instead of a request, and weak keys.
        #expect(refusal(try String(contentsOfFile: "\(scratch.directory)/ca.crt", encoding: .utf8))?.contains("not a PEM certificate request") == true)
        #expect(refusal(try scratch.request("rsa1024", key: ["-newkey", "rsa:1024"]))?.contains("1024 bits") == true)
        #expect(refusal(try scratch.request("secp256k1", key: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"]))?.contains("secp256k1") == true)
        #expect(refusal(try scratch.request("ed", key: ["-newkey", "ed25519"]))?.contains("key type") == true)
        // P-256 with explicit curve parameters: OpenSSL would refuse the certificate at the handshake.
        try scratch.openssl(["ecparam", "-name", "prime256v1", "-param_enc", "explicit", "-genkey", "-noout", "-out", "\(scratch.directory)/explicit.key"])
        try scratch.openssl(["req", "-new", "-key", "\(scratch.directory)/explicit.key", "-out", "\(scratch.directory)/explicit.csr", "-subj", "/CN=x"])
        #expect(refusal(try String(contentsOfFile: "\(scratch.directory)/explicit.csr", encoding: .utf8))?.contains("explicit curve parameters") == true)
        // A device id longer than a certificate's name may be is the device's problem, said as such.
        do {
            _ = try ca.issue(request: good, deviceId: String(repeating: "d", count: 65), notBefore: Date(), notAfter: Date().addingTimeInterval(60))
            Issue.record("a 65-byte device id got a certificate")
        } catch {
            #expect(error == .request("a device id longer than 64 bytes cannot be a certificate's name; this device uses a password"))
        }
        // 1,000 random mutations of a good request: each is refused or signed as a certificate of that key, never a crash.
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<1_000 {
            var mutated = Array(good.utf8)
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                mutated[Int.random(in: 0..<mutated.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            _ = refusal(String(decoding: mutated, as: UTF8.self))
        }
    }

    @Test("the CA's own files: a key of another CA, a leaf instead of a CA and a missing file are refused at start")
    func refusesBadAuthority() throws {
        let scratch = try Scratch()
        let other = try Scratch()
        #expect(throws: CertificateError.self) {
            try CertificateAuthority(certificateFile: "\(scratch.directory)/ca.crt", keyFile: "\(other.directory)/ca.key")
        }
        #expect(throws: CertificateError.self) {
            try CertificateAuthority(certificateFile: "\(scratch.directory)/missing.crt", keyFile: "\(scratch.directory)/ca.key")
        }
        let leaf = try scratch.authority().issue(request: try scratch.request("leaf"), deviceId: "leaf", notBefore: Date(),
                                                 notAfter: Date().addingTimeInterval(60))
        do {
            _ = try CertificateAuthority(certificateFile: try scratch.write(leaf.pem, "leaf.crt"), keyFile: "\(scratch.directory)/leaf.key")
            Issue.record("a leaf certificate was accepted as the device CA")
        } catch {
            #expect("\(error)".contains("not a CA"))
        }
    }

    @Test("the CRL: openssl refuses a listed certificate and accepts the others; reasons and number are as signed")
    func revocationList() throws {
        let scratch = try Scratch()
        let ca = try scratch.authority()
        let now = Date()
        let held = try ca.issue(request: try scratch.request("a"), deviceId: "a", notBefore: now.addingTimeInterval(-60), notAfter: now.addingTimeInterval(3_600))
        let gone = try ca.issue(request: try scratch.request("b"), deviceId: "b", notBefore: now.addingTimeInterval(-60), notAfter: now.addingTimeInterval(3_600))
        let fine = try ca.issue(request: try scratch.request("c"), deviceId: "c", notBefore: now.addingTimeInterval(-60), notAfter: now.addingTimeInterval(3_600))
        let crl = try ca.revocationList([
            RevokedCertificate(serial: held.serial, revokedAt: now, reason: .certificateHold),
            RevokedCertificate(serial: gone.serial, revokedAt: now, reason: .cessationOfOperation),
        ], number: 42, thisUpdate: now, nextUpdate: now.addingTimeInterval(86_400))
        let crlPath = try scratch.write(crl, "ca.crl")
        let text = try scratch.openssl(["crl", "-in", crlPath, "-noout", "-text", "-CAfile", "\(scratch.directory)/ca.crt"])
        #expect(text.contains("Serial Number: \(held.serial)"))
        #expect(text.contains("Serial Number: \(gone.serial)"))
        #expect(!text.contains(fine.serial))
        #expect(text.contains("Certificate Hold"))
        #expect(text.contains("Cessation Of Operation"))
        #expect(text.range(of: #"CRL Number:\s*42\s"#, options: .regularExpression) != nil)
        #expect(text.contains("Authority Key Identifier"))
        let chain = "\(scratch.directory)/ca.crt"
        for (certificate, revoked) in [(held, true), (gone, true), (fine, false)] {
            let path = try scratch.write(certificate.pem, "\(certificate.deviceId).crt")
            let verdict = Result { try scratch.openssl(["verify", "-crl_check", "-CAfile", chain, "-CRLfile", crlPath, path]) }
            switch (verdict, revoked) {
            case (.success, false): break
            case (.failure(let error), true): #expect("\(error)".contains("revoked"))
            default: Issue.record("\(certificate.deviceId): revoked \(revoked), openssl said \(verdict)")
            }
        }
        // An empty list is a valid CRL too (what a fresh gateway writes).
        let empty = try scratch.write(try ca.revocationList([], number: 1, thisUpdate: now, nextUpdate: now.addingTimeInterval(60)), "empty.crl")
        #expect(try scratch.openssl(["crl", "-in", empty, "-noout", "-CAfile", chain]).contains("verify OK"))
    }
}
