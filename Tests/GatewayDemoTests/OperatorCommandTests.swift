import Foundation
import GatewayTLS
import GatewayTestSupport
import Testing

/// What an operator meets first: a version, key material that is never replaced without `--force` and never readable
/// by others, and runtime errors that are one sentence without the usage text, with their own exit code.
@Suite struct OperatorCommandTests {
    func gateway(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await runProcess(TestPaths.gatewayBinary.path, arguments)
    }

    func mode(_ path: String) throws -> Int? { try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int }

    @Test func theVersionIsPrinted() async throws {
        let version = try await gateway(["--version"])
        #expect(version.status == 0 && version.stdout.hasPrefix("0."), "\(version)")
    }

    @Test func keysAreNeverReplacedWithoutForceAndPrivateOnesAreOwnerOnly() async throws {
        let prefix = try TestPaths.temporaryDirectory("keys-cli").appendingPathComponent("housing").path
        let first = try await gateway(["keys", "generate", "--suite", "sm", "--out", prefix])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(try mode(prefix + "-key.pem") == 0o600)
        let original = try String(contentsOfFile: prefix + "-key.pem", encoding: .utf8)
        let again = try await gateway(["keys", "generate", "--suite", "sm", "--out", prefix])
        #expect(again.status == 1, "a runtime refusal exits 1, not 64 (usage)")
        #expect(again.stderr.contains("refusing") && again.stderr.contains("--force") && !again.stderr.contains("USAGE"), "\(again.stderr)")
        #expect(try String(contentsOfFile: prefix + "-key.pem", encoding: .utf8) == original)
        let forced = try await gateway(["keys", "generate", "--suite", "sm", "--out", prefix, "--force"])
        let replaced = try String(contentsOfFile: prefix + "-key.pem", encoding: .utf8)
        #expect(forced.status == 0 && replaced != original)
        #expect(try mode(prefix + "-key.pem") == 0o600)

        let tls = try await gateway(["keys", "tls", "--name", "housing", "--out", prefix])
        #expect(tls.status == 0 && tls.stdout.contains("pin sha256/"), "\(tls.stderr)")
        #expect(try mode(prefix + "-tls-key.pem") == 0o600)
        let pin = try TLSIdentity.load(
            certificate: URL(fileURLWithPath: prefix + "-tls-cert.pem"), key: URL(fileURLWithPath: prefix + "-tls-key.pem")
        ).pin
        #expect(tls.stdout.contains(pin))
        let tlsAgain = try await gateway(["keys", "tls", "--name", "housing", "--out", prefix])
        #expect(tlsAgain.status == 1 && tlsAgain.stderr.contains("--force"), "\(tlsAgain.stderr)")
        // A command line that does not parse still gets the usage text, and 64.
        let wrong = try await gateway(["keys", "tls", "--name", "housing", "--out", prefix, "--days", "0"])
        #expect(wrong.status == 64 && wrong.stderr.contains("--days must be"), "\(wrong.stderr)")
    }
}
