import Foundation
import GatewayClient
import GatewayCrypto
import GatewayDemo
import GatewaySchema
import GatewayTestSupport
import GatewayWire
import Testing

/// A client nobody here wrote — the PyPI package http-message-signatures — signs requests with RFC 9421 (ed25519,
/// content-digest) and a live intl node over mutual TLS answers them; a body or target changed after signing is 401.
@Suite struct RFC9421LiveTests {
    @Test func aPythonClientsRFC9421RequestsAreAcceptedAndTamperedOnesRefused() async throws {
        let node = try await TestNode.start("rfc9421", suite: .intl)
        defer { let running = node.running; Task { try? await running.stop() } }
        let keys = node.consortium.departmentsFile.deletingLastPathComponent()
        let work = try TestPaths.temporaryDirectory("rfc9421-live")
        let nodeKeyFile = work.appendingPathComponent("node-public.pem")
        try Data(node.running.node.signingKey.publicKey.pemRepresentation.utf8).write(to: nodeKeyFile)
        func send(_ department: String, _ method: String, _ path: String, body: [UInt8] = [], tamper: String = "") async throws -> (
            status: Int, body: String, responseSignature: String
        ) {
            let bodyFile = work.appendingPathComponent("body-\(UUID().uuidString)")
            try Data(body).write(to: bodyFile)
            let result = try await runProcess(
                TestPaths.python,
                [
                    TestPaths.packageRoot.appendingPathComponent("Tests/Oracles/http_signatures.py").path, "send",
                    keys.appendingPathComponent("\(department)-key.pem").path, method, node.running.baseURL + path, bodyFile.path, department,
                    keys.appendingPathComponent("\(department)-tls-cert.pem").path, keys.appendingPathComponent("\(department)-tls-key.pem").path,
                    try #require(node.tlsCertificateFile).path,
                ] + (tamper.isEmpty ? [] : [tamper]), environment: ["DG_NODE_KEY": nodeKeyFile.path])
            #expect(result.status == 0, "\(result.stderr)")
            let lines = result.stdout.split(separator: "\n", maxSplits: 2).map(String.init)
            return (
                Int(lines.first ?? "") ?? 0, lines.count > 1 ? lines[1] : "",
                lines.count > 2 ? lines[2].trimmingCharacters(in: .whitespacesAndNewlines) : ""
            )
        }
        let citizens = SyntheticCitizens.generate(count: 2, seed: 21)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let publish = Array(try encoder.encode(API.PublishRequest(records: citizens)))
        let published = try await send(DemoConsortium.registry, "POST", "/v1/records/citizen", body: publish)
        #expect(published.status == 201, "\(published.body)")
        // The node signs its answers; the same package verifies them, bound to the request they answer.
        #expect(published.responseSignature == "SIGNED node:test-node", "\(published.responseSignature)")
        let id = try #require(citizens[0]["citizen_id"]?.stringValue)
        let read = try await send(DemoConsortium.registry, "GET", "/v1/records/citizen/\(id)?purpose=benefit_eligibility")
        #expect(read.status == 200 && read.body.contains(id), "\(read.body)")
        let events = try await send(DemoConsortium.regulator, "GET", "/v1/audit/events?limit=5")
        #expect(events.status == 200, "\(events.body)")
        let changedBody = try await send(DemoConsortium.registry, "POST", "/v1/records/citizen", body: publish, tamper: "body")
        #expect(changedBody.status == 401 && changedBody.body.contains("digest_mismatch"), "\(changedBody.body)")
        let changedTarget = try await send(DemoConsortium.regulator, "GET", "/v1/audit/events?limit=5", tamper: "path")
        #expect(changedTarget.status == 401 && changedTarget.body.contains("bad_signature"), "\(changedTarget.body)")
        let replayed = try await send(DemoConsortium.regulator, "GET", "/v1/audit/events?limit=5", tamper: "replay")
        #expect(replayed.status == 401 && replayed.body.contains("replayed_request"), "\(replayed.body)")
        // Refusals are signed too; a response body changed after the node signed it fails the package's check.
        #expect(changedTarget.responseSignature == "SIGNED node:test-node", "\(changedTarget.responseSignature)")
        #expect(events.responseSignature == "SIGNED node:test-node", "\(events.responseSignature)")
        let changedResponse = try await send(DemoConsortium.regulator, "GET", "/v1/audit/events?limit=5", tamper: "response")
        #expect(changedResponse.status == 200 && changedResponse.responseSignature.hasPrefix("UNSIGNED"), "\(changedResponse.responseSignature)")
    }
}

/// The `sm` suite over RFC 9421: `sm2-sm3` (SM2 with the GM/T 0009 ID over SM3 of the signature base), an `sm3=`
/// content digest, and the role header covered; another algorithm named, a role added unsigned, or a signature
/// without its content digest is refused.
@Suite struct RFC9421NationalSuiteTests {
    @Test func sm2SM3SignaturesAreAcceptedAndWhatTheyDoNotCoverIsRefused() async throws {
        let node = try await TestNode.start("rfc9421_sm", suite: .sm)
        defer { let running = node.running; Task { try? await running.stop() } }
        let suite = node.suite
        let regulator = node.client(DemoConsortium.regulator)
        let key = try #require(node.consortium.keys[DemoConsortium.regulator])
        func send(
            _ path: String, algorithm: String = "sm2-sm3", role: String? = nil, covered: [HTTPMessageSignatures.Component]? = nil,
            unsignedRole: String? = nil
        ) async throws -> ClientResponse {
            let digest = RequestSigning.contentDigest([], suite: suite)
            var fields: [(name: String, value: String)] = [("Content-Digest", digest)]
            if let role { fields.append(("DG-Role", role)) }
            let components = covered ?? (["@method", "@target-uri", "content-digest"] + (role == nil ? [] : ["dg-role"]))
            let nonce = Hex.encode(SystemRandom().bytes(count: 16))
            let signed = try HTTPMessageSignatures.sign(
                HTTPMessageSignatures.Message(method: "GET", targetURI: node.running.baseURL + path, fields: fields),
                parameters: .init(
                    components: components, created: Int64(Date().timeIntervalSince1970), nonce: nonce, keyID: DemoConsortium.regulator,
                    algorithm: algorithm)
            ) { try key.sign($0) }
            var headers = fields.map { ($0.name, $0.value) } + [("Signature-Input", signed.signatureInput), ("Signature", signed.signature)]
            if let unsignedRole { headers.append(("DG-Role", unsignedRole)) }
            return try await regulator.sendRaw("GET", path, headers: headers)
        }
        #expect(try await send("/v1/audit/events?limit=3").status == 200)
        #expect(try await send("/v1/governance").status == 200)
        let wrongAlgorithm = try await send("/v1/governance", algorithm: "ed25519")
        #expect(wrongAlgorithm.status == 401 && wrongAlgorithm.problem?.code == "bad_signature")
        let roleNotCovered = try await send("/v1/governance", unsignedRole: "auditor")
        #expect(roleNotCovered.status == 401 && roleNotCovered.problem?.code == "missing_signature")
        let noDigest = try await send("/v1/governance", covered: ["@method", "@target-uri"])
        #expect(noDigest.status == 401 && noDigest.problem?.code == "missing_signature")
        // Every answer is signed with the node's SM2 key (sm2-sm3, an sm3 digest), refusals included; our client checks
        // it on each `send`, and another key or a changed body does not verify.
        let nodeKey = node.running.node.signingKey.publicKey
        let answered = try await regulator.send("GET", "/v1/governance")
        #expect(answered.status == 200)
        #expect(try answered.verify(nodeKey: nodeKey, suite: suite) == "node:test-node")
        #expect(answered.fields.first { $0.name.lowercased() == "content-digest" }?.value.hasPrefix("sm3=:") == true)
        #expect(try noDigest.verify(nodeKey: nodeKey, suite: suite) == "node:test-node")
        #expect(throws: RequestSigning.ResponseSignatureError.self) {
            try answered.verify(nodeKey: suite.generateSigningKey().publicKey, suite: suite)
        }
        var altered = answered
        altered = ClientResponse(status: altered.status, contentType: altered.contentType, body: altered.body + [0x20])
        altered.fields = answered.fields
        altered.request = answered.request
        #expect(throws: RequestSigning.ResponseSignatureError.self) { try altered.verify(nodeKey: nodeKey, suite: suite) }
    }
}
