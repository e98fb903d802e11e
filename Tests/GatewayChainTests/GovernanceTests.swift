import Foundation
import GatewayChain
import GatewayCrypto
import GatewayFiles
import Testing

@Suite struct GovernanceTests {
    let suite = InternationalSuite()

    struct Chain {
        let suite: any CryptoSuite
        var keys: [String: any SigningKey]
        let genesis: Genesis
        var ledger: Ledger
        var nonce: UInt64 = 0
        var blocks: [Block] = []

        init(suite: any CryptoSuite, validators: Int, observers: Int = 0) throws {
            self.suite = suite
            var keys: [String: any SigningKey] = [:]
            var members: [Genesis.Member] = []
            for i in 0..<(validators + observers) {
                let key = suite.generateSigningKey()
                let id = i < validators ? "v\(i)" : "o\(i)"
                keys[id] = key
                members.append(
                    .init(
                        nodeID: id, department: "d\(i)", role: i < validators ? .validator : .observer, publicKey: key.publicKey.pemRepresentation,
                        address: ""))
            }
            self.keys = keys
            genesis = Genesis(chainID: "gov", suite: suite.name, members: members, createdAtMs: 0)
            ledger = try Ledger(genesis: genesis, suite: suite)
        }

        mutating func transaction(_ kind: Transaction.Kind, by submitter: String, payload: [UInt8]) throws -> Transaction {
            nonce += 1
            return try Transaction(
                chainID: "gov", kind: kind, submitter: submitter, nonce: nonce, timestampMs: 0, payload: payload, signer: keys[submitter]!)
        }

        /// Builds the next block from the valid transactions, certified by `signers`; applies it. Returns what was rejected.
        @discardableResult
        mutating func commit(_ transactions: [Transaction], signers: [String]) throws -> Int {
            let selection = ledger.selectValid(transactions)
            let proposal = try ledger.proposeSolo(transactions: selection.accepted, proposer: signers[0], signer: keys[signers[0]]!, timestampMs: 0)
            let message = CommitSignature.message(
                header: proposal.header, headerHash: proposal.header.hash(suite: suite),
                epoch: ledger.governance.epoch(atHeight: proposal.header.height))
            let certificate = try signers.map { CommitSignature(validator: $0, signature: try keys[$0]!.sign(message)) }
            let block = Block(header: proposal.header, transactions: proposal.transactions, certificate: certificate)
            try ledger.apply(block)
            blocks.append(block)
            return selection.rejected.count
        }
    }

    @Test func foundingBundlesComeFromTheGenesisAndKeepOldGenesisHashes() throws {
        let suite = try SuiteName.intl.makeSuite()
        let member = Genesis.Member(nodeID: "n1", department: "d", role: .validator, publicKey: "k", address: "a")
        let plain = Genesis(chainID: "c", suite: .intl, members: [member], createdAtMs: 5)
        let bundle = Hex.encode(suite.hash(Array("bundle".utf8)))
        let founded = Genesis(chainID: "c", suite: .intl, members: [member], createdAtMs: 5, policyBundles: [bundle])
        #expect(plain.hash(suite: suite) != founded.hash(suite: suite))
        #expect(GovernanceState(genesis: founded).approvedBundles == [suite.hash(Array("bundle".utf8))])
        #expect(GovernanceState(genesis: plain).approvedBundles.isEmpty)
        // A genesis file written before founding bundles existed still decodes, with the same hash.
        let old =
            #"{"chainID": "c", "suite": "intl", "createdAtMs": 5, "members": [{"nodeID": "n1", "department": "d", "role": "validator", "publicKey": "k", "address": "a"}]}"#
        let decoded = try JSONDecoder().decode(Genesis.self, from: Data(old.utf8))
        #expect(decoded == plain && decoded.hash(suite: suite) == plain.hash(suite: suite))
        // A malformed founding bundle is refused at load.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("genesis-bundles-\(getpid()).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try JSONEncoder().encode(Genesis(chainID: "c", suite: .intl, members: [member], createdAtMs: 5, policyBundles: ["abc"])).write(to: file)
        #expect(throws: ChainError.self) { try Genesis.load(from: file) }
        try JSONEncoder().encode(founded).write(to: file)
        #expect(try Genesis.load(from: file) == founded)
    }

    @Test func addingAValidatorNeedsTwoThirdsAndChangesTheQuorumFromTheNextHeight() throws {
        var chain = try Chain(suite: suite, validators: 4, observers: 1)
        let newKey = suite.generateSigningKey()
        let member = Genesis.Member(nodeID: "v4", department: "health", role: .validator, publicKey: newKey.publicKey.pemRepresentation, address: "")
        let proposal = GovernanceProposal(proposalID: "add-health", change: .addMember(member))
        let approve = GovernanceApproval(proposalID: "add-health").encoded
        let three = ["v0", "v1", "v2"]

        try chain.commit([try chain.transaction(.proposal, by: "v0", payload: proposal.encoded)], signers: three)
        // A duplicate approval, an observer's approval and one for an unknown proposal are all refused.
        let rejected = try chain.commit(
            [
                try chain.transaction(.approval, by: "v1", payload: approve),
                try chain.transaction(.approval, by: "v0", payload: approve),
                try chain.transaction(.approval, by: "o4", payload: approve),
                try chain.transaction(.approval, by: "v2", payload: GovernanceApproval(proposalID: "nope").encoded),
            ], signers: three)
        #expect(rejected == 3)
        #expect(chain.ledger.governance.validators.count == 4)

        try chain.commit([try chain.transaction(.approval, by: "v2", payload: approve)], signers: three)
        let height = chain.ledger.height
        #expect(chain.ledger.governance.validators.map(\.nodeID) == ["v0", "v1", "v2", "v3", "v4"])
        #expect(chain.ledger.governance.validators(atHeight: height).count == 4)
        #expect(chain.ledger.governance.validators(atHeight: height + 1).count == 5)

        // With five validators the quorum is four: three signatures no longer commit a block.
        chain.keys["v4"] = newKey
        var attempt = chain
        #expect(throws: ChainError.self) { try attempt.commit([], signers: three) }
        try chain.commit([], signers: ["v0", "v1", "v2", "v4"])

        // Anyone replaying the chain from genesis derives the same governance state.
        var replay = try Ledger(genesis: chain.genesis, suite: suite)
        for block in chain.blocks { try replay.apply(block) }
        #expect(replay.governance == chain.ledger.governance)
    }

    /// A proof of a block certified by a set governance changed verifies from the genesis alone, given the governance
    /// history; leave a step of that history out and the certificate no longer verifies (votes are bound to the epoch).
    @Test func proofsAfterAValidatorSetChangeVerifyFromTheGenesisWithTheirGovernanceHistory() throws {
        var chain = try Chain(suite: suite, validators: 4)
        let newKey = suite.generateSigningKey()
        let member = Genesis.Member(nodeID: "v4", department: "health", role: .validator, publicKey: newKey.publicKey.pemRepresentation, address: "")
        let approve = GovernanceApproval(proposalID: "add-health").encoded
        let three = ["v0", "v1", "v2"]
        try chain.commit(
            [try chain.transaction(.proposal, by: "v0", payload: GovernanceProposal(proposalID: "add-health", change: .addMember(member)).encoded)],
            signers: three)
        try chain.commit([try chain.transaction(.approval, by: "v1", payload: approve)], signers: three)
        try chain.commit([try chain.transaction(.approval, by: "v2", payload: approve)], signers: three)
        chain.keys["v4"] = newKey
        let four = ["v1", "v2", "v3", "v4"]
        let anchor = RecordAnchor(
            publisher: "health", category: "visits",
            entries: [.init(recordKey: Array(repeating: 1, count: 32), recordHash: Array(repeating: 2, count: 32))])
        try chain.commit([try chain.transaction(.recordAnchor, by: "v4", payload: anchor.encoded)], signers: four)
        try chain.commit([], signers: four)  // the child whose certificate commits the anchor's block (consecutive rounds)

        let tree = MerkleTree(suite: suite)
        // The boundary block (the decisive approval) was committed by a child the old set certified in its own epoch
        // (blocks of the old epoch above the boundary are discarded), as nodes store it.
        let boundary = chain.blocks[2].header
        let oldChild = BlockHeader(
            chainID: boundary.chainID, height: boundary.height + 1, round: boundary.round + 1, parentHash: boundary.hash(suite: suite),
            transactionsRoot: MerkleTree(suite: suite).root(leafHashes: []), transactionCount: 0, justifyDigest: suite.hash([1]), timeoutTag: 0,
            proposer: 0, timestampMs: 9
        )
        let oldCertificate = try three.map { id in
            CommitSignature(
                validator: id,
                signature: try chain.keys[id]!.sign(
                    CommitSignature.message(header: oldChild, headerHash: oldChild.hash(suite: suite), epoch: 0)))
        }
        func proof(block index: Int, transaction: Int = 0, governance: [InclusionProof]? = nil) -> InclusionProof {
            let block = chain.blocks[index]
            let child = index == 2 ? Block(header: oldChild, transactions: [], certificate: oldCertificate) : chain.blocks[index + 1]
            return InclusionProof(
                transaction: block.transactions[transaction], leafIndex: transaction,
                auditPath: tree.inclusionProof(index: transaction, leafHashes: Block.transactionLeafHashes(block.transactions, tree: tree)),
                header: block.header, certificate: block.certificate,
                commitment: InclusionProof.Commitment(headers: [child.header], certificate: child.certificate), governance: governance
            )
        }
        let history = (0..<3).map { proof(block: $0) }
        let verifier = try ProofVerifier(genesis: chain.genesis)
        let verified = try verifier.verify(proof(block: 3, governance: history))
        #expect(verified.epoch == 1 && verified.validators == ["v0", "v1", "v2", "v3", "v4"] && verified.committed)
        // Before the change, no history is needed.
        #expect(try verifier.verify(proof(block: 0)).epoch == 0)
        // Without the decisive approval (or any history), the verifier derives epoch 0 and the certificate fails.
        #expect(throws: ChainError.self) { try verifier.verify(proof(block: 3, governance: Array(history.prefix(2)))) }
        #expect(throws: ChainError.self) { try verifier.verify(proof(block: 3)) }
        // Steps out of chain order, a non-governance step, or a tampered step are refused.
        #expect(throws: ChainError.self) { try verifier.verify(proof(block: 3, governance: history.reversed())) }
        #expect(throws: ChainError.self) { try verifier.verify(proof(block: 3, governance: history + [proof(block: 3)])) }
        let tampered = InclusionProof(
            transaction: try chain.transaction(.approval, by: "v2", payload: approve), leafIndex: 0, auditPath: [], header: chain.blocks[2].header,
            certificate: chain.blocks[2].certificate
        )
        #expect(throws: ChainError.self) { try verifier.verify(proof(block: 3, governance: Array(history.prefix(2)) + [tampered])) }
    }

    /// Grants, revocations, consents and decryption shares are chain transactions: signed, checked by every validator,
    /// and (grants) derived state; a consent carries only a salted hash of the citizen.
    @Test func grantsRevocationsConsentsAndSharesAreCheckedAndDerived() throws {
        var chain = try Chain(suite: suite, validators: 2)
        let grant = Grant(
            grantID: "g1", grantee: "d1", category: "citizen", purpose: "benefit_eligibility", fields: ["district"], expiresAtMs: 10_000)
        let consent = ConsentChange(subject: suite.hash(Array("salted citizen".utf8)), purpose: "research", given: true)
        let share = DecryptionShare(requestID: "aggregate-7", party: 2, share: Array(repeating: 9, count: 256))
        for payload in [grant.encoded, consent.encoded, share.encoded, Revocation(grantID: "g1").encoded] {
            #expect(!payload.isEmpty)
        }
        #expect(try Grant(decoding: grant.encoded) == grant)
        #expect(try ConsentChange(decoding: consent.encoded) == consent)
        #expect(try DecryptionShare(decoding: share.encoded) == share)
        #expect(try Revocation(decoding: Revocation(grantID: "g1").encoded).grantID == "g1")
        // Malformed payloads never reach a block: a consent naming a raw id instead of a salted hash, an empty grant.
        #expect(throws: ChainError.self) {
            try ConsentChange(decoding: ConsentChange(subject: Array("C1234567".utf8), purpose: "research", given: true).encoded)
        }
        #expect(throws: ChainError.self) {
            try Grant(decoding: Grant(grantID: "", grantee: "d1", category: "c", purpose: "p", fields: [], expiresAtMs: 1).encoded)
        }
        let badConsent = try chain.transaction(.consent, by: "v0", payload: Array("C1234567".utf8))
        #expect(throws: ChainError.self) { try chain.ledger.validate(badConsent) }

        let both = ["v0", "v1"]
        try chain.commit(
            [
                try chain.transaction(.grant, by: "v0", payload: grant.encoded),
                try chain.transaction(.consent, by: "v1", payload: consent.encoded),
                try chain.transaction(.decryptionShare, by: "v1", payload: share.encoded),
            ], signers: both)
        #expect(chain.ledger.grants.live(grantor: "d0", grantee: "d1", category: "citizen", atMs: 5_000).map(\.grant) == [grant])
        #expect(chain.ledger.grants.live(grantor: "d0", grantee: "d1", category: "citizen", atMs: 10_000).isEmpty)
        #expect(chain.ledger.grants.live(grantor: "d2", grantee: "d1", category: "citizen", atMs: 5_000).isEmpty)
        #expect(chain.ledger.grants.live(grantor: "d0", grantee: "d1", category: "vehicle", atMs: 5_000).isEmpty)
        #expect(chain.ledger.grants.involving("d1").map(\.grant) == [grant])
        #expect(chain.ledger.grants.involving("d0").map(\.grantor) == ["d0"])
        #expect(chain.ledger.grants.involving("d2").isEmpty)
        // Only the grantor's node revokes; a second revocation and a reused grant id are refused.
        let refused = try chain.commit(
            [
                try chain.transaction(.revoke, by: "v1", payload: Revocation(grantID: "g1").encoded),
                try chain.transaction(.grant, by: "v0", payload: grant.encoded),
            ], signers: both)
        #expect(refused == 2)
        try chain.commit([try chain.transaction(.revoke, by: "v0", payload: Revocation(grantID: "g1").encoded)], signers: both)
        #expect(chain.ledger.grants.live(grantor: "d0", grantee: "d1", category: "citizen", atMs: 5_000).isEmpty)
        #expect(chain.ledger.grants.involving("d1").map(\.revoked) == [true])
        #expect(try chain.commit([try chain.transaction(.revoke, by: "v0", payload: Revocation(grantID: "g1").encoded)], signers: both) == 1)
        // Replaying the chain derives the same grants.
        var replay = try Ledger(genesis: chain.genesis, suite: suite)
        for block in chain.blocks { try replay.apply(block) }
        #expect(replay.grants == chain.ledger.grants)
    }

    @Test(arguments: SuiteName.allCases) func aSoloValidatorApprovesItsOwnPolicyBundle(name: SuiteName) throws {
        var chain = try Chain(suite: try name.makeSuite(), validators: 1)
        let bundle = chain.suite.hash(Array("policies".utf8))
        try chain.commit(
            [
                try chain.transaction(
                    .proposal, by: "v0", payload: GovernanceProposal(proposalID: "bundle-1", change: .approvePolicyBundle(hash: bundle)).encoded)
            ], signers: ["v0"])
        #expect(chain.ledger.governance.approvedBundles == [bundle])
        // Removing the last validator is refused; re-using a proposal id is refused.
        let rejected = try chain.commit(
            [
                try chain.transaction(
                    .proposal, by: "v0", payload: GovernanceProposal(proposalID: "bye", change: .removeMember(nodeID: "v0")).encoded),
                try chain.transaction(
                    .proposal, by: "v0", payload: GovernanceProposal(proposalID: "bundle-1", change: .approvePolicyBundle(hash: [1])).encoded),
            ], signers: ["v0"])
        #expect(rejected == 2)
    }

    @Test(arguments: SuiteName.allCases) func aDepartmentsKeyChangesByGovernanceFromTheHeightItIsDecided(name: SuiteName) throws {
        var chain = try Chain(suite: try name.makeSuite(), validators: 4)
        let all = ["v0", "v1", "v2", "v3"]
        func propose(_ id: String, _ key: String) throws -> Transaction {
            try chain.transaction(
                .proposal, by: "v0", payload: GovernanceProposal(proposalID: id, change: .setDepartmentKey(department: "d1", publicKey: key)).encoded)
        }
        try chain.commit([try propose("rotate-1", "KEY-1")], signers: all)
        // Pending until ⌈2n/3⌉ = 3 validators approved: no key yet.
        #expect(chain.ledger.governance.departmentKey("d1") == nil)
        try chain.commit(
            [
                try chain.transaction(.approval, by: "v1", payload: GovernanceApproval(proposalID: "rotate-1").encoded),
                try chain.transaction(.approval, by: "v2", payload: GovernanceApproval(proposalID: "rotate-1").encoded),
            ], signers: all)
        let height = chain.ledger.height
        #expect(chain.ledger.governance.departmentKey("d1")?.publicKey == "KEY-1" && chain.ledger.governance.departmentKey("d1")?.height == height)
        #expect(chain.ledger.governance.departmentKey("d0") == nil)
        // The same key again is refused; a later change wins; replaying the chain derives the same keys.
        #expect(try chain.commit([try propose("rotate-again", "KEY-1")], signers: all) == 1)
        try chain.commit([try propose("rotate-2", "KEY-2")], signers: all)
        try chain.commit(
            [
                try chain.transaction(.approval, by: "v1", payload: GovernanceApproval(proposalID: "rotate-2").encoded),
                try chain.transaction(.approval, by: "v3", payload: GovernanceApproval(proposalID: "rotate-2").encoded),
            ], signers: all)
        #expect(chain.ledger.governance.departmentKey("d1")?.publicKey == "KEY-2")
        var replay = try Ledger(genesis: chain.genesis, suite: chain.suite)
        for block in chain.blocks { try replay.apply(block) }
        #expect(replay.governance == chain.ledger.governance)
    }

    @Test func proposalsRoundTripAndGarbageIsRejected() throws {
        let member = Genesis.Member(nodeID: "n", department: "d", role: .observer, publicKey: "pk", address: "a:1")
        for change in [
            GovernanceProposal.Change.addMember(member), .removeMember(nodeID: "x"), .approvePolicyBundle(hash: [1, 2]),
            .setDepartmentKey(department: "housing", publicKey: "-----BEGIN PUBLIC KEY-----"),
        ] {
            let proposal = GovernanceProposal(proposalID: "p", change: change)
            #expect(try GovernanceProposal(decoding: proposal.encoded) == proposal)
        }
        #expect(throws: ChainError.self) { try GovernanceProposal(decoding: [0, 0, 0]) }
    }
}

@Suite struct ReplayTests {
    @Test(arguments: SuiteName.allCases) func aTransactionCannotBeIncludedTwice(suite name: SuiteName) throws {
        var chain = try GovernanceTests.Chain(suite: try name.makeSuite(), validators: 1)
        let bundle = GovernanceProposal(proposalID: "b", change: .approvePolicyBundle(hash: [1])).encoded
        let first = try chain.transaction(.proposal, by: "v0", payload: bundle)
        // The same transaction twice in one block: the second is refused.
        #expect(try chain.commit([first, first], signers: ["v0"]) == 1)
        // And again in a later block: refused, even though it is validly signed.
        let event = AccessEvent(
            eventID: "e", requester: "r", action: "read", category: "c", recordKeys: [], purpose: "p", policyBundleHash: [1],
            decision: .allow, determiningPolicies: [], requestDigest: [2], timestampMs: 0)
        let access = try chain.transaction(.accessLog, by: "v0", payload: event.encoded)
        #expect(try chain.commit([access], signers: ["v0"]) == 0)
        #expect(try chain.commit([access], signers: ["v0"]) == 1)
        // A block that contains a replay (a Byzantine proposer's) is certified, but the replay is skipped by everyone
        // who applies it, deterministically: it has no effect and gets no receipt.
        var replay = try Ledger(genesis: chain.genesis, suite: chain.suite)
        for block in chain.blocks { try replay.apply(block) }
        let forged = try replay.proposeSolo(transactions: [access, first], proposer: "v0", signer: chain.keys["v0"]!, timestampMs: 0)
        var other = replay
        let applied = try replay.apply(forged)
        #expect(applied.skipped.keys.sorted() == [0, 1])
        #expect(try other.apply(forged) == applied)
        #expect(replay.tipHash == other.tipHash)
    }

    @Test func noncesMayArriveOutOfOrderWithinTheWindowButNeverTwiceOrTooLate() throws {
        var guardian = ReplayGuard()
        try guardian.admit(submitter: "n", nonce: 10)
        try guardian.admit(submitter: "n", nonce: 7)
        try guardian.admit(submitter: "m", nonce: 7)
        #expect(throws: ChainError.self) { try guardian.admit(submitter: "n", nonce: 7) }
        try guardian.admit(submitter: "n", nonce: 100_000)
        #expect(throws: ChainError.self) { try guardian.admit(submitter: "n", nonce: 11) }
        try guardian.admit(submitter: "n", nonce: 100_000 - ReplayGuard.window + 1)
    }
}
