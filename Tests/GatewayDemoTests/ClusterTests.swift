import Foundation
import GatewayChain
import GatewayClient
import GatewayCrypto
import GatewayDemo
import GatewayFiles
import GatewayNode
import GatewaySchema
import GatewayStore
import GatewayTestSupport
import GatewayWire
import PostgresNIO
import Testing

/// Four real `gateway serve` processes on 127.0.0.1, each with its own database, agreeing over TCP. Under a steady
/// load: kill -9 one validator → commits continue; restart it → it catches up and agrees; kill two → commits stop
/// without a fork; restart one → commits resume. Afterwards every acknowledged transaction is on every node and all
/// nodes hold the same blocks.
@Suite(.serialized, .timeLimit(.minutes(10))) struct ClusterTests {
    actor Acknowledged {
        var transactions: Set<String> = []
        var count: Int { transactions.count }
        func add(_ receipt: API.PublishResponse) {
            transactions.insert(receipt.event.transaction)
            for anchor in receipt.anchors { transactions.insert(anchor.transaction) }
        }
    }

    final class Nodes: @unchecked Sendable {
        let layout: ClusterLayout
        var processes: [ServerProcess?]
        init(layout: ClusterLayout) {
            self.layout = layout
            self.processes = Array(repeating: nil, count: layout.nodes.count)
        }

        func start(_ index: Int, policies: String? = nil) async throws {
            var arguments = layout.nodes[index].serveArguments
            if let policies, let flag = arguments.firstIndex(of: "--policies") { arguments[flag + 1] = policies }
            let process = try ServerProcess(arguments: arguments)
            _ = try await process.waitForPort()
            processes[index] = process
        }

        func kill(_ index: Int) async throws {
            processes[index]?.signal(SIGKILL)
            _ = try await processes[index]?.waitForExit(timeoutSeconds: 10)
            processes[index] = nil
        }

        func stopAll() async {
            for process in processes.compactMap({ $0 }) {
                process.signal(SIGTERM)
                _ = try? await process.waitForExit(timeoutSeconds: 20)
            }
        }
    }

    func client(_ layout: ClusterLayout, node: Int, department: String) throws -> GatewayClient {
        try layout.client(department, node: node)
    }

    func height(_ layout: ClusterLayout, node: Int) async throws -> UInt64 {
        let response = try await client(layout, node: node, department: DemoConsortium.regulator).send("GET", "/v1/health")
        return try response.decode(API.Health.self).height
    }

    func log(_ message: String) {
        let seconds = Date().timeIntervalSince1970.truncatingRemainder(dividingBy: 3_600)
        FileHandle.standardError.write(Data("cluster test [\(String(format: "%.1f", seconds))]: \(message)\n".utf8))
    }

    func waitUntil(seconds: Double, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if (try? await condition()) == true { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// The consortium key on four nodes, 3 of 4: a statistic asked at node-1 is decrypted by shares from three nodes
    /// on chain, and afterwards no file of any node's data directory and no row of any node's database holds the
    /// dealer's p, q, λ, φ or p′q′, in any encoding.
    @Test func statisticsAreDecryptedByThreeNodesAcrossDepartmentsAndNoFileOrTableHoldsTheFactors() async throws {
        let work = try TestPaths.temporaryDirectory("consortium-key")
        // Ports of this test: http base+30…33, peers base+40…43 (the other cluster tests use base…base+19); at most
        // 32,623, below Linux's ephemeral range.
        let base = Int(getpid() % 630) * 20 + 20_000
        let factors = FactorBox()
        let layout = try await ClusterLayout.create(
            in: work, validators: 4, suite: .sm, httpBasePort: base + 30, peerBasePort: base + 40,
            databaseURL: try await TestDatabase.fresh("consortium"),
            policies: TestPaths.policies, schemas: TestPaths.schemas, logLevel: "error", aggregationBits: 1_024, logger: TestDatabase.logger,
            revealingFactorsTo: { factors.set($0, $1) })
        let nodes = Nodes(layout: layout)
        for index in 0..<4 { try await nodes.start(index) }
        let records = (1...24).map { ExchangeFixture.citizen($0, district: "taipa", income: 1_000 * $0) }
        let published = try await client(layout, node: 0, department: DemoConsortium.registry).send(
            "POST", "/v1/records/citizen", json: API.PublishRequest(records: records))
        #expect(published.status == 201, "\(String(decoding: published.body, as: UTF8.self))")
        let asked = try await client(layout, node: 0, department: DemoConsortium.statistics).send(
            "POST", "/v1/aggregates",
            json: API.AggregateRequest(category: "citizen", field: "monthly_income", groupBy: ["district"], purpose: "official_statistics"))
        #expect(asked.status == 200, "\(String(decoding: asked.body, as: UTF8.self))")
        let statistic = try asked.decode(API.AggregateResponse.self)
        #expect(statistic.groups.first?.sum == 300_000)
        #expect(statistic.decryption?.threshold == "3 of 4" && Set(statistic.decryption?.shareHolders ?? []).count == 3)

        // Across departments: records also on node-2; the statistics office asks once, at its own node (node-4), and
        // every holder node decides, logs and contributes; the requester's node sees no value before decryption.
        let more =
            (101...112).map { ExchangeFixture.citizen($0, district: "taipa", income: 500) }
            + (113...130).map { ExchangeFixture.citizen($0, district: "fatima", income: 2_000) }
        let second = try await client(layout, node: 1, department: DemoConsortium.registry).send(
            "POST", "/v1/records/citizen", json: API.PublishRequest(records: more))
        #expect(second.status == 201, "\(String(decoding: second.body, as: UTF8.self))")
        let statisticsNode = try #require(layout.nodes.firstIndex { $0.department == DemoConsortium.statistics })
        let across = try await client(layout, node: statisticsNode, department: DemoConsortium.statistics).send(
            "POST", "/v1/statistics",
            json: API.StatisticsRequest(category: "citizen", field: "monthly_income", groupBy: ["district"], purpose: "official_statistics"))
        #expect(across.status == 200, "\(String(decoding: across.body, as: UTF8.self))")
        let result = try across.decode(API.StatisticsResponse.self)
        #expect(result.holders.count == 4 && result.holders.allSatisfy { $0.decision == "allow" && $0.eventId != nil }, "\(result.holders)")
        let byDistrict = Dictionary(
            uniqueKeysWithValues: result.groups.compactMap { group in group.key["district"]?.stringValue.map { ($0, group) } })
        #expect(byDistrict["taipa"]?.sum == 306_000 && byDistrict["taipa"]?.count == 36)
        #expect(byDistrict["fatima"]?.sum == 36_000 && byDistrict["fatima"]?.count == 18)
        #expect(byDistrict["coloane"]?.suppressed == true && byDistrict.count == 7, "every district of the schema is a group")
        #expect(Set(result.decryption?.shareHolders ?? []).count == 3)
        // Differentially private across departments: each holder adds its noise share under encryption, so no node
        // sees an exact sum; the chain charges ε once per statistic, however many holders contributed.
        let researcher = try client(layout, node: statisticsNode, department: DemoConsortium.statistics).acting(as: "researcher")
        let research = API.StatisticsRequest(
            category: "citizen", field: "monthly_income", groupBy: ["district"], purpose: "research",
            holders: [DemoConsortium.registry, DemoConsortium.socialSecurity])
        let noisy = try await researcher.send("POST", "/v1/statistics", json: research)
        #expect(noisy.status == 200, "\(String(decoding: noisy.body, as: UTF8.self))")
        let private_ = try noisy.decode(API.StatisticsResponse.self)
        #expect(private_.epsilon == "0.5" && private_.epsilonRemaining == "0.5" && private_.noiseScale == 20_000_000)
        let taipa = try #require(private_.groups.first { $0.key["district"]?.stringValue == "taipa" })
        #expect(taipa.sum != 306_000 && taipa.cohort == nil && taipa.count == 36, "a private sum is noisy; counts are exact")
        #expect(try await researcher.send("POST", "/v1/statistics", json: research).status == 200)
        let spent = try await researcher.send("POST", "/v1/statistics", json: research)
        #expect(spent.status == 409 && spent.problem?.code == "privacy_budget_exhausted")
        // Asking at another department's node is refused.
        let elsewhere = try await client(layout, node: 0, department: DemoConsortium.statistics).send(
            "POST", "/v1/statistics",
            json: API.StatisticsRequest(category: "citizen", field: "monthly_income", groupBy: ["district"], purpose: "official_statistics"))
        #expect(elsewhere.status == 403)

        // A citizen's view across nodes: C0000101's record is on social security's node (node-2), salted with that
        // node's salt; the citizen signs in at the registry's node (node-1), which asks every other node, signed node to
        // node. Social security's fraud investigation stays hidden until social security releases it at its own node.
        let socialNode = try #require(layout.nodes.firstIndex { $0.department == DemoConsortium.socialSecurity })
        let benefit = try await client(layout, node: socialNode, department: DemoConsortium.socialSecurity).send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: ["C0000101"], purpose: "benefit_eligibility"))
        #expect(benefit.status == 200, "\(String(decoding: benefit.body, as: UTF8.self))")
        let covert = try await client(layout, node: socialNode, department: DemoConsortium.socialSecurity).acting(as: "fraud_investigator").send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: ["C0000101"], purpose: "fraud_investigation"))
        #expect(covert.status == 200, "\(String(decoding: covert.body, as: UTF8.self))")
        let covertEvent = try #require(try covert.decode(API.RecordsResponse.self).receipt.eventId)
        let login = try client(layout, node: 0, department: DemoConsortium.registry)
        let token = try await login.send("POST", "/v1/citizen/tokens", json: API.CitizenTokenRequest(citizenId: "C0000101"))
            .decode(API.CitizenToken.self).token
        func citizenView() async throws -> API.CitizenAccesses {
            let answer = try await login.sendRaw("GET", "/v1/citizen/accesses", headers: [("Authorization", "Bearer \(token)")])
            #expect(answer.status == 200, "\(String(decoding: answer.body, as: UTF8.self))")
            return try answer.decode(API.CitizenAccesses.self)
        }
        let view = try await citizenView()
        #expect(
            view.nodes.map(\.node) == ["node-1", "node-2", "node-3", "node-4"] && view.nodes.allSatisfy { $0.status == "answered" }, "\(view.nodes)")
        let benefitEvent = try benefit.decode(API.RecordsResponse.self).receipt.eventId
        #expect(view.accesses.contains { $0.eventId == benefitEvent && $0.node == "node-2" && $0.purpose == "benefit_eligibility" })
        #expect(view.accesses.contains { $0.action == "publish" && $0.node == "node-2" })
        #expect(!view.accesses.contains { $0.eventId == covertEvent })
        let released = try await client(layout, node: socialNode, department: DemoConsortium.socialSecurity).send(
            "POST", "/v1/accesses/releases", json: API.ReleaseRequest(eventIds: [covertEvent]))
        #expect(released.status == 201, "\(String(decoding: released.body, as: UTF8.self))")
        let releaseHeight = try released.decode(API.ReleaseResponse.self).height
        // node-2 answers for its records once it has stored the release's block.
        #expect(
            try await waitUntil(seconds: 60) {
                try await citizenView().accesses.contains { $0.eventId == covertEvent && $0.disclosure?.releasedAtHeight == releaseHeight }
            })
        await nodes.stopAll()

        let (p, q) = try #require(factors.value)
        let one = GMPInteger(1)
        let phi = (p - one) * (q - one)
        let secrets = [p, q, phi, (p - one).lcm(q - one), phi / GMPInteger(4)]
        var needles: [[UInt8]] = []
        for secret in secrets {
            let bytes = secret.bigEndianBytes
            needles += [
                Array(secret.toString().utf8), Array(Hex.encode(bytes).utf8), Array(secret.toString(radix: 16).uppercased().utf8),
                Array(Data(bytes).base64EncodedString().utf8), bytes,
            ]
        }
        var haystacks: [(String, [UInt8])] = []
        for node in layout.nodes {
            let files = FileManager.default.enumerator(at: URL(fileURLWithPath: node.dataDirectory), includingPropertiesForKeys: nil)
            while let file = files?.nextObject() as? URL {
                if let data = try? Data(contentsOf: file) { haystacks.append((file.path, [UInt8](data))) }
            }
            let dump = try await runProcess("/usr/bin/pg_dump", ["--data-only", node.databaseURL])
            #expect(dump.status == 0, "\(dump.stderr)")
            haystacks.append(("database of \(node.nodeID)", Array(dump.stdout.utf8)))
        }
        haystacks.append(("genesis", [UInt8](try Data(contentsOf: work.appendingPathComponent("genesis.json")))))
        #expect(haystacks.count > 12)
        #expect(([0x0a] + needles[0] + [0x0a]).windowContains(needles[0]), "the search finds what is there")
        for (name, haystack) in haystacks {
            for needle in needles where haystack.windowContains(needle) { Issue.record("\(name) holds a secret of the dealer") }
        }
    }

    final class FactorBox: @unchecked Sendable {
        // Safety: set once, during the deal, before it is read.
        var value: (GMPInteger, GMPInteger)?
        func set(_ p: GMPInteger, _ q: GMPInteger) { value = (p, q) }
    }

    @Test func killOneCommitsContinueKillTwoCommitsStopRestartResumesAndEveryNodeAgrees() async throws {
        let work = try TestPaths.temporaryDirectory("cluster")
        // Below Linux's ephemeral range (32768+), so no outgoing connection of another test can hold one of these ports.
        let base = Int(getpid() % 630) * 20 + 20_000
        let layout = try await ClusterLayout.create(
            in: work, validators: 4, suite: .intl, httpBasePort: base, peerBasePort: base + 10, databaseURL: try await TestDatabase.fresh("cluster"),
            policies: TestPaths.policies, schemas: TestPaths.schemas, logLevel: "error", aggregationBits: 1_024, logger: TestDatabase.logger
        )
        let nodes = Nodes(layout: layout)
        for index in 0..<4 { try await nodes.start(index) }
        let acknowledged = Acknowledged()
        let live = ManagedAtomicSet(Set(0..<4))

        // Steady load: two publishers, each sending small batches round-robin to the live nodes.
        let load = (0..<2).map { worker in
            Task {
                var round = 0
                while !Task.isCancelled {
                    round += 1
                    let targets = live.snapshot.sorted()
                    let node = targets[(round + worker) % targets.count]
                    let (_, records) = CrashTests.batch(worker * 100_000 + round, size: 2)
                    guard let registry = try? client(layout, node: node, department: DemoConsortium.registry),
                        let response = try? await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: records))
                    else { continue }
                    if response.status == 201, let receipt = try? response.decode(API.PublishResponse.self) { await acknowledged.add(receipt) }
                }
            }
        }
        defer { for task in load { task.cancel() } }
        #expect(try await waitUntil(seconds: 60) { await acknowledged.count >= 20 }, "the 4-node cluster does not commit")

        log("\(await acknowledged.count) acknowledged with 4 nodes; killing node-4")
        // 1. kill -9 one validator: commits continue on the other three.
        live.remove(3)
        try await nodes.kill(3)
        let beforeKill = await acknowledged.count
        #expect(try await waitUntil(seconds: 60) { await acknowledged.count >= beforeKill + 20 }, "commits stopped with one validator down")

        log("\(await acknowledged.count) acknowledged with node-4 down; restarting it")
        // 2. restart it: it catches up with the others.
        let target = try await height(layout, node: 0)
        try await nodes.start(3)
        #expect(try await waitUntil(seconds: 60) { try await height(layout, node: 3) >= target }, "the restarted node did not catch up")
        live.insert(3)
        let afterRestart = await acknowledged.count
        #expect(try await waitUntil(seconds: 60) { await acknowledged.count >= afterRestart + 10 })

        log("node-4 caught up; \(await acknowledged.count) acknowledged; killing node-3 and node-4")
        // 3. kill two: commits stop (no quorum), and nothing forks.
        for task in load { task.cancel() }
        for task in load { await task.value }
        try await nodes.kill(2)
        try await nodes.kill(3)
        try await Task.sleep(for: .seconds(2))
        let stalled = try await height(layout, node: 0)
        try await Task.sleep(for: .seconds(4))
        #expect(try await height(layout, node: 0) == stalled, "blocks were committed without a quorum")
        #expect(try await height(layout, node: 1) <= stalled + 1)
        // Readiness says so: a publish waits for a block that cannot come, and /v1/ready turns 503 with the reason
        // (while /v1/health, the process being alive, stays 200).
        let waitingPublish = Task {
            try await client(layout, node: 0, department: DemoConsortium.registry)
                .send("POST", "/v1/records/citizen", json: API.PublishRequest(records: CrashTests.batch(888_888, size: 1).1)).status
        }
        let probe = try layout.client(DemoConsortium.registry, node: 0)
        let reported = try await waitUntil(seconds: 60) {
            let ready = try await probe.sendRaw("GET", "/v1/ready", headers: [])
            guard ready.status == 503 else { return false }
            return try ready.decode(API.Readiness.self).reasons.contains { $0.contains("waited") }
        }
        #expect(reported, "/v1/ready did not report the stalled chain")
        // /v1/health stays 200 (the process is alive) and says the node is degraded: two of four validators reachable.
        let degraded = try await waitUntil(seconds: 60) {
            let health = try await probe.sendRaw("GET", "/v1/health", headers: [])
            guard health.status == 200, let body = try? health.decode(API.Health.self) else { return false }
            return body.status == "degraded" && (body.reasons ?? []).contains { $0.contains("only 2 of 4 validators are reachable") }
        }
        #expect(degraded, "/v1/health did not report the lost quorum")
        let waitedStatus = try await waitingPublish.value
        #expect(waitedStatus == 503)

        log("height stayed at \(stalled) without a quorum; restarting node-3")
        // 4. restart one: commits resume; a new publish is acknowledged (a client retries a 503 while the validators
        // re-synchronise their rounds, which takes up to a few backed-off timeouts).
        try await nodes.start(2)
        let registry = try client(layout, node: 0, department: DemoConsortium.registry)
        let (_, records) = CrashTests.batch(999_999, size: 2)
        var resumed = false
        let resumeDeadline = Date().addingTimeInterval(40)
        while !resumed, Date() < resumeDeadline {
            let response = try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: records))
            if response.status == 201 {
                resumed = true
                await acknowledged.add(try response.decode(API.PublishResponse.self))
            }
        }
        #expect(resumed, "commits did not resume with three validators")
        #expect(
            try await waitUntil(seconds: 60) {
                (try? await probe.sendRaw("GET", "/v1/health", headers: []).decode(API.Health.self).status) == "ok"
            }, "/v1/health did not return to ok with a quorum back")

        log("commits resumed; restarting node-4 and comparing every node")
        // 5. restart the last one; every node ends with every acknowledged transaction and the same blocks.
        try await nodes.start(3)
        let top = try await height(layout, node: 0)
        #expect(
            try await waitUntil(seconds: 60) {
                for index in 0..<4 where try await height(layout, node: index) < top { return false }
                return true
            }, "not every node caught up")

        // 6. An observer (the regulator's node) follows the chain without voting: it verifies every block from the
        // genesis and keeps it. A peer that serves a forged block is caught and the next peer is asked.
        func fetcher(_ node: Int, forge: Bool, withholdEvidence: Bool = false) throws -> ChainObserver.Fetch {
            let regulator = try layout.client(DemoConsortium.regulator, node: node)
            return { from in
                let response = try await regulator.send("GET", "/v1/chain/blocks?from=\(from)&limit=64")
                guard response.status == 200 else { throw NodeError("HTTP \(response.status)") }
                let page = try response.decode(API.ChainBlocks.self)
                let blocks = try page.blocks.map { try $0.decoded() }
                // A peer that cannot show the page's last block committed (as one serving an abandoned branch could not).
                if withholdEvidence { return ChainObserver.Page(blocks: blocks, commitment: nil) }
                guard forge, let first = blocks.first(where: { !$0.transactions.isEmpty }) else {
                    return ChainObserver.Page(blocks: blocks, commitment: page.commitment)
                }
                // Drop a transaction from a block but keep its header and certificate.
                let forged = Block(header: first.header, transactions: Array(first.transactions.dropLast()), certificate: first.certificate)
                return ChainObserver.Page(blocks: blocks.map { $0.header == first.header ? forged : $0 }, commitment: page.commitment)
            }
        }
        let observerURL = try await TestDatabase.fresh("observer")
        let peers: [(name: String, fetch: ChainObserver.Fetch)] = [
            ("forger", try fetcher(1, forge: true)), ("no evidence", try fetcher(2, forge: false, withholdEvidence: true)),
            ("node-1", try fetcher(0, forge: false)),
        ]
        let observed = try await Database.withDatabase(url: observerURL, logger: TestDatabase.logger) { database in
            let observer = try ChainObserver(
                database: database, genesis: try Genesis.load(from: work.appendingPathComponent("genesis.json")),
                logger: TestDatabase.logger)
            try await observer.start()
            try await observer.catchUp(from: peers)
            return await observer.height
        }
        #expect(observed >= top, "the observer stopped at \(observed) of \(top)")
        await nodes.stopAll()

        let expected = await acknowledged.transactions
        var chains: [[String]] = []
        for node in layout.nodes {
            let hashes = try await Database.withDatabase(url: node.databaseURL, logger: TestDatabase.logger) { database in
                var present = Set<String>()
                for try await hash in try await database.client.query("SELECT tx_hash FROM transactions").decode(ByteBuffer.self) {
                    present.insert(Hex.encode(Array(hash.readableBytesView)))
                }
                let missing = expected.subtracting(present)
                #expect(missing.isEmpty, "\(node.nodeID) lacks \(missing.count) acknowledged transactions")
                var hashes: [String] = []
                for try await hash in try await database.client.query("SELECT hash FROM blocks ORDER BY height").decode(ByteBuffer.self) {
                    hashes.append(Hex.encode(Array(hash.readableBytesView)))
                }
                return hashes
            }
            chains.append(hashes)
        }
        // The observer holds the same blocks as the validators.
        let observerChain = try await Database.withDatabase(url: observerURL, logger: TestDatabase.logger) { database in
            var hashes: [String] = []
            for try await hash in try await database.client.query("SELECT hash FROM blocks ORDER BY height").decode(ByteBuffer.self) {
                hashes.append(Hex.encode(Array(hash.readableBytesView)))
            }
            return hashes
        }
        #expect(observerChain.count == Int(observed))
        #expect(Array(chains[0].prefix(observerChain.count)) == observerChain, "the observer holds other blocks than node-1")
        let common = chains.map(\.count).min() ?? 0
        #expect(common >= Int(top))
        for chain in chains { #expect(Array(chain.prefix(common)) == Array(chains[0].prefix(common)), "two nodes hold different blocks") }
    }
}

/// Governance changes the validator set of a running cluster: a fifth node, not in the genesis, follows the chain
/// until the validators admit it, then votes — proven by killing a genesis validator, after which the five-member
/// set (quorum 4) can only commit with the newcomer's vote. Then the dead validator is removed, and the remaining
/// four (quorum 3) commit with one more of them down. An observer verifies the whole chain, across the changes,
/// from the genesis alone.
extension ClusterTests {
    /// In the same serialized suite as the other cluster test: two multi-process clusters at once on two cores would
    /// only measure each other.
    @Test func aJoiningNodeIsAdmittedAndVotesAndARemovedOneNoLongerCounts() async throws {
        let work = try TestPaths.temporaryDirectory("reconfigure")
        // Ports of this test: http base+5…9, peers base+15…19 (the other cluster test uses base…base+3, base+10…13).
        // Below Linux's ephemeral range (32768+), so no outgoing connection of another test can hold one of these ports.
        let base = Int(getpid() % 630) * 20 + 20_000
        let layout = try await ClusterLayout.create(
            in: work, validators: 4, joiners: 1, suite: .intl, httpBasePort: base + 5, peerBasePort: base + 15,
            databaseURL: try await TestDatabase.fresh("reconfigure"), policies: TestPaths.policies, schemas: TestPaths.schemas, logLevel: "error",
            aggregationBits: 1_024,
            logger: TestDatabase.logger
        )
        let cluster = self
        let nodes = ClusterTests.Nodes(layout: layout)
        for index in 0..<5 { try await nodes.start(index) }
        defer { Task { await nodes.stopAll() } }
        func client(_ node: Int, _ department: String? = nil) throws -> GatewayClient {
            try cluster.client(layout, node: node, department: department ?? layout.nodes[node].department)
        }
        func governance(_ node: Int) async throws -> API.GovernanceStatus {
            try await client(node, DemoConsortium.regulator).send("GET", "/v1/governance").decode(API.GovernanceStatus.self)
        }
        var serial = 0
        /// One publish through `node`, retried while the validators re-synchronise; true once acknowledged.
        var lastEvent: String?
        func publish(through node: Int, seconds: Double = 40) async throws -> Bool {
            serial += 1
            let (_, records) = CrashTests.batch(700_000 + serial, size: 2)
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                let response = try await client(node, DemoConsortium.registry).send(
                    "POST", "/v1/records/citizen", json: API.PublishRequest(records: records))
                if response.status == 201 {
                    lastEvent = try response.decode(API.PublishResponse.self).event.eventId
                    return true
                }
                try await Task.sleep(for: .milliseconds(200))
            }
            return false
        }
        #expect(try await publish(through: 0), "the genesis validators do not commit")
        // The joining node answers governance status as a node that does not vote (its view can trail); validators vote.
        let joinerView = try await governance(4)
        #expect(joinerView.node == "node-5" && joinerView.votes == false)
        #expect(try await governance(0).votes == true)
        // A proof from a multi-validator chain shows its block committed (2-chain evidence), checked from the genesis.
        let page = try await client(1, DemoConsortium.regulator).send("GET", "/v1/audit/events?limit=1").decode(API.AuditPage.self)
        let proof = try await client(1, DemoConsortium.regulator).send("GET", "/v1/audit/events/\(page.events[0].eventId)/proof")
        let verified = try ProofVerifier(genesis: try Genesis.load(from: work.appendingPathComponent("genesis.json")))
            .verify(try proof.decode(API.ProofResponse.self).proof)
        #expect(verified.committed)

        // The founding bundle is approved in the genesis. node-3 restarts with a changed bundle: it decides nothing
        // (503 policy_bundle_not_approved) until its operator's proposal gets two more validators' approvals.
        #expect(try await governance(0).approvedBundles == [try await client(0).send("GET", "/v1/health").decode(API.Health.self).policyBundle])
        let changed = work.appendingPathComponent("policies-v2")
        try FileManager.default.createDirectory(at: changed, withIntermediateDirectories: true)
        for file in ["demo.cedar", "entities.json"] {
            try FileManager.default.copyItem(at: TestPaths.policies.appendingPathComponent(file), to: changed.appendingPathComponent(file))
        }
        try #"@id("no-advertising") forbid (principal, action, resource) when { context.purpose in Purpose::"advertising" };"#
            .write(to: changed.appendingPathComponent("extra.cedar"), atomically: true, encoding: .utf8)
        try await nodes.kill(2)
        try await nodes.start(2, policies: changed.path)
        let newBundle = try await client(2).send("GET", "/v1/health").decode(API.Health.self).policyBundle
        let refused = try await client(2, DemoConsortium.registry).send(
            "POST", "/v1/records/citizen", json: API.PublishRequest(records: CrashTests.batch(690_000, size: 1).1))
        #expect(refused.status == 503 && refused.problem?.code == "policy_bundle_not_approved", "\(String(decoding: refused.body, as: UTF8.self))")
        #expect(refused.problem?.detail.contains("gateway governance propose --approve-bundle \(newBundle)") == true)
        let bundleProposal = API.GovernanceProposalRequest(
            proposalId: "bundle-v2", change: API.GovernanceChange(kind: "approvePolicyBundle", bundleHash: newBundle))
        #expect(try await client(2).send("POST", "/v1/governance/proposals", json: bundleProposal).status == 201)
        #expect(try await client(0).send("POST", "/v1/governance/proposals/bundle-v2/approvals").status == 201)
        #expect(try await client(1).send("POST", "/v1/governance/proposals/bundle-v2/approvals").status == 201)
        #expect(try await publish(through: 2), "node-3 does not serve under its approved bundle")
        cluster.log("node-3's new bundle approved by governance; node-1 proposes to admit node-5")

        // The operators of node-1 (proposer), node-2 and node-3 admit node-5: 3 of 4 approvals.
        let joining = try #require(layout.nodes[4].joining)
        let admit = API.GovernanceProposalRequest(
            proposalId: "admit-node-5",
            change: API.GovernanceChange(
                kind: "addMember",
                member: API.GovernanceMember(
                    nodeId: joining.nodeID, department: joining.department, role: "validator", publicKey: joining.publicKey, address: joining.address,
                    tlsCertificate: joining.tlsCertificate)
            ))
        let proposed = try await client(0).send("POST", "/v1/governance/proposals", json: admit)
        #expect(proposed.status == 201, "\(String(decoding: proposed.body, as: UTF8.self))")
        #expect(try proposed.decode(API.GovernanceReceipt.self).status == "pending")
        // Only the department that runs a node speaks for it.
        #expect(try await client(1, DemoConsortium.regulator).send("POST", "/v1/governance/proposals/admit-node-5/approvals").status == 403)
        #expect(try await client(1).send("POST", "/v1/governance/proposals/admit-node-5/approvals").status == 201)
        // node-3's operator approves with the CLI, which finds node-3 and its department's key in the cluster layout.
        let approved = try await runProcess(
            TestPaths.gatewayBinary.path,
            [
                "governance", "approve", "--cluster", work.path, "--node", "node-3", "--proposal", "admit-node-5",
            ])
        #expect(approved.status == 0 && approved.stdout.contains("decided"), "\(approved.stdout)\n\(approved.stderr)")
        // A fourth approval of a decided proposal is refused, and the CLI says why.
        let again = try await runProcess(
            TestPaths.gatewayBinary.path,
            [
                "governance", "approve", "--cluster", work.path, "--node", "node-4", "--proposal", "admit-node-5",
            ])
        #expect(again.status != 0 && again.stderr.contains("governance_rejected"), "\(again.stdout)\n\(again.stderr)")

        // node-5 followed the chain, so it sees itself admitted.
        #expect(
            try await cluster.waitUntil(seconds: 60) {
                let state = try await governance(4)
                return state.validators.contains("node-5") && state.epoch == 1
            }, "node-5 did not follow the chain to its admission")
        cluster.log("node-5 admitted; killing node-4: the five-member set now needs node-5's vote")
        try await nodes.kill(3)
        #expect(try await publish(through: 4), "no commit with node-1, -2, -3 and the newcomer node-5")
        #expect(try await publish(through: 0))
        cluster.log("committed with node-5's vote; removing node-4")

        // Remove node-4 (dead): 4 of 5 approvals, node-5's operator among them.
        let remove = API.GovernanceProposalRequest(proposalId: "remove-node-4", change: API.GovernanceChange(kind: "removeMember", nodeId: "node-4"))
        #expect(try await client(0).send("POST", "/v1/governance/proposals", json: remove).status == 201)
        #expect(try await client(1).send("POST", "/v1/governance/proposals/remove-node-4/approvals").status == 201)
        #expect(try await client(4).send("POST", "/v1/governance/proposals/remove-node-4/approvals").status == 201)
        let removed = try await client(2).send("POST", "/v1/governance/proposals/remove-node-4/approvals")
        #expect(try removed.decode(API.GovernanceReceipt.self).status == "decided")
        // "decided" is node-3's view; node-1 and node-5 apply the same block when it reaches them: wait for that event.
        #expect(
            try await cluster.waitUntil(seconds: 120) {
                let state = try await governance(0)
                return state.validators == ["node-1", "node-2", "node-3", "node-5"] && state.epoch == 2
            }, "node-1 did not apply the removal of node-4")
        #expect(try await cluster.waitUntil(seconds: 120) { try await governance(4).epoch == 2 }, "node-5 did not apply the removal")
        let status = try await runProcess(TestPaths.gatewayBinary.path, ["governance", "status", "--cluster", work.path, "--node", "node-5"])
        #expect(status.stdout.contains("epoch 2; validators: node-1, node-2, node-3, node-5"), "\(status.stdout)\n\(status.stderr)")

        // Four validators, quorum 3: one more may fail.
        cluster.log("node-4 removed; killing node-3")
        try await nodes.kill(2)
        #expect(try await publish(through: 0), "no commit with three of the four validators")
        #expect(try await publish(through: 4))
        cluster.log("committed with three of four; comparing chains")
        // A proof of that last decision (epoch 2) verifies from the genesis alone: it carries the governance history.
        let recent = try await client(0, DemoConsortium.regulator).send("GET", "/v1/audit/events/\(try #require(lastEvent))/proof")
        let late = try ProofVerifier(genesis: try Genesis.load(from: work.appendingPathComponent("genesis.json")))
            .verify(try recent.decode(API.ProofResponse.self).proof)
        #expect(late.committed && late.epoch == 2 && late.validators == ["node-1", "node-2", "node-3", "node-5"])

        // Every live node holds the same chain, and an observer verifies it from the genesis across both changes.
        let top = try await cluster.height(layout, node: 0)
        #expect(
            try await cluster.waitUntil(seconds: 30) {
                for index in [1, 4] where try await cluster.height(layout, node: index) < top { return false }
                return true
            })
        let regulator = try layout.client(DemoConsortium.regulator, node: 4)
        let fetch: ChainObserver.Fetch = { from in
            let page = try await regulator.send("GET", "/v1/chain/blocks?from=\(from)&limit=64").decode(API.ChainBlocks.self)
            return ChainObserver.Page(blocks: try page.blocks.map { try $0.decoded() }, commitment: page.commitment)
        }
        let observed = try await Database.withDatabase(url: try await TestDatabase.fresh("reconfigure_observer"), logger: TestDatabase.logger) {
            database in
            let observer = try ChainObserver(
                database: database, genesis: try Genesis.load(from: work.appendingPathComponent("genesis.json")),
                logger: TestDatabase.logger)
            try await observer.start()
            try await observer.catchUp(from: [("node-5", fetch)])
            return await observer.height
        }
        #expect(observed >= top, "the observer stopped at \(observed) of \(top)")
        await nodes.stopAll()
        var chains: [[String]] = []
        for index in [0, 1, 4] {
            chains.append(
                try await Database.withDatabase(url: layout.nodes[index].databaseURL, logger: TestDatabase.logger) { database in
                    var hashes: [String] = []
                    for try await hash in try await database.client.query("SELECT hash FROM blocks ORDER BY height").decode(ByteBuffer.self) {
                        hashes.append(Hex.encode(Array(hash.readableBytesView)))
                    }
                    return hashes
                })
        }
        let common = chains.map(\.count).min() ?? 0
        #expect(common >= Int(top))
        for chain in chains { #expect(Array(chain.prefix(common)) == Array(chains[0].prefix(common)), "two nodes hold different blocks") }
    }
}

/// A set shared between the test and its load tasks.
final class ManagedAtomicSet: @unchecked Sendable {
    let lock = NSLock()
    var members: Set<Int>
    init(_ members: Set<Int>) { self.members = members }
    var snapshot: Set<Int> { lock.withLock { members } }
    func remove(_ member: Int) { _ = lock.withLock { members.remove(member) } }
    func insert(_ member: Int) { _ = lock.withLock { members.insert(member) } }
}

extension Array where Element == UInt8 {
    /// Whether `needle` occurs in this array (a plain scan: haystacks here are data directories and dumps).
    func windowContains(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count, let first = needle.first else { return false }
        var index = startIndex
        while let found = self[index...].firstIndex(of: first), found + needle.count <= endIndex {
            if Array(self[found..<(found + needle.count)]) == needle { return true }
            index = found + 1
        }
        return false
    }
}

extension ClusterTests {
    /// A validator backed up while it runs (`gateway backup`), lost with its database and data directory, restored
    /// (`gateway restore`) while the chain moved on: it verifies what it restored, catches up from its peers, serves the
    /// records it held at the backup, takes part again, and votes only once it has seen the network's round.
    @Test func aValidatorRestoredFromABackupCatchesUpServesItsRecordsAndVotesAgain() async throws {
        let work = try TestPaths.temporaryDirectory("restore")
        let base = Int(getpid() % 630) * 20 + 20_005
        let layout = try await ClusterLayout.create(
            in: work, validators: 4, suite: .sm, httpBasePort: base, peerBasePort: base + 10, databaseURL: try await TestDatabase.fresh("restore"),
            policies: TestPaths.policies, schemas: TestPaths.schemas, logLevel: "error", aggregationBits: 1_024, logger: TestDatabase.logger
        )
        let nodes = Nodes(layout: layout)
        for index in 0..<4 { try await nodes.start(index) }
        let last = layout.nodes[3]
        func publish(_ batch: Int, on node: Int) async throws -> [String] {
            let (ids, records) = CrashTests.batch(batch, size: 2)
            let response = try await client(layout, node: node, department: DemoConsortium.registry)
                .send("POST", "/v1/records/citizen", json: API.PublishRequest(records: records))
            #expect(response.status == 201, "publish \(batch) on node-\(node + 1): \(response.status) \(response.problem?.detail ?? "")")
            return ids
        }
        let kept = try await publish(1, on: 3)
        let location = ["--database-url", last.databaseURL, "--data-dir", last.dataDirectory]
        let backup = work.appendingPathComponent("backup-node-4")
        let backedUp = try await runProcess(TestPaths.gatewayBinary.path, ["backup", "--out", backup.path] + location)
        #expect(backedUp.status == 0, "\(backedUp.stderr)")
        // The chain moves on after the backup; then node-4 loses its database and its data directory.
        _ = try await publish(2, on: 0)
        _ = try await publish(3, on: 1)
        try await nodes.kill(3)
        try await Database.recreate(url: last.databaseURL, logger: TestDatabase.logger)
        try FileManager.default.removeItem(atPath: last.dataDirectory)

        let restored = try await runProcess(TestPaths.gatewayBinary.path, ["restore", "--from", backup.path] + location)
        #expect(restored.status == 0, "\(restored.stderr)")
        func marked() async throws -> Bool {
            try await Database.withDatabase(url: last.databaseURL, logger: TestDatabase.logger) { database in
                try await ConsensusStore(database: database).isRestored()
            }
        }
        #expect(try await marked(), "the restored database is not marked: its validator would vote on a stale safety state")
        // Restoring again is refused: the database and the data directory now hold a node.
        let again = try await runProcess(TestPaths.gatewayBinary.path, ["restore", "--from", backup.path] + location)
        #expect(again.status == 1 && again.stderr.contains("already holds"), "\(again.stderr)")

        try await nodes.start(3)
        let top = try await height(layout, node: 0)
        #expect(try await waitUntil(seconds: 60) { try await height(layout, node: 3) >= top }, "the restored node did not catch up")
        let read = try await client(layout, node: 3, department: DemoConsortium.registry)
            .send("GET", "/v1/records/citizen/\(kept[0])?purpose=benefit_eligibility")
        #expect(read.status == 200, "the record held at the backup: \(read.status) \(read.problem?.detail ?? "")")
        // It takes part again; its restore mark is cleared once it has seen the network's round and voted past it.
        var batch = 10
        let settled = try await waitUntil(seconds: 90) {
            batch += 1
            _ = try await publish(batch, on: 3)
            return try await !marked()
        }
        #expect(settled, "the restored validator never saw the network's round")
        let heights = try await (0..<4).asyncMap { try await height(layout, node: $0) }
        #expect(
            try await waitUntil(seconds: 60) {
                let now = try await (0..<4).asyncMap { try await height(layout, node: $0) }
                return Set(now).count == 1 && now[0] >= heights.max()!
            }, "the nodes do not agree after the restore")
        await nodes.stopAll()
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
