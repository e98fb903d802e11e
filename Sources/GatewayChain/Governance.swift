import GatewayCrypto

/// Payload of a `proposal` transaction: a change that needs approval by ≥ 2/3 of the current validators.
public struct GovernanceProposal: Sendable, Equatable {
    public enum Change: Sendable, Equatable {
        case addMember(Genesis.Member)
        case removeMember(nodeID: String)
        case approvePolicyBundle(hash: [UInt8])
        /// A department's request-signing key changes (rotation, or replacing a compromised key): from the height where
        /// the change is decided, nodes verify the department's signatures with this key (SPKI PEM) and refuse the old.
        case setDepartmentKey(department: String, publicKey: String)
    }

    /// Longest department id and key PEM a key change may carry.
    public static let departmentBytesMax = 128
    public static let publicKeyBytesMax = 4_096

    public let proposalID: String
    public let change: Change

    public init(proposalID: String, change: Change) {
        self.proposalID = proposalID
        self.change = change
    }

    public var encoded: [UInt8] {
        var writer = CanonicalWriter()
        writer.write(proposalID)
        switch change {
        case .addMember(let member):
            // Kind 4 carries the member's TLS certificate; kind 1 (before TLS) does not.
            writer.write(UInt8(member.tlsCertificate == nil ? 1 : 4))
            writer.write(member.nodeID)
            writer.write(member.department)
            writer.write(member.role.rawValue)
            writer.write(member.publicKey)
            writer.write(member.address)
            if let certificate = member.tlsCertificate { writer.write(certificate) }
        case .removeMember(let nodeID):
            writer.write(UInt8(2))
            writer.write(nodeID)
        case .approvePolicyBundle(let hash):
            writer.write(UInt8(3))
            writer.write(hash)
        case .setDepartmentKey(let department, let publicKey):
            writer.write(UInt8(5))
            writer.write(department)
            writer.write(publicKey)
        }
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var reader = CanonicalReader(bytes)
        proposalID = try reader.readString()
        switch try reader.readUInt8() {
        case let kind where kind == 1 || kind == 4:
            let nodeID = try reader.readString()
            let department = try reader.readString()
            guard let role = Genesis.Member.Role(rawValue: try reader.readString()) else { throw ChainError(.malformed, "unknown member role") }
            let publicKey = try reader.readString()
            let address = try reader.readString()
            let certificate = kind == 4 ? try reader.readString() : nil
            guard (certificate?.utf8.count ?? 0) <= Genesis.Member.tlsCertificateBytesMax else {
                throw ChainError(.malformed, "a member's TLS certificate exceeds \(Genesis.Member.tlsCertificateBytesMax) bytes")
            }
            change = .addMember(
                Genesis.Member(
                    nodeID: nodeID, department: department, role: role, publicKey: publicKey, address: address, tlsCertificate: certificate))
        case 2: change = .removeMember(nodeID: try reader.readString())
        case 3: change = .approvePolicyBundle(hash: try reader.readBytes())
        case 5:
            let department = try reader.readString()
            let publicKey = try reader.readString()
            guard (1...Self.departmentBytesMax).contains(department.utf8.count), (1...Self.publicKeyBytesMax).contains(publicKey.utf8.count) else {
                throw ChainError(
                    .malformed, "a key change names a department of 1…\(Self.departmentBytesMax) bytes and a key of 1…\(Self.publicKeyBytesMax)")
            }
            change = .setDepartmentKey(department: department, publicKey: publicKey)
        default: throw ChainError(.malformed, "unknown proposal kind")
        }
        try reader.expectEnd()
    }
}

/// Payload of an `approval` transaction: the submitting validator approves a pending proposal.
public struct GovernanceApproval: Sendable, Equatable {
    public let proposalID: String

    public init(proposalID: String) { self.proposalID = proposalID }

    public var encoded: [UInt8] {
        var writer = CanonicalWriter()
        writer.write(proposalID)
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var reader = CanonicalReader(bytes)
        proposalID = try reader.readString()
        try reader.expectEnd()
    }
}

/// The governed state: members (validators and observers) and approved policy bundles, derived from the chain alone.
/// A proposal counts as its proposer's approval; it takes effect in the block where approvals from the validators in
/// force reach ⌈2n/3⌉; from the next height on, the new validator set signs blocks.
public struct GovernanceState: Sendable, Equatable {
    public private(set) var members: [Genesis.Member]
    public private(set) var approvedBundles: [[UInt8]] = []
    /// Department keys set by governance, in the order decided: the department, its key (SPKI PEM), and the height from
    /// which it is the one that counts. The last entry of a department wins; a department with none keeps the key its
    /// nodes' departments files register.
    public private(set) var departmentKeys: [(department: String, publicKey: String, height: UInt64)] = []
    /// (height from which it applies, validator node ids), one entry per change, starting with genesis at height 1.
    public private(set) var validatorHistory: [(height: UInt64, validators: [String])]
    var pending: [String: (proposal: GovernanceProposal, approvals: Set<String>)] = [:]
    var decided: Set<String> = []

    public static func == (lhs: GovernanceState, rhs: GovernanceState) -> Bool {
        lhs.members == rhs.members && lhs.approvedBundles == rhs.approvedBundles
            && lhs.validatorHistory.map(\.height) == rhs.validatorHistory.map(\.height)
            && lhs.validatorHistory.map(\.validators) == rhs.validatorHistory.map(\.validators) && lhs.decided == rhs.decided
            && lhs.departmentKeys.map(\.department) == rhs.departmentKeys.map(\.department)
            && lhs.departmentKeys.map(\.publicKey) == rhs.departmentKeys.map(\.publicKey)
            && lhs.departmentKeys.map(\.height) == rhs.departmentKeys.map(\.height)
    }

    public init(genesis: Genesis) {
        members = genesis.members
        approvedBundles = genesis.approvedBundleDigests
        validatorHistory = [(1, genesis.validators.map(\.nodeID))]
    }

    public var validators: [Genesis.Member] { members.filter { $0.role == .validator } }

    /// A proposal waiting for approvals, and who approved it so far (its proposer included), sorted.
    public struct Pending: Sendable, Equatable {
        public let proposal: GovernanceProposal
        public let approvals: [String]
    }

    /// Proposals waiting for approvals, by proposal id.
    public var pendingProposals: [Pending] {
        pending.keys.sorted().map { Pending(proposal: pending[$0]!.proposal, approvals: pending[$0]!.approvals.sorted()) }
    }

    /// The key governance set for a department, and the height from which it counts (nil: none was set).
    public func departmentKey(_ department: String) -> (publicKey: String, height: UInt64)? {
        departmentKeys.last { $0.department == department }.map { ($0.publicKey, $0.height) }
    }

    /// Whether a proposal with this id was decided (it took effect).
    public func isDecided(_ proposalID: String) -> Bool { decided.contains(proposalID) }

    /// Approvals needed with the current validator set: ⌈2n/3⌉ (1 for a solo chain).
    public var approvalsNeeded: Int { (2 * validators.count + 2) / 3 }

    /// The epoch of `height`: how many validator-set changes took effect at or below it (0 for the genesis set).
    public func epoch(atHeight height: UInt64) -> UInt64 {
        UInt64(max(0, validatorHistory.lastIndex { $0.height <= height } ?? 0))
    }

    /// The validators that sign blocks at `height`.
    public func validators(atHeight height: UInt64) -> [String] {
        validatorHistory.last { $0.height <= height }?.validators ?? []
    }

    /// Checks a governance transaction against the current state and applies it; `height` is the block's height.
    public mutating func apply(_ transaction: Transaction, height: UInt64) throws {
        let isValidator = validators.contains { $0.nodeID == transaction.submitter }
        switch transaction.kind {
        case .proposal:
            guard isValidator else { throw ChainError(.invalidTransaction, "only validators may propose governance changes") }
            let proposal = try GovernanceProposal(decoding: transaction.payload)
            guard pending[proposal.proposalID] == nil, !decided.contains(proposal.proposalID), !proposal.proposalID.isEmpty else {
                throw ChainError(.invalidTransaction, "proposal id \(proposal.proposalID) is already used")
            }
            try check(proposal.change)
            pending[proposal.proposalID] = (proposal, [transaction.submitter])
            try decideIfApproved(proposal.proposalID, height: height)
        case .approval:
            guard isValidator else { throw ChainError(.invalidTransaction, "only validators may approve governance changes") }
            let approval = try GovernanceApproval(decoding: transaction.payload)
            guard var entry = pending[approval.proposalID] else {
                throw ChainError(.invalidTransaction, "no pending proposal \(approval.proposalID)")
            }
            guard entry.approvals.insert(transaction.submitter).inserted else {
                throw ChainError(.invalidTransaction, "\(transaction.submitter) already approved \(approval.proposalID)")
            }
            pending[approval.proposalID] = entry
            try decideIfApproved(approval.proposalID, height: height)
        default:
            break
        }
    }

    func check(_ change: GovernanceProposal.Change) throws {
        switch change {
        case .addMember(let member):
            guard !members.contains(where: { $0.nodeID == member.nodeID }) else {
                throw ChainError(.invalidTransaction, "\(member.nodeID) is already a member")
            }
        case .removeMember(let nodeID):
            guard let member = members.first(where: { $0.nodeID == nodeID }) else {
                throw ChainError(.invalidTransaction, "\(nodeID) is not a member")
            }
            guard member.role != .validator || validators.count > 1 else { throw ChainError(.invalidTransaction, "cannot remove the last validator") }
        case .approvePolicyBundle(let hash):
            guard !hash.isEmpty, !approvedBundles.contains(hash) else { throw ChainError(.invalidTransaction, "bundle already approved or empty") }
        case .setDepartmentKey(let department, let publicKey):
            guard departmentKey(department)?.publicKey != publicKey else {
                throw ChainError(.invalidTransaction, "\(department)'s key is already this one")
            }
        }
    }

    mutating func decideIfApproved(_ proposalID: String, height: UInt64) throws {
        guard let entry = pending[proposalID] else { return }
        let current = Set(validators.map(\.nodeID))
        guard entry.approvals.intersection(current).count >= approvalsNeeded else { return }
        // The state may have changed since the proposal: re-check before applying.
        try check(entry.proposal.change)
        pending[proposalID] = nil
        decided.insert(proposalID)
        switch entry.proposal.change {
        case .addMember(let member): members.append(member)
        case .removeMember(let nodeID): members.removeAll { $0.nodeID == nodeID }
        case .approvePolicyBundle(let hash): approvedBundles.append(hash)
        case .setDepartmentKey(let department, let publicKey): departmentKeys.append((department, publicKey, height))
        }
        let newValidators = validators.map(\.nodeID)
        if newValidators != validatorHistory.last?.validators { validatorHistory.append((height + 1, newValidators)) }
    }
}
