import GatewayTLS
import GatewayChain
import GatewayCrypto
import GatewayStore
import GatewayWire

/// Governance through the node: its operator (the department that runs it) submits proposals and approvals, signed
/// by the node's key as chain transactions; any department reads the governed state. A step the state does not
/// allow is refused before anything is written (409 `governance_rejected`); an accepted one returns once committed.
package struct GovernanceService: Sendable {
    let chain: any LedgerReading
    let submitter: any ChainWriting
    let suite: any CryptoSuite
    let nodeID: String
    /// The department that runs this node: the only one that may speak for it.
    let department: String

    package init(chain: any LedgerReading, submitter: any ChainWriting, suite: any CryptoSuite, nodeID: String, department: String) {
        self.chain = chain
        self.submitter = submitter
        self.suite = suite
        self.nodeID = nodeID
        self.department = department
    }

    package func status(_ principal: Principal) async throws -> API.GovernanceStatus {
        try await chain.waitUntilReady()
        let (height, state) = await chain.decidedGovernance()
        let members = state.members.map(Self.member)
        var status = API.GovernanceStatus(
            height: height, epoch: state.epoch(atHeight: height + 1), validators: state.validators(atHeight: height + 1),
            members: members,
            pending: state.pendingProposals.map {
                API.GovernancePending(
                    proposalId: $0.proposal.proposalID, change: Self.change($0.proposal.change), approvals: $0.approvals,
                    approvalsNeeded: state.approvalsNeeded)
            },
            approvedBundles: state.approvedBundles.map(Hex.encode)
        )
        status.catchingUpTo = await chain.catchingUp()?.certified
        status.node = nodeID
        status.votes = status.validators.contains(nodeID)
        return status
    }

    package func propose(_ principal: Principal, _ request: API.GovernanceProposalRequest) async throws -> API.GovernanceReceipt {
        try authorize(principal)
        let proposalID = request.proposalId
        guard (1...128).contains(proposalID.count), proposalID.allSatisfy({ $0.isLetter || $0.isNumber || "-_.:".contains($0) }) else {
            throw ExchangeError(.invalidRequest, "proposalId must be 1 to 128 letters, digits or - _ . :")
        }
        let proposal = GovernanceProposal(proposalID: proposalID, change: try Self.change(request.change, suite: suite))
        return try await submit(.proposal, payload: proposal.encoded, proposalID: proposalID)
    }

    package func approve(_ principal: Principal, proposalID: String) async throws -> API.GovernanceReceipt {
        try authorize(principal)
        return try await submit(.approval, payload: GovernanceApproval(proposalID: proposalID).encoded, proposalID: proposalID)
    }

    func authorize(_ principal: Principal) throws {
        guard principal.department == department else {
            throw ExchangeError(.accessDenied, "only \(department), the department that runs node \(nodeID), may submit its governance transactions")
        }
    }

    func submit(_ kind: Transaction.Kind, payload: [UInt8], proposalID: String) async throws -> API.GovernanceReceipt {
        let (hash, location): ([UInt8], TransactionLocation)
        do {
            (hash, location) = try await submitter.submit(kind, payload: payload) { [chain] transaction in
                do {
                    try await chain.checkGovernance(transaction)
                } catch let error as ChainError {
                    throw ExchangeError(.governanceRejected, error.message)
                }
            }
        } catch let error as ChainServiceError where error.code == .skipped {
            // Another step got in first (a concurrent proposal with the same id, a second approval): the ledger skipped it.
            throw ExchangeError(.governanceRejected, error.message)
        }
        let (_, state) = await chain.decidedGovernance()
        return API.GovernanceReceipt(
            proposalId: proposalID, transaction: Hex.encode(hash), height: location.height, index: location.index,
            status: state.isDecided(proposalID) ? "decided" : "pending"
        )
    }

    static func member(_ member: Genesis.Member) -> API.GovernanceMember {
        API.GovernanceMember(
            nodeId: member.nodeID, department: member.department, role: member.role.rawValue, publicKey: member.publicKey,
            address: member.address, tlsCertificate: member.tlsCertificate)
    }

    static func change(_ change: GovernanceProposal.Change) -> API.GovernanceChange {
        switch change {
        case .addMember(let member): API.GovernanceChange(kind: "addMember", member: Self.member(member))
        case .removeMember(let nodeID): API.GovernanceChange(kind: "removeMember", nodeId: nodeID)
        case .approvePolicyBundle(let hash): API.GovernanceChange(kind: "approvePolicyBundle", bundleHash: Hex.encode(hash))
        case .setDepartmentKey(let department, let publicKey):
            API.GovernanceChange(kind: "setDepartmentKey", department: department, publicKey: publicKey)
        }
    }

    /// Checks the request's shape (the state is the chain's to check): a member's key must load, its address be
    /// host:port, a bundle hash be a digest of this suite.
    static func change(_ change: API.GovernanceChange, suite: any CryptoSuite) throws -> GovernanceProposal.Change {
        switch change.kind {
        case "addMember":
            guard let member = change.member else { throw ExchangeError(.invalidRequest, "addMember needs change.member") }
            guard let role = Genesis.Member.Role(rawValue: member.role) else {
                throw ExchangeError(.invalidRequest, "change.member.role must be validator or observer")
            }
            guard !member.nodeId.isEmpty, member.nodeId.count <= 128 else {
                throw ExchangeError(.invalidRequest, "change.member.nodeId must be 1 to 128 characters")
            }
            guard (try? suite.verifyingKey(pem: member.publicKey)) != nil else {
                throw ExchangeError(.invalidRequest, "change.member.publicKey is not a \(suite.name.rawValue) package key (SPKI PEM)")
            }
            guard ChainService.parseAddress(member.address) != nil else {
                throw ExchangeError(.invalidRequest, "change.member.address must be host:port")
            }
            if let certificate = member.tlsCertificate {
                guard certificate.utf8.count <= Genesis.Member.tlsCertificateBytesMax, (try? TLSIdentity.pin(ofCertificatePEM: certificate)) != nil
                else {
                    throw ExchangeError(.invalidRequest, "change.member.tlsCertificate must be a PEM X.509 certificate of at most 8192 bytes")
                }
            }
            return .addMember(
                Genesis.Member(
                    nodeID: member.nodeId, department: member.department, role: role, publicKey: member.publicKey,
                    address: member.address, tlsCertificate: member.tlsCertificate))
        case "removeMember":
            guard let nodeID = change.nodeId, !nodeID.isEmpty else { throw ExchangeError(.invalidRequest, "removeMember needs change.nodeId") }
            return .removeMember(nodeID: nodeID)
        case "approvePolicyBundle":
            guard let hex = change.bundleHash, let hash = Hex.decode(hex), hash.count == suite.digestLength else {
                throw ExchangeError(.invalidRequest, "approvePolicyBundle needs change.bundleHash, a \(suite.digestLength)-byte hex digest")
            }
            return .approvePolicyBundle(hash: hash)
        case "setDepartmentKey":
            guard let department = change.department, (1...GovernanceProposal.departmentBytesMax).contains(department.utf8.count),
                let publicKey = change.publicKey, publicKey.utf8.count <= GovernanceProposal.publicKeyBytesMax
            else {
                throw ExchangeError(.invalidRequest, "setDepartmentKey needs change.department and change.publicKey (SPKI PEM)")
            }
            guard (try? suite.verifyingKey(pem: publicKey)) != nil else {
                throw ExchangeError(.invalidRequest, "change.publicKey is not a \(suite.name.rawValue) public key (SPKI PEM)")
            }
            return .setDepartmentKey(department: department, publicKey: publicKey)
        default:
            throw ExchangeError(.invalidRequest, "change.kind must be addMember, removeMember, approvePolicyBundle or setDepartmentKey")
        }
    }
}
