import Foundation
import GatewayChain
import GatewayClient
import GatewayCrypto
import GatewayNode
import GatewaySchema
import GatewayStore
import GatewayWire

/// Step 6 of the demo, on the four-node consortium: two departments' silos are opened for a statistic without
/// pooling them, and no node can decrypt anything alone.
package struct ConsortiumScenario: Sendable {
    package let cluster: DemoCluster
    /// The civil registry's records, published on its node in steps 1–5.
    package let registryCitizens: [JSONValue]
    package let beneficiaries: Int
    package let seed: UInt64
    /// A citizen of the registry who is also one of social security's beneficiaries (records on both nodes).
    package let sharedCitizen: String?

    package init(
        cluster: DemoCluster, registryCitizens: [JSONValue], beneficiaries: Int = 400, seed: UInt64 = 2026, sharedCitizen: String? = nil
    ) {
        self.cluster = cluster
        self.registryCitizens = registryCitizens
        self.beneficiaries = beneficiaries
        self.seed = seed
        self.sharedCitizen = sharedCitizen
    }

    func client(_ department: String, at node: RunningNode) throws -> GatewayClient {
        try cluster.consortium.client(
            department, baseURL: node.baseURL, suite: try cluster.layout.suite.makeSuite(),
            nodeCertificate: node.node.configuration.tls?.certificatePEM)
    }

    package func run(narrate: @Sendable (String) -> Void) async throws {
        guard let registryNode = cluster.node(of: DemoConsortium.registry), let socialNode = cluster.node(of: DemoConsortium.socialSecurity),
            let statisticsNode = cluster.node(of: DemoConsortium.statistics)
        else { throw DemoFailure(step: "consortium", message: "the demo cluster lacks a department's node") }
        let key = statisticsNode.node.aggregation
        narrate("7. Silos opened without pooling: four department nodes, one chain, an aggregation key of \(key.summary) shares.")

        // Social security's own silo.
        var step = "beneficiaries"
        let records = SyntheticCitizens.generate(count: beneficiaries, seed: seed + 1).enumerated().map { index, record -> JSONValue in
            guard case .object(var fields) = record else { return record }
            fields["citizen_id"] = .string(
                index == 0 && sharedCitizen != nil
                    ? sharedCitizen! : "C" + SyntheticCitizens.pad((index * 7_919 + 5_000_011) % 10_000_000, width: 7))
            return .object(fields)
        }
        let social = try client(DemoConsortium.socialSecurity, at: socialNode)
        for start in stride(from: 0, to: records.count, by: 250) {
            let response = try await social.send(
                "POST", "/v1/records/citizen", json: API.PublishRequest(records: Array(records[start..<min(start + 250, records.count)])))
            guard response.status == 201 else { throw failure(step, response) }
        }
        narrate(
            "   social security publishes \(records.count) beneficiaries' records on its own node (\(socialNode.node.configuration.nodeID)); the registry's \(registryCitizens.count) stay on \(registryNode.node.configuration.nodeID)"
        )

        // One statistic over both silos, asked once at the statistics office's own node.
        step = "statistics across departments"
        narrate(
            "   the statistics office asks its own node (\(statisticsNode.node.configuration.nodeID)) for mean monthly income by district across both:"
        )
        let office = try client(DemoConsortium.statistics, at: statisticsNode)
        let request = API.StatisticsRequest(
            category: "citizen", field: "monthly_income", groupBy: ["district"], purpose: "official_statistics",
            holders: [DemoConsortium.registry, DemoConsortium.socialSecurity])
        let answer = try await office.send("POST", "/v1/statistics", json: request)
        guard answer.status == 200 else { throw failure(step, answer) }
        let statistic = try answer.decode(API.StatisticsResponse.self)
        for holder in statistic.holders {
            narrate(
                "   holder \(holder.department.padding(toLength: 16, withPad: " ", startingAt: 0)) (\(holder.node)) decided \(holder.decision) under its own policies; event \(holder.eventId?.prefix(8) ?? "—")… on chain with the digest of the encrypted groups it returned"
            )
        }
        guard statistic.holders.count == 2, statistic.holders.allSatisfy({ $0.decision == "allow" }), let decryption = statistic.decryption else {
            throw DemoFailure(step: step, message: "the holders did not both contribute, or nothing was decrypted")
        }
        guard Set(decryption.shareHolders).count == 3 else {
            throw DemoFailure(step: step, message: "expected shares from three different nodes, got \(decryption.shareHolders)")
        }
        narrate(
            "   decryption request \(decryption.request.prefix(12))… in block \(decryption.height); each share holder checked it on its own and posted a share with its proof: \(decryption.shareHolders.joined(separator: ", ")) (3 of 4 needed)"
        )
        var expected: [String: (sum: Int64, count: Int)] = [:]
        for citizen in registryCitizens + records {
            let district = citizen["district"]!.stringValue!
            expected[district, default: (0, 0)].sum += citizen["monthly_income"]!.integerValue!
            expected[district, default: (0, 0)].count += 1
        }
        for group in statistic.groups {
            let district = group.key["district"]?.stringValue ?? "?"
            let truth = expected[district] ?? (0, 0)
            let label = district.padding(toLength: 14, withPad: " ", startingAt: 0)
            if group.suppressed {
                guard truth.count < statistic.minimumCohort else {
                    throw DemoFailure(step: step, message: "\(district) was suppressed with \(truth.count) records")
                }
                narrate("   \(label)  suppressed: \(truth.count) citizens across both silos, fewer than \(statistic.minimumCohort); never decrypted")
            } else {
                guard group.sum == truth.sum, group.count == truth.count else {
                    throw DemoFailure(step: step, message: "\(district): \(group.sum ?? -1) ≠ \(truth.sum)")
                }
                narrate("   \(label)  n=\(group.count!)  mean=\(String(format: "%.2f", group.mean!))  ✓ matches both silos' plaintext together")
            }
        }
        guard statistic.groups.contains(where: \.suppressed) else { throw DemoFailure(step: step, message: "no group was suppressed") }

        // The budget is the chain's: spent by the researchers at the registry's node, it is spent everywhere.
        step = "budget across nodes"
        let researcher = try client(DemoConsortium.statistics, at: statisticsNode).acting(as: "researcher")
        let research = try await researcher.send(
            "POST", "/v1/statistics",
            json: API.StatisticsRequest(category: "citizen", field: "monthly_income", groupBy: ["district"], purpose: "research"))
        guard research.status == 409, let problem = research.problem, problem.code == "privacy_budget_exhausted" else {
            throw DemoFailure(
                step: step, message: "expected the researchers' spent budget to hold at the statistics node, got HTTP \(research.status)")
        }
        narrate(
            "   the researchers ask across departments too: 409 — their ε was spent at the registry's node in step 4, and the budget is on chain: \(problem.detail)"
        )

        // No node can decrypt alone.
        step = "decrypt alone"
        let rows = try await RecordStore(database: socialNode.node.database).aggregateRows(category: "citizen", field: "monthly_income")
        guard let row = rows.first, let share = socialNode.node.aggregation.share else {
            throw DemoFailure(step: step, message: "social security's node has no stored ciphertext or no share")
        }
        let ciphertext = PaillierCiphertext(serialized: row.ciphertext)
        let scheme = socialNode.node.aggregation.scheme
        do {
            _ = try scheme.combine([try scheme.partialDecrypt(ciphertext, share: share)], for: ciphertext)
            throw DemoFailure(step: step, message: "one node decrypted a stored ciphertext alone")
        } catch let error as CryptoError {
            narrate(
                "   social security's node tries to decrypt one of its own stored incomes with its share alone: refused — \(error.message)")
        }
    }

    func failure(_ step: String, _ response: ClientResponse) -> DemoFailure {
        DemoFailure(
            step: step, message: "HTTP \(response.status): \(response.problem?.detail ?? String(decoding: response.body.prefix(300), as: UTF8.self))")
    }
}
