import Foundation
import GatewayChain
import GatewayCrypto
import GatewayFiles
import GatewayNode
import GatewayPolicy
import GatewayPrivacy
import GatewaySchema
import GatewayStore
import Logging

/// The exchange's use cases over in-memory fakes: a real policy bundle (Policies/), real categories (Schemas/), real
/// crypto, the demo consortium's departments, an `InMemoryChain` and an `InMemoryRecordStore`. No database, no
/// network: a test builds one in milliseconds.
package struct ExchangeFixture: Sendable {
    package static let registry = "civil_registry"
    package static let socialSecurity = "social_security"
    package static let housing = "housing"
    package static let statistics = "statistics"
    package static let regulator = "regulator"

    package let exchange: ExchangeService
    package let chain: InMemoryChain
    package let store: InMemoryRecordStore
    package let clock: ManualClock
    package let suite: any CryptoSuite
    package let vault: RecordVault
    /// Each department's signing key (its package key is in `departments`), for signed requests.
    package let keys: [String: any SigningKey]
    package let departments: DepartmentDirectory
    package let governance: GovernanceService
    /// The use cases over this fixture's chain and store, as a restarted node would assemble them.
    package let assemble: @Sendable (_ noiseSeed: UInt64) -> ExchangeService

    /// The consortium key's scheme and every share (share 1 is node-1's, share i peer node-i's).
    package let scheme: ThresholdPaillier
    package let shares: [ThresholdPaillier.KeyShare]

    /// One consortium key per (t, n) for every fixture of the process (512 bits: these tests check logic, not key
    /// strength).
    static let dealt = DealCache()

    final class DealCache: @unchecked Sendable {
        // Safety: `keys` is only touched under `lock`.
        let lock = NSLock()
        var keys: [[Int]: (ThresholdPaillier, [ThresholdPaillier.KeyShare])] = [:]

        func key(threshold: Int, parties: Int) throws -> (ThresholdPaillier, [ThresholdPaillier.KeyShare]) {
            try lock.withLock {
                if let key = keys[[threshold, parties]] { return key }
                let key = try ThresholdPaillier.deal(bits: 512, threshold: threshold, parties: parties)
                keys[[threshold, parties]] = key
                return key
            }
        }
    }

    /// Node `node-1` of the civil registry (the data holder), solo validator of its chain.
    /// `policies`: a policy directory (Policies/ by default); `clock`: the fixture's time (a fixed day in 2027 by
    /// default, so tests may name dates; `.wallClock` for tests that reckon from today).
    package init(
        suite name: SuiteName = .intl, holder: String = Self.registry, policies: URL = TestPaths.policies, clock: ManualClock = ManualClock(),
        noiseSeed: UInt64 = 14, threshold: Int = 1, shareHolders: Int = 1, silentPeers: Set<String> = [], forgingPeers: Set<String> = [],
        decryptionTimeoutMs: Int64 = 30_000, statisticsPeers: (any StatisticsPeering)? = nil, citizenPeers: (any CitizenAccessPeering)? = nil,
        nodeID: String = "node-1", departmentKeys: [String: any SigningKey] = [:]
    ) throws {
        let suite = try name.makeSuite()
        let (scheme, shares) = try Self.dealt.key(threshold: threshold, parties: shareHolders)
        let peers = (1..<shareHolders).map { "node-\($0 + 1)" }
        let chain = try InMemoryChain(suite: suite, nodeID: nodeID, department: holder, clock: clock, peers: peers, aggregation: scheme.parameters)
        let store = InMemoryRecordStore(chain: chain)
        var keys: [String: any SigningKey] = [:]
        var listed: [DepartmentDirectory.Department] = []
        for (id, groups) in [
            (Self.registry, ["government"]), (Self.socialSecurity, ["government"]), (Self.housing, ["government"]),
            (Self.statistics, ["government"]), (Self.regulator, ["regulators"]),
        ] {
            let key = departmentKeys[id] ?? suite.generateSigningKey()
            keys[id] = key
            listed.append(.init(id: id, name: id, groups: groups, publicKey: key.publicKey.pemRepresentation))
        }
        let departments = try DepartmentDirectory(departments: listed, suite: suite)
        let aggregation = ConsortiumKey(scheme: scheme, holders: [nodeID] + peers, share: shares[0])
        let logger = Logger(label: "unit", factory: { _ in SwiftLogNoOpLogHandler() })
        let vault = RecordVault(suite: suite, recordKey: SystemRandom().bytes(count: suite.symmetricKeyLength), salt: SystemRandom().bytes(count: 32))
        let bundle = try PolicyBundle.load(from: policies, schemas: TestPaths.schemas)
        let categories = try RecordCategory.loadAll(from: TestPaths.schemas)
        // Noise is seeded, so a noisy statistic replays.
        assemble = { noiseSeed in
            ExchangeService(
                parts: .init(ledger: chain, writer: chain, accessLog: chain, records: store, auditStore: chain), suite: suite,
                categories: categories, policies: bundle, departments: departments, vault: vault, aggregation: aggregation,
                encryptor: PaillierEncryptor(publicKey: scheme.publicKey), pool: nil, nodeID: nodeID,
                logger: logger, now: clock.reader, noise: NoiseSource(SplitMix64(seed: noiseSeed)), decryptionTimeoutMs: decryptionTimeoutMs,
                department: holder, peers: statisticsPeers, citizenPeers: citizenPeers
            )
        }
        exchange = assemble(noiseSeed)
        self.scheme = scheme
        self.shares = shares
        // Every share holder answers decryption requests as its node would, except the silent ones (down); a forging
        // one decrypts with a share that is not its own, so its proofs fail.
        if let duty = exchange.decryptionDuty { chain.addDuty(duty) }
        for (offset, peer) in peers.enumerated() where !silentPeers.contains(peer) {
            let share =
                forgingPeers.contains(peer) ? ThresholdPaillier.KeyShare(index: offset + 2, secret: "\(987_654_321 + offset)") : shares[offset + 1]
            let key = ConsortiumKey(scheme: scheme, holders: [nodeID] + peers, share: share)
            chain.addDuty(
                DecryptionDuty(
                    key: key, share: share, nodeID: peer, suite: suite, ledger: chain, writer: PeerWriter(chain: chain, peer: peer), audit: chain,
                    logger: logger))
        }
        self.chain = chain
        self.store = store
        self.keys = keys
        self.departments = departments
        governance = GovernanceService(chain: chain, submitter: chain, suite: suite, nodeID: nodeID, department: holder)
        self.clock = clock
        self.suite = suite
        self.vault = vault
    }

    /// A caller: each gets a fresh request digest, as each signed request has its own.
    package static func principal(_ department: String, role: String? = nil) -> Principal {
        Principal(department: department, role: role, requestDigest: SystemRandom().bytes(count: 32))
    }

    /// A valid citizen record of the demo schema.
    package static func citizen(
        _ number: Int, district: String = "taipa", ageBand: String = "35-64", income: Int = 12_000, household: Int = 3
    ) -> JSONValue {
        .object([
            "citizen_id": .string(String(format: "C%07d", number)), "full_name": .string("Citizen \(number)"),
            "birth_date": .string("1980-05-17"), "sex": .string("F"), "district": .string(district), "age_band": .string(ageBand),
            "monthly_income": .integer(Int64(income)), "household_size": .integer(Int64(household)),
        ])
    }

    /// The record key the chain sees for a citizen record (salted: never the id).
    package func recordKey(_ id: String) -> [UInt8] { vault.recordKey(category: "citizen", id: id) }
}
