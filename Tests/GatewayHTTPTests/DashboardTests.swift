import Foundation
import GatewayChain
import GatewayCrypto
import GatewayDemo
import GatewayHTTP
import GatewayNode
import GatewayStore
import GatewayTestSupport
import GatewayWire
import Testing

/// The regulator's dashboard (`gateway observe --dashboard`), served by an observer that verified a live node's chain
/// into its own PostgreSQL, in a real headless chromium: the page renders, the plot's bars carry exactly the counts
/// of the observer's access log, the tables show the denial, the grant, the consent and the validator set, a proof
/// checks in the browser (SM3 or SHA-256 there), and a proof tampered on its way to the page fails there. The
/// screenshots are kept in the run's artifact directory (DATAGATEWAY_ARTIFACTS, default .ci/artifacts).
@Suite struct DashboardTests {
    struct Page: Decodable {
        struct Bar: Decodable {
            let day: String
            let department: String
            let decision: String
            let count: Int
        }
        struct Row: Decodable {
            let cells: [String]
        }
        struct Check: Decodable {
            let result: String
            let text: String
        }
        let state: String
        let status: String
        let totalEvents: String?
        let bars: [Bar]
        let denials: [Row]
        let purposes: [Row]
        let grants: [Row]
        let consents: [Row]
        let validators: [Row]
        let events: [String]
        let verified: Check?
        let tampered: Check?
    }

    @Test(arguments: SuiteName.allCases) func theDashboardShowsTheVerifiedLogAndChecksProofsInTheBrowser(suite: SuiteName) async throws {
        let node = try await TestNode.start("dashboard_\(suite.rawValue)", suite: suite)
        defer { let running = node.running; Task { try? await running.stop() } }
        let registry = node.client(DemoConsortium.registry)
        let citizens = SyntheticCitizens.generate(count: 6, seed: 21)
        #expect(try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: citizens)).status == 201)
        let social = node.client(DemoConsortium.socialSecurity)
        for id in ["C0000001", "C0000002"] {
            let read = try await social.send(
                "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: [id], purpose: "benefit_eligibility"))
            #expect(read.status == 200)
        }
        let housing = node.client(DemoConsortium.housing)
        let denied = try await housing.send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: ["C0000001"], purpose: "tenant_screening"))
        #expect(denied.status == 403)
        let citizen = try #require(citizens[0]["citizen_id"]?.stringValue)
        let consent = try await registry.send(
            "POST", "/v1/consents", json: API.ConsentRequest(citizenId: citizen, purpose: "social_welfare", given: true))
        #expect(consent.status == 201, "\(String(decoding: consent.body, as: UTF8.self))")
        let grant = try await registry.send(
            "POST", "/v1/grants",
            json: API.GrantRequest(grantee: DemoConsortium.housing, category: "citizen", purpose: "tenant_screening", expiresAt: "2031-01-01"))
        #expect(grant.status == 201, "\(String(decoding: grant.body, as: UTF8.self))")

        // The regulator's observer verifies the chain into its own database.
        let regulator = node.client(DemoConsortium.regulator)
        let fetch: ChainObserver.Fetch = { from in
            let page = try await regulator.send("GET", "/v1/chain/blocks?from=\(from)&limit=64").decode(API.ChainBlocks.self)
            return ChainObserver.Page(blocks: try page.blocks.map { try $0.decoded() }, commitment: page.commitment)
        }
        let observerURL = try await TestDatabase.fresh("dashboard_observer_\(suite.rawValue)")
        try await Database.withDatabase(url: observerURL, logger: TestDatabase.logger) { database in
            let observer = try ChainObserver(database: database, genesis: node.running.node.genesis, logger: TestDatabase.logger)
            try await observer.start()
            try await observer.catchUp(from: [("node", fetch)])
            let total = try await observer.chainStore.accessEventCount()

            let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
            let application = ObserverDashboard.makeApplication(
                observer: observer, host: "127.0.0.1", port: 0, logger: TestDatabase.logger, onServerRunning: { portSink.yield($0) })
            let server = Task { try await application.runService() }
            defer { server.cancel() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())

            let artifacts = URL(
                fileURLWithPath: ProcessInfo.processInfo.environment["DATAGATEWAY_ARTIFACTS"]
                    ?? TestPaths.packageRoot.appendingPathComponent(".ci/artifacts").path)
            try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
            let prefix = artifacts.appendingPathComponent("dashboard-\(suite.rawValue)").path
            let run = try await runProcess(
                TestPaths.python,
                [TestPaths.packageRoot.appendingPathComponent("Tests/Oracles/dashboard_page.py").path, "http://127.0.0.1:\(port)/", prefix])
            #expect(run.status == 0, "\(run.stderr)")
            let page = try JSONDecoder().decode(Page.self, from: Data(run.stdout.utf8))
            print("dashboard screenshots: \(prefix)-overview.png, -verified.png, -tampered.png")

            #expect(page.state == "ready", "\(page.status)")
            #expect(page.totalEvents == String(total) && page.status.contains("\(total) access events"), "\(page.status)")
            // Every event of the observer's log is in exactly one bar.
            #expect(page.bars.reduce(0) { $0 + $1.count } == total, "\(page.bars)")
            #expect(page.bars.contains { $0.department == DemoConsortium.housing && $0.decision == "deny" && $0.count >= 1 }, "\(page.bars)")
            #expect(
                page.bars.contains { $0.department == DemoConsortium.socialSecurity && $0.decision == "allow" && $0.count >= 2 }, "\(page.bars)")
            #expect(page.denials.contains { $0.cells.first == DemoConsortium.housing && $0.cells.contains("tenant_screening") }, "\(page.denials)")
            #expect(page.purposes.contains { $0.cells == ["benefit_eligibility", "allow", "2"] }, "\(page.purposes)")
            #expect(page.grants.count == 1 && page.grants[0].cells.contains(DemoConsortium.housing), "\(page.grants)")
            #expect(page.consents.contains { $0.cells == ["social_welfare", "1", "0"] }, "\(page.consents)")
            #expect(page.validators.count == 1 && page.validators[0].cells.prefix(2) == ["1", "0"], "\(page.validators)")
            #expect(!page.events.isEmpty)
            #expect(page.verified?.result == "verified", "\(String(describing: page.verified))")
            #expect(page.tampered?.result == "failed" && page.tampered?.text.contains("FAILED") == true, "\(String(describing: page.tampered))")
            for shot in ["overview", "verified", "tampered"] {
                #expect(FileManager.default.fileExists(atPath: "\(prefix)-\(shot).png"), "screenshot \(shot)")
            }

            // The API refuses what it cannot answer with a problem, not a crash.
            let statuses = try await runProcess(
                TestPaths.python,
                [
                    "-c",
                    """
                    import sys, urllib.request, urllib.error
                    for url in sys.argv[1:]:
                        try:
                            print(urllib.request.urlopen(url).status, "")
                        except urllib.error.HTTPError as e:
                            print(e.code, e.read().decode())
                    """,
                    "http://127.0.0.1:\(port)/api/events?limit=100000", "http://127.0.0.1:\(port)/api/proof?event=no-such-event",
                    "http://127.0.0.1:\(port)/api/summary",
                    "http://127.0.0.1:\(port)/api/proof?event=e&transaction=zz",
                    "http://127.0.0.1:\(port)/api/proof?event=e&transaction=" + String(repeating: "ab", count: 33),
                ])
            let lines = statuses.stdout.split(separator: "\n").map(String.init)
            #expect(lines.count == 5 && lines[0].hasPrefix("400 ") && lines[0].contains("invalid_request"), "\(statuses.stdout)\(statuses.stderr)")
            #expect(lines.count == 5 && lines[1].hasPrefix("404 ") && lines[2].hasPrefix("200"), "\(statuses.stdout)")
            // A transaction hash that is not 64 hexadecimal digits is refused, not ignored.
            #expect(lines.count == 5 && lines[3...4].allSatisfy { $0.hasPrefix("400 ") && $0.contains("transaction must be") }, "\(statuses.stdout)")
        }
    }
}
