import ArgumentParser
import Foundation
import GatewayCrypto
import GatewayDemo
import GatewayNode
import GatewayStore
import Logging

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the whole exchange on one node and narrate it: publish, allowed and denied requests, statistics, audit.",
        discussion: """
            Starts a solo-validator node on 127.0.0.1 with a fresh database (the database named in --database-url is \
            dropped and recreated, so its name must contain 'demo'), then drives the real HTTP API as the civil registry, \
            social security, housing, the statistics office and a regulator. Exits 0 if every step produced what it should, \
            non-zero naming the failing step otherwise.
            """
    )

    @Option(
        help:
            "PostgreSQL URL of the demo database (recreated). Env: DATAGATEWAY_DEMO_DATABASE_URL. Default: postgres://datagateway:datagateway@127.0.0.1:5432/datagateway_demo."
    )
    var databaseURL: String?

    @Option(help: "Working directory for the demo node's keys and the departments' keys. Default: a new temporary directory.")
    var workDir: String?

    @Option(help: "Number of synthetic citizen records to publish.")
    var records: Int = 1_000

    @Option(help: "Seed of the synthetic data generator.")
    var seed: UInt64 = 2026

    @Option(help: "Crypto suite: sm (SM2/SM3/SM4) or intl (Ed25519/SHA-256/AES-GCM).")
    var suite: SuiteName = .sm

    @Option(help: "Directory of Cedar policy files.")
    var policies: String = "Policies"

    @Option(help: "Directory of record-category JSON Schemas.")
    var schemas: String = "Schemas"

    @Option(help: "Log level of the node while the demo runs.")
    var logLevel: Logger.Level = .warning

    @Option(help: "Bits of the consortium aggregation key's modulus (dealt at start with safe primes; 1024 is quicker).")
    var aggregationBits: Int = 2_048

    func validate() throws {
        guard records >= 20 else { throw ValidationError("--records must be at least 20 so that groups can meet the minimum cohort") }
        guard records <= 1_000_000 else { throw ValidationError("--records must be at most 1000000") }
    }

    func run() async throws {
        let url = resolve(
            databaseURL, env: "DATAGATEWAY_DEMO_DATABASE_URL", default: "postgres://datagateway:datagateway@127.0.0.1:5432/datagateway_demo")
        guard let name = URLComponents(string: url)?.path, name.contains("demo") else {
            throw CommandFailure("the demo drops and recreates its database: pass a --database-url whose database name contains 'demo'")
        }
        let suiteImpl = try suite.makeSuite()
        let logger = makeLogger("datagateway.demo", level: logLevel)
        let work = URL(fileURLWithPath: workDir ?? NSTemporaryDirectory() + "datagateway-demo-\(UUID().uuidString.prefix(8))")
        say("DataGateway demo — four department nodes, one chain, five departments, suite \(suite.rawValue)")
        say("   fresh database \(name.dropFirst()), working directory \(work.path)")
        do {
            try await Database.recreate(url: url, logger: logger)
        } catch {
            throw CommandFailure("cannot reach PostgreSQL at \(url): \(error). Start it (README: the demo command does) or pass --database-url.")
        }
        let started = Date()
        let cluster: DemoCluster
        do {
            cluster = try await DemoCluster.start(
                in: work, databaseURL: url, suite: suite, policies: URL(fileURLWithPath: policies).standardizedFileURL,
                schemas: URL(fileURLWithPath: schemas).standardizedFileURL, aggregationBits: aggregationBits, logLevel: logLevel, logger: logger,
                progress: { say("   \($0)") })
        } catch {
            throw CommandFailure("cannot start the demo consortium: \(error)")
        }
        guard let registry = cluster.node(of: DemoConsortium.registry) else { throw CommandFailure("the demo cluster has no registry node") }
        say(
            "   four nodes up (\(cluster.nodes.map { "\($0.node.configuration.nodeID) \($0.node.configuration.department) \($0.baseURL)" }.joined(separator: ", ")))"
        )
        say(
            "   every department and node speaks TLS 1.3 to the API with its own certificate, pinned in the departments file or its member entry of the genesis (no CA); requests are also signed"
        )
        let outcome: Result<DemoReport, any Error>
        do {
            let scenario = DemoScenario(
                baseURL: registry.baseURL, consortium: cluster.consortium, suite: suiteImpl, genesis: registry.node.genesis, recordCount: records,
                seed: seed, nodeCertificate: registry.node.configuration.tls?.certificatePEM
            )
            let report = try await scenario.run { line in say(line) }
            try await ConsortiumScenario(
                cluster: cluster,
                registryCitizens: SyntheticCitizens.generate(count: records, seed: seed).filter {
                    !report.erased.contains($0["citizen_id"]?.stringValue ?? "")
                }, seed: seed, sharedCitizen: report.checkedCitizen
            ).run { line in say(line) }
            try await CitizenScenario(cluster: cluster, citizenID: report.checkedCitizen).run { line in say(line) }
            try await LogHeadsScenario(cluster: cluster).run { line in say(line) }
            outcome = .success(report)
        } catch {
            outcome = .failure(error)
        }
        await cluster.stop()
        switch outcome {
        case .success:
            say(String(format: "Demo complete in %.1f s: every step behaved as the policies say.", Date().timeIntervalSince(started)))
        case .failure(let error):
            note("DEMO FAILED: \(error)")
            throw ExitCode(1)
        }
    }
}
