import Foundation
import GatewayClient
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

/// The node's routes over the use cases' in-memory fakes (ExchangeFixture), driven through HummingbirdTesting's router
/// framework: the whole HTTP layer — starting gate, signatures, controllers, problem mapping — without a socket or
/// a database.
struct Harness {
    typealias F = ExchangeFixture
    let fixture: F
    let startup: StartupProgress
    let application: Application<RouterResponder<GatewayContext>>

    init(
        ready: Bool = true, bodyBytesMax: Int = 1 << 20, policies: URL = TestPaths.policies, clock: ManualClock = ManualClock(),
        departmentKeys: [String: any SigningKey] = [:]
    ) throws {
        fixture = try F(policies: policies, clock: clock, departmentKeys: departmentKeys)
        startup = StartupProgress()
        if ready { startup.set(.ready) }
        let (fixture, startup) = (fixture, startup)
        let parts = GatewayServer.Parts(
            exchange: fixture.exchange, governance: fixture.governance, departments: fixture.departments, suite: fixture.suite,
            bodyBytesMax: bodyBytesMax, startup: startup, durableNonces: nil,
            health: {
                API.Health(
                    status: startup.isReady ? "ok" : "starting", node: "node-1", chain: "unit-chain", suite: "intl", height: 0,
                    policyBundle: Hex.encode(fixture.exchange.policyBundleHash))
            },
            readiness: { API.Readiness(ready: startup.isReady, height: 0, reasons: startup.isReady ? [] : [startup.summary]) }
        )
        application = Application(router: GatewayServer.makeRouter(parts))
    }

    /// Headers of a request signed by `department` (or as told: another created time, nonce, role or key).
    func signed(
        _ method: String, _ target: String, body: [UInt8] = [], as department: String, role: String? = nil,
        created: Int64 = Int64(Date().timeIntervalSince1970), nonce: String = Hex.encode(SystemRandom().bytes(count: 16)),
        key: (any SigningKey)? = nil
    ) throws -> HTTPFields {
        let pairs = try RequestSigning.sign(
            method: method, url: target, body: body, keyID: department, key: key ?? fixture.keys[department]!,
            suite: fixture.suite, created: created, nonce: nonce, role: role
        )
        return Self.fields(pairs, json: !body.isEmpty)
    }

    static func fields(_ pairs: [(String, String)], json: Bool) -> HTTPFields {
        var fields = HTTPFields()
        for (name, value) in pairs {
            if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) }
        }
        if json { fields[.contentType] = "application/json" }
        return fields
    }

    /// Runs `body` with departments' clients speaking to the routes.
    func run(_ body: @Sendable (Session) async throws -> Void) async throws {
        try await application.test(.router) { client in try await body(Session(harness: self, client: client)) }
    }

    /// A test's connection to the routes: department clients with the `GatewayClient` API, so tests read the same
    /// over fakes as over a live node.
    struct Session: Sendable {
        let harness: Harness
        let client: any TestClientProtocol

        func client(_ department: String) -> DepartmentClient { DepartmentClient(session: self, department: department, role: nil) }

        /// The civil registry publishes citizen records (must succeed); returns their ids.
        @discardableResult
        func publish(_ records: [JSONValue]) async throws -> [String] {
            let response = try await client(ExchangeFixture.registry).send("POST", "/v1/records/citizen", json: API.PublishRequest(records: records))
            guard response.status == 201 else {
                throw NodeError("seeding failed: \(response.status) \(String(decoding: response.body, as: UTF8.self))")
            }
            return records.compactMap { $0["citizen_id"]?.stringValue }
        }
    }

    struct DepartmentClient: Sendable {
        let session: Session
        let department: String
        let role: String?

        func acting(as role: String?) -> DepartmentClient { DepartmentClient(session: session, department: department, role: role) }

        func signedHeaders(_ method: String, _ target: String, body: [UInt8]) throws -> [(String, String)] {
            try RequestSigning.sign(
                method: method, url: target, body: body, keyID: department, key: session.harness.fixture.keys[department]!,
                suite: session.harness.fixture.suite, role: role
            )
        }

        func send(_ method: String, _ target: String, body: [UInt8] = []) async throws -> ClientResponse {
            try await sendRaw(method, target, body: body, headers: try signedHeaders(method, target, body: body))
        }

        func send(_ method: String, _ target: String, json: some Encodable) async throws -> ClientResponse {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return try await send(method, target, body: Array(try encoder.encode(json)))
        }

        func sendRaw(_ method: String, _ target: String, body: [UInt8] = [], headers: [(String, String)]) async throws -> ClientResponse {
            let response = try await session.client.execute(
                uri: target, method: HTTPRequest.Method(method) ?? .get, headers: Harness.fields(headers, json: !body.isEmpty || method == "POST"),
                body: body.isEmpty ? nil : ByteBuffer(bytes: body)
            )
            return ClientResponse(
                status: Int(response.status.code), contentType: response.headers[.contentType] ?? "", body: Array(response.body.readableBytesView),
                retryAfter: response.headers[.retryAfter]
            )
        }
    }
}
