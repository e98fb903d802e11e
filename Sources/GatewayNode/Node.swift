import Foundation
import GatewayChain
import GatewayCrypto
import GatewayFiles
import GatewayPolicy
import GatewaySchema
import GatewayStore
import GatewayWire
import Logging
import ServiceLifecycle

/// One DataGateway node, assembled from its configuration: database, chain, policies, categories, departments.
/// Its `services` run in a ServiceGroup (the HTTP server is added by GatewayHTTP) and stop in reverse order.
package struct Node: Sendable {
    package let configuration: NodeConfiguration
    package let suite: any CryptoSuite
    package let database: Database
    package let chain: ChainService
    package let exchange: ExchangeService
    package let governance: GovernanceService
    package let departments: DepartmentDirectory
    package let genesis: Genesis
    package let logger: Logger
    /// The consortium's aggregation key and this node's share of it (if it holds one).
    package let aggregation: ConsortiumKey
    let randomness: RandomnessPoolService?
    /// Operational metrics (`GET /metrics`).
    package let metrics: NodeMetrics
    /// The node's key: it signs blocks, votes, node-to-node requests and every HTTP response.
    package let signingKey: any SigningKey

    /// Loads everything the node needs and fails early, with a message that says what to fix.
    package static func assemble(_ configuration: NodeConfiguration, logger: Logger, progress: (String) -> Void = { _ in }) throws -> Node {
        let suite = try configuration.suite.makeSuite()
        // Inputs first, generated keys after: a node whose department the directory does not list would serve nobody.
        let departments = try loadDepartments(configuration, suite: suite)
        let secrets = try NodeSecrets.loadOrCreate(configuration: configuration, suite: suite, progress: progress)
        let categories: [String: RecordCategory]
        do {
            categories = try RecordCategory.loadAll(from: configuration.schemasDirectory)
        } catch {
            throw NodeError("cannot load record categories from \(configuration.schemasDirectory.path): \(error)")
        }
        guard !categories.isEmpty else { throw NodeError("no record category schemas in \(configuration.schemasDirectory.path)") }
        let policies: PolicyBundle
        do {
            policies = try PolicyBundle.load(from: configuration.policiesDirectory, schemas: configuration.schemasDirectory)
        } catch {
            throw NodeError("cannot load policies: \(error)")
        }
        let database = try Database(url: configuration.databaseURL, logger: logger)
        let metrics = NodeMetrics()
        let now: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }
        let chain = try ChainService(
            database: database, genesis: secrets.genesis, suite: suite, signer: secrets.signingKey, nodeID: configuration.nodeID,
            logger: logger, settings: configuration.consensusSettings, now: now,
            afterMigration: {
                [sums = RecordVault(suite: suite, recordKey: secrets.recordKey, salt: secrets.salt).runningSums(secrets.aggregation.publicKey)]
                database in
                try await RecordStore(database: database).backfillRunningSums(sums) { line in logger.notice("\(line)") }
                // A database restored from a backup may hold records erased since: they go before the node serves.
                let replayed = try await RecordStore(database: database).replayErasures(sums: sums)
                if replayed > 0 { logger.notice("applied \(replayed) erasure(s) on chain to records restored from a backup") }
            },
            metrics: metrics
        )
        let submitter = TransactionSubmitter(
            chain: chain, store: ChainStore(database: database), suite: suite, signer: secrets.signingKey, chainID: secrets.genesis.chainID,
            nodeID: configuration.nodeID, now: now
        )
        let governance = GovernanceService(
            chain: chain, submitter: submitter, suite: suite, nodeID: configuration.nodeID, department: configuration.department
        )
        let encryptor = PaillierEncryptor(publicKey: secrets.aggregation.publicKey)
        let pool = configuration.paillierPoolSize > 0 ? RandomnessPool(encryptor: encryptor, capacity: configuration.paillierPoolSize) : nil
        let exchange = ExchangeService(
            suite: suite, chain: chain, database: database, categories: categories, policies: policies, departments: departments,
            secrets: secrets, encryptor: encryptor, pool: pool, nodeID: configuration.nodeID, department: configuration.department,
            peerAPIs: configuration.peerAPIs, decryptionTimeoutMs: configuration.decryptionTimeoutMs, submitter: submitter, logger: logger, now: now,
            tls: configuration.tls, metrics: metrics
        )
        return Node(
            configuration: configuration, suite: suite, database: database, chain: chain, exchange: exchange, governance: governance,
            departments: departments,
            genesis: secrets.genesis, logger: logger, aggregation: secrets.aggregation, randomness: pool.map { RandomnessPoolService($0) },
            metrics: metrics, signingKey: secrets.signingKey
        )
    }

    /// The department directory, checked to list this node's own department.
    package static func loadDepartments(_ configuration: NodeConfiguration, suite: any CryptoSuite) throws -> DepartmentDirectory {
        let departments = try DepartmentDirectory.load(from: configuration.departmentsFile, suite: suite)
        guard departments.departments[configuration.department] != nil else {
            throw NodeError(
                """
                this node's department \(configuration.department) is not in the departments file \(configuration.departmentsFile.path): \
                check --department, or add the entry `gateway init` printed for it
                """)
        }
        return departments
    }

    /// The background services, in start order: the database pool, the chain, the policy-bundle check, the Paillier
    /// randomness pool.
    package var services: [any Service] {
        database.clients + [chain, BundleCheckService(exchange: exchange)] + (randomness.map { [$0] } ?? [])
            + (exchange.decryptionDuty.map { [DecryptionDutyService(duty: $0, chain: chain)] } ?? [])
    }

    /// Readiness: whether this node can answer data requests now — chain loaded and committing, policy bundle approved,
    /// derived tables matching the chain. `reasons` says what is wrong (empty when ready).
    package func readiness() async -> API.Readiness {
        var reasons: [String] = []
        if let reason = await chain.notCommittingReason() { reasons.append(reason) }
        if let reason = await chain.quorumReason() { reasons.append(reason) }
        if await chain.decidedGovernance().state.approvedBundles.contains(exchange.policyBundleHash) == false,
            await chain.decidedGovernance().state.validators.map(\.nodeID) != [configuration.nodeID]
        {
            reasons.append("this node's policy bundle \(Hex.encode(exchange.policyBundleHash)) is not approved on chain")
        }
        for table in DerivedRows.Table.allCases {
            if let reason = await chain.derivedFault(table) { reasons.append(reason) }
        }
        return API.Readiness(ready: reasons.isEmpty, height: await chain.height, reasons: reasons)
    }

    /// The metrics' values read at a scrape.
    package func metricsSnapshot() async -> NodeMetrics.Snapshot {
        let consensus = await chain.consensusCounts()
        var snapshot = NodeMetrics.Snapshot(
            height: await chain.height, mempool: consensus.mempool, outbox: (try? await ChainStore(database: database).pendingCount()) ?? 0,
            validatorsReachable: consensus.reachable, validators: consensus.validators, integrityFailures: exchange.integrity.failures,
            ready: await readiness().ready)
        (snapshot.poolOpen, snapshot.poolMaximum) = (database.pool.open, database.pool.maximum)
        return snapshot
    }

    /// Liveness: the process answers. `status` is `starting` until the chain is loaded and verified (`height` then counts
    /// the blocks verified so far), `degraded` while the node runs but the chain cannot commit from here (too few
    /// validators reachable for a quorum) or its storage is catching up with the certified chain, `ok` otherwise;
    /// `reasons` says why when it is not ok.
    package func health() async -> API.Health {
        var reasons: [String] = []
        if let reason = await chain.quorumReason() { reasons.append(reason) }
        if let behind = await chain.catchingUp(margin: 32) {
            reasons.append("catching up: blocks stored to height \(behind.stored), the chain is certified to at least \(behind.certified)")
        }
        let status = !chain.startup.isReady ? "starting" : reasons.isEmpty ? "ok" : "degraded"
        var health = API.Health(
            status: status, node: configuration.nodeID, chain: genesis.chainID, suite: suite.name.rawValue,
            height: await chain.height,
            policyBundle: Hex.encode(exchange.policyBundleHash), integrityFailures: exchange.integrity.failures
        )
        if !reasons.isEmpty { health.reasons = reasons }
        return health
    }
}
