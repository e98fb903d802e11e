import Foundation
import GatewayTLS
import GatewayTestSupport
import Testing

/// TLS identities: the certificate and pin as OpenSSL reads them (an independent X.509 implementation), files that
/// are never replaced without `force` and keys that are never readable by others.
@Suite struct TLSIdentityTests {
    @Test func opensslReadsTheCertificateAndComputesTheSamePin() async throws {
        let identity = try TLSIdentity.generate(name: "social_security", hosts: ["localhost", "127.0.0.1", "gw.example.org"])
        #expect(identity.name == "social_security")
        let work = try TestPaths.temporaryDirectory("tls-identity")
        let certificate = work.appendingPathComponent("tls-cert.pem")
        let key = work.appendingPathComponent("tls-key.pem")
        try identity.write(certificate: certificate, key: key)
        let text = try await runProcess(
            "/usr/bin/openssl", ["x509", "-in", certificate.path, "-noout", "-subject", "-ext", "subjectAltName,basicConstraints,extendedKeyUsage"])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("CN = social_security") || text.stdout.contains("CN=social_security"))
        #expect(text.stdout.contains("DNS:gw.example.org") && text.stdout.contains("IP Address:127.0.0.1"))
        #expect(text.stdout.contains("CA:TRUE, pathlen:0") && text.stdout.contains("TLS Web Client Authentication"))
        // The certificate verifies under its own key (self-signed), and the key is the certificate's.
        let verified = try await runProcess("/usr/bin/openssl", ["verify", "-CAfile", certificate.path, certificate.path])
        #expect(verified.status == 0 && verified.stdout.contains("OK"), "\(verified.stdout) \(verified.stderr)")
        // RFC 7469's pin: base64(SHA-256(SubjectPublicKeyInfo DER)), computed by openssl.
        let spki = try await runProcess(
            "/bin/sh",
            [
                "-c",
                "openssl x509 -in '\(certificate.path)' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64",
            ])
        #expect(identity.pin == "sha256/" + spki.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let keyText = try await runProcess("/usr/bin/openssl", ["pkey", "-in", key.path, "-noout", "-text"])
        #expect(keyText.status == 0 && keyText.stdout.contains("prime256v1"))
    }

    @Test func identitiesAreNeverReplacedWithoutForceAndKeysAreOwnerOnly() throws {
        let work = try TestPaths.temporaryDirectory("tls-files")
        let certificate = work.appendingPathComponent("tls-cert.pem")
        let key = work.appendingPathComponent("tls-key.pem")
        let first = try TLSIdentity.generate(name: "housing")
        try first.write(certificate: certificate, key: key)
        let mode = try FileManager.default.attributesOfItem(atPath: key.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let second = try TLSIdentity.generate(name: "housing")
        #expect(throws: TLSIdentityError.self) { try second.write(certificate: certificate, key: key) }
        #expect(try TLSIdentity.load(certificate: certificate, key: key).pin == first.pin, "the refused write changed nothing")
        try second.write(certificate: certificate, key: key, force: true)
        #expect(try TLSIdentity.load(certificate: certificate, key: key).pin == second.pin)
        #expect((try FileManager.default.attributesOfItem(atPath: key.path)[.posixPermissions] as? Int) == 0o600)
        // A certificate with another identity's key is refused on load.
        try Data(first.certificatePEM.utf8).write(to: certificate)
        #expect(throws: TLSIdentityError.self) { try TLSIdentity.load(certificate: certificate, key: key) }
        // A missing file says what to do.
        let error = #expect(throws: TLSIdentityError.self) { try TLSIdentity.load(certificate: work.appendingPathComponent("none.pem"), key: key) }
        #expect(error?.description.contains("gateway keys tls") == true)
    }

    @Test func pinsDifferPerKeyAndNamesAreBounded() throws {
        let a = try TLSIdentity.generate(name: "a")
        let b = try TLSIdentity.generate(name: "a")
        #expect(a.pin != b.pin && a.pin.hasPrefix("sha256/") && a.pin.count == 7 + 44)
        #expect(throws: TLSIdentityError.self) { try TLSIdentity.generate(name: "") }
        #expect(throws: TLSIdentityError.self) { try TLSIdentity.generate(name: String(repeating: "x", count: 65)) }
    }
}
