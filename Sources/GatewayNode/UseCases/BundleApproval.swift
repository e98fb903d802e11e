import GatewayChain
import GatewayCrypto
import GatewayWire
import Logging

/// A node decides only under a policy bundle approved on chain (in the genesis, or by governance). A solo
/// validator approves its own bundle: its proposal is decided by its single vote. Otherwise every request is refused
/// until governance approves the bundle; approval takes effect without a restart.
package struct BundleApproval: Sendable {
    package let policyBundleHash: [UInt8]
    let ledger: any LedgerReading
    let writer: any ChainWriting
    let nodeID: String
    let logger: Logger
    /// A solo validator's self-approval of its bundle, run once for all the requests that arrive before it commits.
    let selfApproval = SingleFlight()

    package init(policyBundleHash: [UInt8], ledger: any LedgerReading, writer: any ChainWriting, nodeID: String, logger: Logger) {
        self.policyBundleHash = policyBundleHash
        self.ledger = ledger
        self.writer = writer
        self.nodeID = nodeID
        self.logger = logger
    }

    func require() async throws {
        if await isApproved() { return }
        if await isSoloValidator() {
            // Concurrent first requests wait for the one proposal instead of racing their own (and failing).
            // A caller that saw no approval before an earlier run committed one re-checks inside its own run.
            await selfApproval.run {
                if await isApproved() { return }
                await approveOwnBundle()
            }
            if await isApproved() { return }
        }
        let hex = Hex.encode(policyBundleHash)
        throw ExchangeError(
            .bundleNotApproved,
            """
            this node's policy bundle \(hex) is not approved on chain, so it decides nothing; a validator's operator proposes it \
            (gateway governance propose --approve-bundle \(hex)) and 2/3 of the validators approve it
            """)
    }

    func isApproved() async -> Bool {
        await ledger.decidedGovernance().state.approvedBundles.contains(policyBundleHash)
    }

    func isSoloValidator() async -> Bool {
        await ledger.decidedGovernance().state.validators.map(\.nodeID) == [nodeID]
    }

    /// Proposes the node's bundle (a solo chain decides it at once). If another process of the node proposed it first,
    /// the ledger skips this one; the caller re-reads the state either way.
    func approveOwnBundle() async {
        let proposal = GovernanceProposal(
            proposalID: "policy-bundle-" + Hex.encode(policyBundleHash).prefix(16), change: .approvePolicyBundle(hash: policyBundleHash)
        )
        do {
            _ = try await writer.submit(.proposal, payload: proposal.encoded)
            logger.notice("solo validator approved its policy bundle on chain", metadata: ["bundle": "\(Hex.encode(policyBundleHash))"])
        } catch {
            logger.debug("own bundle proposal not committed", metadata: ["error": "\(error)"])
        }
    }

    /// At startup: approve a solo node's bundle at once, or say loudly that this node will refuse requests.
    package func checkAtStartup() async {
        do { try await ledger.waitUntilReady() } catch { return }
        do {
            try await require()
            logger.info("policy bundle approved on chain", metadata: ["bundle": "\(Hex.encode(policyBundleHash))"])
        } catch {
            logger.error("\(error)")
        }
    }
}

/// What every use case does first: the bundle must be approved, and a declared role must exist for the department.
package struct Admission: Sendable {
    let approval: BundleApproval
    let decisions: DecisionMaker

    func admit(_ principal: Principal) async throws {
        try await approval.require()
        try decisions.checkRole(principal)
    }
}

/// Runs one piece of work at a time: a caller arriving while it runs waits for that run instead of starting another.
actor SingleFlight {
    private var running: Task<Void, Never>?

    func run(_ work: @escaping @Sendable () async -> Void) async {
        if let running { return await running.value }
        let task = Task { await work() }
        running = task
        await task.value
        running = nil
    }
}
