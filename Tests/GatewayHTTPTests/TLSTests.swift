import Foundation
import GatewayClient
import GatewayCrypto
import GatewayDemo
import GatewayTLS
import GatewayTestSupport
import GatewayWire
import Testing

/// The API over TLS 1.3 with client certificates pinned in the departments file: a department's request needs its own
/// certificate on the connection as well as its signature; plaintext, TLS 1.2, an expired certificate or a server that
/// is not the pinned one get no HTTP exchange at all.
@Suite(.serialized) struct TLSTests {

    func problem(_ response: ClientResponse, _ status: Int, _ code: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == status, "\(String(decoding: response.body, as: UTF8.self))", sourceLocation: sourceLocation)
        #expect(response.problem?.code == code, sourceLocation: sourceLocation)
        #expect(response.contentType.hasPrefix("application/problem+json"), sourceLocation: sourceLocation)
    }

    @Test func aDepartmentNeedsItsOwnRegisteredCertificateOnTheConnection() async throws {
        let node = try await TestNode.start("tls_mutual")
        defer { let running = node.running; Task { try? await running.stop() } }
        #expect(node.running.baseURL.hasPrefix("https://"))
        let target = "/v1/audit/events?limit=5"
        // Its own certificate and key: served.
        let own = try await node.client(DemoConsortium.regulator).send("GET", target)
        #expect(own.status == 200, "\(String(decoding: own.body, as: UTF8.self))")
        // A correct signature on a connection with another department's certificate: refused.
        let borrowed = try node.client(DemoConsortium.regulator, presenting: node.consortium.tls[DemoConsortium.statistics])
        problem(try await borrowed.send("GET", target), 403, "client_certificate_mismatch")
        // No certificate: health answers (citizens' browsers and probes have none), department requests do not.
        let anonymous = try node.client(DemoConsortium.regulator, presenting: nil)
        #expect(try await anonymous.sendRaw("GET", "/v1/health", headers: []).status == 200)
        problem(try await anonymous.send("GET", target), 401, "client_certificate_required")
        // A valid certificate nobody registered gets an answer, and a refusal.
        let stranger = try node.client(DemoConsortium.regulator, presenting: try TLSIdentity.generate(name: "regulator"))
        problem(try await stranger.send("GET", target), 403, "client_certificate_mismatch")
        // The signature is still checked first: a registered certificate does not replace the department key.
        let forger = try node.client(
            DemoConsortium.regulator, key: node.suite.generateSigningKey(), presenting: node.consortium.tls[DemoConsortium.regulator])
        problem(try await forger.send("GET", target), 401, "bad_signature")
    }

    @Test func plaintextOldTLSExpiredCertificatesAndUnpinnedServersGetNoExchange() async throws {
        let node = try await TestNode.start("tls_refusals")
        defer { let running = node.running; Task { try? await running.stop() } }
        let port = node.running.port
        // Plain HTTP to the HTTPS port: no HTTP answer.
        let plain = GatewayClient(
            baseURL: "http://127.0.0.1:\(port)", department: DemoConsortium.regulator, key: node.consortium.keys[DemoConsortium.regulator]!,
            suite: node.suite)
        await #expect(throws: (any Error).self) { _ = try await plain.sendRaw("GET", "/v1/health", headers: []) }
        // A certificate past its validity ends the handshake, before any request.
        let expired = try TLSIdentity.generate(name: DemoConsortium.regulator, days: 30, now: Date(timeIntervalSinceNow: -400 * 86_400))
        let late = try node.client(DemoConsortium.regulator, presenting: expired)
        await #expect(throws: (any Error).self) { _ = try await late.sendRaw("GET", "/v1/health", headers: []) }
        // A client that pins another certificate refuses this server (a man in the middle looks the same).
        let wary = try GatewayClient(
            baseURL: node.running.baseURL, department: DemoConsortium.regulator, key: node.consortium.keys[DemoConsortium.regulator]!,
            suite: node.suite,
            tls: ClientTLS(
                identity: node.consortium.tls[DemoConsortium.regulator], trusting: [try TLSIdentity.generate(name: "test-node").certificatePEM],
                retriesConnections: false))
        await #expect(throws: (any Error).self) { _ = try await wary.sendRaw("GET", "/v1/health", headers: []) }
        // OpenSSL, an independent TLS stack: TLS 1.3 handshakes and shows the pinned certificate; TLS 1.2 is refused.
        let certificate = try #require(node.tlsCertificateFile)
        let modern = try await runProcess(
            "/usr/bin/openssl", ["s_client", "-connect", "127.0.0.1:\(port)", "-tls1_3", "-CAfile", certificate.path, "-verify_return_error"],
            input: Data())
        #expect(modern.status == 0, "\(modern.stderr.suffix(800))")
        #expect(modern.stdout.contains("TLSv1.3") && modern.stdout.contains("Verify return code: 0 (ok)"), "\(modern.stdout.suffix(1_500))")
        let old = try await runProcess("/usr/bin/openssl", ["s_client", "-connect", "127.0.0.1:\(port)", "-tls1_2"], input: Data())
        #expect(old.status != 0, "a TLS 1.2 handshake succeeded: \(old.stdout.suffix(800))")
    }
}
