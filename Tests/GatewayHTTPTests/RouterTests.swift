import Foundation
import GatewayCrypto
@testable import GatewayHTTP
import GatewayNode
import GatewaySchema
import GatewayTestSupport
import GatewayWire
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// The HTTP layer over the use cases' in-memory fakes (ExchangeFixture), through HummingbirdTesting's router
/// framework: no socket, no database. Authentication, validation and problem mapping in all their cases, in
/// milliseconds; live-node suites keep what needs a live node (TCP, PostgreSQL, restarts, the fuzzers).
@Suite struct RouterTests {
    typealias F = ExchangeFixture

    static func problem(_ response: TestResponse) throws -> API.Problem {
        #expect(response.headers[.contentType] == "application/problem+json")
        return try JSONDecoder().decode(API.Problem.self, from: Data(buffer: response.body))
    }

    static func json(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(value))
    }

    @Test func everyWayToFailAuthenticationIs401WithItsOwnCode() async throws {
        let harness = try Harness()
        let target = "/v1/grants"
        let now = Int64(Date().timeIntervalSince1970)
        let reused = Hex.encode(SystemRandom().bytes(count: 16))
        var cases: [(String, HTTPFields, ProblemCode)] = [
            ("unsigned", [:], .missingSignature),
            ("stale", try harness.signed("GET", target, as: F.housing, created: now - 3_600), .staleRequest),
            ("future", try harness.signed("GET", target, as: F.housing, created: now + 3_600), .staleRequest),
            ("short nonce", try harness.signed("GET", target, as: F.housing, nonce: "abc"), .invalidNonce),
            ("bad role", try harness.signed("GET", target, as: F.housing, role: "Not A Role!"), .invalidRole),
            ("unknown department", try harness.signed("GET", target, as: "ghosts", key: harness.fixture.keys[F.housing]), .unknownDepartment),
            ("someone else's key", try harness.signed("GET", target, as: F.housing, key: harness.fixture.keys[F.registry]), .badSignature),
        ]
        var tampered = try harness.signed("GET", target, as: F.housing)
        tampered[HTTPField.Name("Content-Digest")!] = "sha-256=:AAAA:"
        cases.append(("digest", tampered, .digestMismatch))
        let all = cases
        try await harness.application.test(.router) { client in
            for (label, headers, code) in all {
                try await client.execute(uri: target, method: .get, headers: headers) { response in
                    #expect(response.status == .unauthorized, "\(label)")
                    let problem = try Self.problem(response)
                    #expect(problem.code == code.rawValue, "\(label)")
                }
            }
            // A nonce is single use: the second request with it is refused.
            let first = try harness.signed("GET", target, as: F.housing, nonce: reused)
            try await client.execute(uri: target, method: .get, headers: first) { #expect($0.status == .ok) }
            let again = try harness.signed("GET", target, as: F.housing, nonce: reused)
            try await client.execute(uri: target, method: .get, headers: again) { response in
                let problem = try Self.problem(response)
                #expect(problem.code == ProblemCode.replayedRequest.rawValue)
            }
        }
    }

    /// In the intl suite a department's key may be Ed25519 or P-256: the key decides the RFC 9421 algorithm
    /// (`ed25519`, `ecdsa-p256-sha256`); a signature that names another algorithm than its key's, or one of another
    /// suite, is refused.
    @Test func aP256DepartmentSignsWithECDSAP256AndTheKeyDecidesTheAlgorithm() async throws {
        let p256 = InternationalSuite().generateP256SigningKey()
        let harness = try Harness(departmentKeys: [F.housing: p256])
        let target = "/v1/grants"
        let ok = try harness.signed("GET", target, as: F.housing)
        #expect(ok[HTTPField.Name("Signature-Input")!]?.contains(#"alg="ecdsa-p256-sha256""#) == true)
        func relabelled(_ fields: HTTPFields, _ alg: String) -> HTTPFields {
            var fields = fields
            fields[HTTPField.Name("Signature-Input")!] = fields[HTTPField.Name("Signature-Input")!]!
                .replacingOccurrences(of: #"alg="ecdsa-p256-sha256""#, with: #"alg="\#(alg)""#)
            return fields
        }
        let cases: [(String, HTTPFields, Int)] = [
            ("p256", ok, 200),
            ("labelled ed25519", relabelled(try harness.signed("GET", target, as: F.housing), "ed25519"), 401),
            ("labelled sm2-sm3", relabelled(try harness.signed("GET", target, as: F.housing), "sm2-sm3"), 401),
            ("ed25519 department", try harness.signed("GET", target, as: F.registry), 200),
        ]
        try await harness.application.test(.router) { client in
            for (label, headers, status) in cases {
                try await client.execute(uri: target, method: .get, headers: headers) { response in
                    #expect(response.status.code == status, "\(label)")
                    if status == 401 {
                        let problem = try Self.problem(response)
                        #expect(problem.code == ProblemCode.badSignature.rawValue, "\(label)")
                    }
                }
            }
        }
    }

    @Test func bodiesAreBoundedParsedStrictlyAndShapeChecked() async throws {
        let harness = try Harness(bodyBytesMax: 4_096)
        try await harness.application.test(.router) { client in
            let cases: [([UInt8], HTTPResponse.Status, ProblemCode)] = [
                (Array(repeating: UInt8(ascii: " "), count: 5_000), .contentTooLarge, .payloadTooLarge),
                (Array(#"{"category": "citizen", "ids": ["#.utf8), .badRequest, .malformedJSON),
                (Array(#"{"category": "citizen", "ids": "C0000001", "purpose": "audit"}"#.utf8), .badRequest, .invalidRequest),
                (Array(#"{"category": "citizen", "ids": [], "purpose": "audit"}"#.utf8), .badRequest, .invalidRequest),
                (Array(#"{"category": "pets", "ids": ["a"], "purpose": "audit"}"#.utf8), .notFound, .unknownCategory),
                (Array(#"{"category": "citizen", "ids": ["a"], "purpose": "Audit!"}"#.utf8), .badRequest, .invalidRequest),
                (Array(#"{"category": "citizen", "ids": ["a"], "purpose": "fishing"}"#.utf8), .unprocessableContent, .unknownPurpose),
            ]
            for (body, status, code) in cases {
                let headers = try harness.signed("POST", "/v1/requests", body: body, as: F.socialSecurity)
                try await client.execute(uri: "/v1/requests", method: .post, headers: headers, body: ByteBuffer(bytes: body)) { response in
                    #expect(response.status == status, "\(String(decoding: body.prefix(60), as: UTF8.self))")
                    let problem = try Self.problem(response)
                    #expect(problem.code == code.rawValue)
                }
            }
            // Query parameters are bounded numbers and well-formed cursors.
            for target in [
                "/v1/audit/events?limit=0", "/v1/audit/events?limit=99999999999999999999", "/v1/audit/events?after=nonsense",
                "/v1/chain/blocks?from=0", "/v1/chain/blocks?limit=-1",
            ] {
                let headers = try harness.signed("GET", target, as: F.regulator)
                try await client.execute(uri: target, method: .get, headers: headers) { response in
                    #expect(response.status == .badRequest, "\(target)")
                    let problem = try Self.problem(response)
                    #expect(problem.code == ProblemCode.invalidRequest.rawValue)
                }
            }
        }
    }

    @Test func routesMethodsAndTheStartingGateAnswerAsDocumented() async throws {
        let starting = try Harness(ready: false)
        try await starting.application.test(.router) { client in
            try await client.execute(uri: "/v1/health", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains(#""status":"starting""#))
            }
            try await client.execute(uri: "/v1/ready", method: .get) { #expect($0.status == .serviceUnavailable) }
            // Refused before the signature is even looked at.
            try await client.execute(uri: "/v1/grants", method: .get) { response in
                #expect(response.status == .serviceUnavailable && response.headers[.retryAfter] == "1")
                let problem = try Self.problem(response)
                #expect(problem.code == ProblemCode.nodeStarting.rawValue)
            }
        }
        let ready = try Harness()
        try await ready.application.test(.router) { client in
            try await client.execute(uri: "/v1/nothing-here", method: .get) { response in
                #expect(response.status == .notFound)
                let problem = try Self.problem(response)
                #expect(problem.code == ProblemCode.notFound.rawValue)
            }
            let headers = try ready.signed("PUT", "/v1/requests", as: F.housing)
            // Hummingbird's router answers a method a path does not take as an unknown route: 404, as a problem.
            try await client.execute(uri: "/v1/requests", method: .put, headers: headers) { response in
                let problem = try Self.problem(response)
                #expect(response.status == .notFound && problem.code == ProblemCode.notFound.rawValue, "\(problem)")
            }
        }
    }

    /// Publish, read, deny and audit through the routes: statuses, bodies and problems as openapi.yaml says.
    @Test func theExchangeThroughTheRoutes() async throws {
        let harness = try Harness()
        let records = try Self.json(API.PublishRequest(records: [F.citizen(1_234_567), F.citizen(7_654_321)]))
        try await harness.application.test(.router) { client in
            let publish = try harness.signed("POST", "/v1/records/citizen", body: records, as: F.registry)
            try await client.execute(uri: "/v1/records/citizen", method: .post, headers: publish, body: ByteBuffer(bytes: records)) { response in
                #expect(response.status == .created)
                let body = try JSONDecoder().decode(API.PublishResponse.self, from: Data(buffer: response.body))
                #expect(body.accepted == 2 && body.event.eventId != nil)
            }
            let read = "/v1/records/citizen/C1234567?purpose=benefit_eligibility"
            try await client.execute(uri: read, method: .get, headers: try harness.signed("GET", read, as: F.socialSecurity)) { response in
                #expect(response.status == .ok)
                let body = try JSONDecoder().decode(API.RecordsResponse.self, from: Data(buffer: response.body))
                #expect(body.records.first?["citizen_id"] == .string("****4567"))
            }
            let missing = "/v1/records/citizen/C0000002?purpose=registry_update"
            try await client.execute(uri: missing, method: .get, headers: try harness.signed("GET", missing, as: F.registry)) { response in
                let problem = try Self.problem(response)
                #expect(response.status == .notFound && problem.code == ProblemCode.notFound.rawValue)
            }
            let denied = "/v1/records/citizen/C1234567?purpose=housing_allocation"
            var deniedEvent: String?
            try await client.execute(uri: denied, method: .get, headers: try harness.signed("GET", denied, as: F.housing)) { response in
                #expect(response.status == .forbidden)
                let problem = try Self.problem(response)
                #expect(problem.code == ProblemCode.accessDenied.rawValue && problem.eventId != nil)
                deniedEvent = problem.eventId
            }
            // The denial is in the log the regulator reads, and its proof verifies against the genesis.
            let proof = "/v1/audit/events/\(deniedEvent ?? "none")/proof"
            try await client.execute(uri: proof, method: .get, headers: try harness.signed("GET", proof, as: F.regulator)) { response in
                #expect(response.status == .ok)
                let body = try JSONDecoder().decode(API.ProofResponse.self, from: Data(buffer: response.body))
                #expect(body.eventId == deniedEvent)
            }
            let page = "/v1/audit/events?limit=2"
            try await client.execute(uri: page, method: .get, headers: try harness.signed("GET", page, as: F.regulator)) { response in
                let body = try JSONDecoder().decode(API.AuditPage.self, from: Data(buffer: response.body))
                #expect(body.events.count == 2 && body.next.flatMap(API.AuditCursor.init(parsing:)) != nil)
            }
        }
    }
}
