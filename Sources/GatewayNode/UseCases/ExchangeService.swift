import Foundation
import GatewayTLS
import GatewayChain
import GatewayCrypto
import GatewayPolicy
import GatewayPrivacy
import GatewaySchema
import GatewayStore
import Logging

/// An authenticated caller: the department whose key signed the request, the role within it the request declares
/// (signed too), and the digest of that signature.
package struct Principal: Sendable {
    package let department: String
    /// The role within the department (`DG-Role`); nil when the department acts as itself.
    package let role: String?
    /// Digest of the request signature, recorded in the access log to bind the event to the request.
    package let requestDigest: [UInt8]
    /// For a node-to-node request: the member node that signed it (`department` is that node's department).
    package let node: String?

    package init(department: String, role: String? = nil, node: String? = nil, requestDigest: [UInt8]) {
        self.department = department
        self.role = role
        self.node = node
        self.requestDigest = requestDigest
    }

    /// The policy principal: `Department::"<department>"`, or `Role::"<department>/<role>"` for a role.
    package var entity: EntityUID {
        role.map { EntityUID(type: "Role", id: "\(department)/\($0)") } ?? EntityUID(type: "Department", id: department)
    }
}

/// The data-exchange use cases, one room each, assembled from the node's parts. Every room decides with the one
/// `DecisionMaker` and releases nothing without a permit from the one `AccessGate` (no log, no data).
package struct ExchangeService: Sendable {
    package let publishing: PublishRecords
    package let reading: ReadRecords
    package let erasing: EraseRecords
    package let aggregates: Aggregates
    package let statistics: Statistics
    package let grants: Grants
    package let consents: Consents
    package let audit: Audit
    /// Citizens' view of who used their data, their tokens, and departments' releases of deferred accesses.
    package let citizens: CitizenAccesses
    package let citizenTokens: CitizenTokens
    package let releases: Releases
    /// This node's duty as a holder of a share of the consortium key (nil when it holds none).
    package let decryptionDuty: DecryptionDuty?
    package let approval: BundleApproval
    package var policyBundleHash: [UInt8] { approval.policyBundleHash }
    /// Integrity failures seen since start (tampered records, aggregate inputs), reported by /v1/health.
    package let integrity: IntegrityCounter

    /// What a node plugs in: its chain (reads), submitter (writes), access log, and stores.
    package struct Parts: Sendable {
        package var ledger: any LedgerReading
        package var writer: any ChainWriting
        package var accessLog: any AccessLogging
        package var records: any RecordStoring
        package var auditStore: any AuditStoring

        package init(
            ledger: any LedgerReading, writer: any ChainWriting, accessLog: any AccessLogging, records: any RecordStoring,
            auditStore: any AuditStoring
        ) {
            self.ledger = ledger
            self.writer = writer
            self.accessLog = accessLog
            self.records = records
            self.auditStore = auditStore
        }
    }

    /// The rooms over any parts: a node's, or a test's in-memory fakes.
    package init(
        parts: Parts, suite: any CryptoSuite, categories: [String: RecordCategory], policies: PolicyBundle, departments: DepartmentDirectory,
        vault: RecordVault, aggregation: ConsortiumKey, encryptor: PaillierEncryptor, pool: RandomnessPool?, nodeID: String,
        logger: Logger, now: @escaping @Sendable () -> Int64, noise: NoiseSource = NoiseSource(), decryptionTimeoutMs: Int64 = 30_000,
        department: String = "", peers: (any StatisticsPeering)? = nil, citizenPeers: (any CitizenAccessPeering)? = nil
    ) {
        let categories = Categories(categories)
        let bundleHash = suite.hash(policies.canonicalBytes)
        let decisions = DecisionMaker(
            policies: policies, departments: departments, categories: categories, vault: vault, ledger: parts.ledger, nodeID: nodeID,
            logger: logger, now: now
        )
        let approval = BundleApproval(policyBundleHash: bundleHash, ledger: parts.ledger, writer: parts.writer, nodeID: nodeID, logger: logger)
        let admission = Admission(approval: approval, decisions: decisions)
        let gate = AccessGate(
            log: parts.accessLog, policyBundleHash: bundleHash, now: now,
            deferralMaxMs: { policies.deferral(for: $0).map { $0.maxDays * 86_400_000 } })
        let integrity = IntegrityCounter()
        let checks = RecordIntegrity(vault: vault, counter: integrity, logger: logger)
        self.approval = approval
        self.integrity = integrity
        publishing = PublishRecords(
            admission: admission, decisions: decisions, gate: gate, categories: categories, store: parts.records, writer: parts.writer,
            vault: vault, paillier: aggregation.publicKey, encryptor: encryptor, pool: pool
        )
        erasing = EraseRecords(
            admission: admission, decisions: decisions, gate: gate, categories: categories, store: parts.records, writer: parts.writer,
            vault: vault, paillier: aggregation.publicKey, nodeID: nodeID)
        reading = ReadRecords(
            admission: admission, decisions: decisions, gate: gate, categories: categories, store: parts.records, ledger: parts.ledger,
            integrity: checks, vault: vault, nodeID: nodeID
        )
        // The decryption deadline is real time whatever the use cases' clock says: it bounds a wait for other nodes.
        let waiter = DecryptionWaiter(
            key: aggregation, ledger: parts.ledger, timeoutMs: decryptionTimeoutMs, now: { Int64(Date().timeIntervalSince1970 * 1_000) })
        aggregates = Aggregates(
            admission: admission, decisions: decisions, gate: gate, categories: categories, store: parts.records, ledger: parts.ledger,
            writer: parts.writer, integrity: checks, aggregation: aggregation, waiter: waiter, privacy: PrivateRelease(noise: noise), suite: suite,
            nodeID: nodeID, now: now
        )
        statistics = Statistics(
            aggregates: aggregates, peers: peers ?? NoStatisticsPeers(), department: department)
        decryptionDuty = aggregation.share.map { share in
            DecryptionDuty(
                key: aggregation, share: share, nodeID: nodeID, suite: suite, ledger: parts.ledger, writer: parts.writer, audit: parts.auditStore,
                logger: logger)
        }
        grants = Grants(
            admission: admission, decisions: decisions, gate: gate, categories: categories, departments: departments, ledger: parts.ledger,
            writer: parts.writer, nodeID: nodeID, now: now
        )
        consents = Consents(admission: admission, decisions: decisions, gate: gate, ledger: parts.ledger, writer: parts.writer, vault: vault)
        audit = Audit(
            admission: admission, decisions: decisions, gate: gate, ledger: parts.ledger, store: parts.auditStore, categories: categories,
            vault: vault)
        citizens = CitizenAccesses(
            categories: categories, vault: vault, store: parts.auditStore, ledger: parts.ledger, policies: policies,
            peers: citizenPeers ?? NoCitizenAccessPeers(), nodeID: nodeID, now: now)
        citizenTokens = CitizenTokens(key: vault.citizenTokenKey, nodeID: nodeID, department: department, now: now)
        releases = Releases(store: parts.auditStore, writer: parts.writer, department: department)
    }

    /// A node's rooms: its chain service, submitter, access-log batcher and PostgreSQL stores.
    init(
        suite: any CryptoSuite, chain: ChainService, database: Database, categories: [String: RecordCategory], policies: PolicyBundle,
        departments: DepartmentDirectory, secrets: NodeSecrets, encryptor: PaillierEncryptor, pool: RandomnessPool?, nodeID: String,
        department: String, peerAPIs: [String: String], decryptionTimeoutMs: Int64, submitter: TransactionSubmitter, logger: Logger,
        now: @escaping @Sendable () -> Int64, tls: TLSIdentity? = nil, metrics: NodeMetrics? = nil
    ) {
        let accessLog = AccessLogBatcher(chain: submitter, metrics: metrics, now: now)
        chain.payloadTap.attach(accessLog)
        let parts = Parts(
            ledger: chain, writer: submitter, accessLog: accessLog,
            records: RecordStore(database: database),
            auditStore: ChainStore(database: database)
        )
        let peers = PeerClient(
            nodeID: nodeID, key: secrets.signingKey, suite: suite, addresses: peerAPIs, tls: tls,
            memberCertificate: { await chain.memberTLSCertificate($0) }, memberKey: { await chain.member($0)?.key })
        self.init(
            parts: parts, suite: suite, categories: categories, policies: policies, departments: departments,
            vault: RecordVault(suite: suite, recordKey: secrets.recordKey, salt: secrets.salt), aggregation: secrets.aggregation,
            encryptor: encryptor, pool: pool, nodeID: nodeID, logger: logger, now: now, decryptionTimeoutMs: decryptionTimeoutMs,
            department: department, peers: peers, citizenPeers: peers
        )
    }

    /// At startup: approve a solo node's bundle at once, or say loudly that this node will refuse requests.
    package func checkBundleAtStartup() async { await approval.checkAtStartup() }
}
