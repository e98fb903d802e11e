import Foundation
import GatewayChain
import GatewayCrypto
import GatewayDemo
import GatewayNode
import GatewayStore
import Logging
import PostgresNIO

/// bench/chain's restart phase, the part that needs Swift: a solo node's data directory and a stored chain of
/// `blocks` blocks for `gateway serve` to restart on (the timing itself is done by bench/restart_timing.py).
///
///   gateway-chain-bench build-chain <sm|intl> <data-dir> <database-url> <blocks>
///
/// The data directory gets what a node creates on its first start (node key, genesis naming it the one validator,
/// aggregation key, 1 of 1) and a departments file; the database is recreated and holds `blocks` blocks, each with
/// one access-log batch of 8 events signed by the node, committed through the store as the node commits its own.
/// Prints one JSON object.
func buildChainBench(_ arguments: [String]) async throws {
    guard arguments.count == 6, let suiteName = SuiteName(rawValue: arguments[2]), let blocks = Int(arguments[5]), blocks >= 0 else {
        FileHandle.standardError.write(Data("usage: gateway-chain-bench build-chain <sm|intl> <data-dir> <database-url> <blocks>\n".utf8))
        exit(2)
    }
    let suite = try suiteName.makeSuite()
    var logger = Logger(label: "build-chain")
    logger.logLevel = .critical
    let directory = URL(fileURLWithPath: arguments[3])
    try? FileManager.default.removeItem(at: directory)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let key = suite.generateSigningKey()
    try SecretFiles.write(Data(key.pemRepresentation.utf8), to: directory.appendingPathComponent("node-key.pem"))
    let unkeyed = Genesis(
        chainID: "bench-restart", suite: suiteName,
        members: [
            .init(
                nodeID: "node-1", department: DemoConsortium.registry, role: .validator, publicKey: key.publicKey.pemRepresentation,
                address: "127.0.0.1:1")
        ],
        createdAtMs: 1_800_000_000_000
    )
    progress("dealing the node's 2048-bit aggregation key (1 of 1)")
    let (genesis, shares) = try KeyCeremony.deal(genesis: unkeyed, threshold: 1, bits: 2_048, suite: suite)
    try SecretFiles.write(try genesis.fileBytes(), to: directory.appendingPathComponent("genesis.json"))
    try SecretFiles.write(try NodeSecrets.encoded(shares[0]), to: directory.appendingPathComponent(NodeSecrets.shareFileName))
    _ = try DemoConsortium.create(in: directory.appendingPathComponent("departments"), suite: suite)

    let url = arguments[4]
    try await Database.recreate(url: url, logger: logger)
    let start = ContinuousClock.now
    try await Database.withDatabase(url: url, logger: logger) { database in
        try await database.migrate()
        let store = ChainStore(database: database)
        let consensus = ConsensusStore(database: database)
        var ledger = try Ledger(genesis: genesis, suite: suite)
        let bundle = suite.hash(Array("bundle".utf8))
        var inFlight: [Task<Void, any Error>] = []
        // The blocks come from the node's own consensus code: a solo replica (as `gateway serve` runs it), one
        // transaction per block, its commits converted and stored exactly as ChainService stores decided blocks.
        let hash: @Sendable ([UInt8]) -> [UInt8] = { suite.hash($0) }
        var configuration = Replica.Configuration(replicas: 1)
        configuration.chainID = genesis.chainID
        configuration.emptyBlocksWhenIdle = false
        configuration.blockPayloadMax = 1
        var replica = Replica(
            id: 0, configuration: configuration, signer: SuiteConsensusSigner(replica: 0, key: key, validators: [key.publicKey]), hash: hash,
            rootID: genesis.hash(suite: suite), rootHeight: 0
        )
        var safety: SafetyState?
        var pending: [ConsensusBlock] = []
        func perform(_ effects: [ConsensusEffect]) async throws {
            for effect in effects {
                switch effect {
                case .persist(let state): safety = state
                case .persistBlock(let block): pending.append(block)
                case .commit(let block, let certificate, let evidence):
                    let transactions = try block.payload.map { try Transaction(decoding: $0) }
                    func signatures(_ qc: QuorumCertificate) -> [CommitSignature] {
                        qc.signatures.map { CommitSignature(validator: "node-1", signature: $0.signature) }
                    }
                    let committed = Block(header: block.header, transactions: transactions, certificate: signatures(certificate))
                    let commitment = StoredCommitment(child: evidence.childHeader, certificate: signatures(evidence.childQC))
                    let applied = try ledger.apply(committed)
                    pending.removeAll { $0.height <= committed.header.height }
                    // Blocks are independent rows: up to 8 commits in flight hide the round trips.
                    inFlight.append(
                        Task {
                            try await store.commit(
                                committed, suite: suite, evidence: ConsensusCodec.encodeEvidence(of: block), skipped: applied.skipped,
                                commitment: commitment
                            )
                        })
                    if inFlight.count >= 8 { try await inFlight.removeFirst().value }
                    if committed.header.height % 5_000 == 0 { progress("built \(committed.header.height) of \(blocks) blocks") }
                case .send, .broadcast: break
                }
            }
        }
        var now: UInt64 = 0
        try await perform(replica.start(now: now))
        var number = 0
        while ledger.height < UInt64(blocks) {
            number += 1
            let events = (0..<8).map { offset -> AccessEvent in
                let event = number * 8 + offset
                return AccessEvent(
                    eventID: "r-\(event)", requester: "social_security", action: "read", category: "citizen",
                    recordKeys: [suite.hash(Array("record \(event)".utf8))], purpose: "benefit_eligibility", policyBundleHash: bundle,
                    decision: event % 7 == 0 ? .deny : .allow, determiningPolicies: ["benefit-eligibility"],
                    requestDigest: suite.hash(Array("request \(event)".utf8)), timestampMs: 1_800_000_000_000 + Int64(event)
                )
            }
            let transaction = try Transaction(
                chainID: genesis.chainID, kind: .accessLogBatch, submitter: "node-1", nonce: UInt64(number),
                timestampMs: 1_800_000_000_000 + Int64(number), payload: AccessLogBatch(events: events).encoded, signer: key
            )
            guard replica.submit(transaction.encoded) else { throw NodeError("the replica's mempool is full") }
            now += 1
            try await perform(replica.tick(now: now))
            guard number < blocks * 2 + 16 else { throw NodeError("the solo replica stopped committing: \(replica.stateSummary)") }
        }
        // What the replica persisted before voting, as the driver keeps it: a restart resumes from it.
        let tip = ledger.height
        try await consensus.save(blocks: pending.filter { $0.height > tip }, safety: safety, epoch: 0)
        // The node's own nonces continue after the ones its blocks used (as its sequence would have).
        if number > 0 { try await database.client.query("SELECT setval('transaction_nonce', \(Int64(number)))") }
        for task in inFlight { try await task.value }
        try await database.client.query("VACUUM ANALYZE")
    }
    struct Report: Codable {
        let suite: String
        let blocks: Int
        let build_seconds: Double
    }
    let report = Report(suite: suiteName.rawValue, blocks: blocks, build_seconds: milliseconds(ContinuousClock.now - start) / 1_000)
    print(String(decoding: try encoder.encode(report), as: UTF8.self))
}
