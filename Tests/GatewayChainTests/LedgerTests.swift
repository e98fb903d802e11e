import Foundation
import GatewayChain
import GatewayCrypto
import Testing

/// A solo chain with one validator and the transactions of the exchange.
struct Fixture {
    let suite: any CryptoSuite
    let validator: any SigningKey
    let genesis: Genesis
    var nonce: UInt64 = 0

    init(_ name: SuiteName) throws {
        suite = try name.makeSuite()
        validator = suite.generateSigningKey()
        genesis = Genesis(
            chainID: "test-chain", suite: name,
            members: [
                .init(
                    nodeID: "v1", department: "registry", role: .validator, publicKey: validator.publicKey.pemRepresentation, address: "127.0.0.1:1")
            ],
            createdAtMs: 1_700_000_000_000
        )
    }

    mutating func accessTransaction(_ decision: AccessEvent.Decision = .allow, purpose: String = "benefit_eligibility") throws -> Transaction {
        nonce += 1
        let event = AccessEvent(
            eventID: "event-\(nonce)", requester: "social_security", action: "read", category: "citizen",
            recordKeys: [[UInt8](repeating: 7, count: 32)],
            purpose: purpose, policyBundleHash: [UInt8](repeating: 1, count: 32), decision: decision, determiningPolicies: ["p1"],
            requestDigest: [UInt8](repeating: 2, count: 32), timestampMs: 1_700_000_000_000 + Int64(nonce)
        )
        return try Transaction(
            chainID: genesis.chainID, kind: .accessLog, submitter: "v1", nonce: nonce, timestampMs: event.timestampMs, payload: event.encoded,
            signer: validator)
    }
}

@Suite struct LedgerTests {
    /// The role and the grant are trailing fields written only when present: events without them encode byte for
    /// byte as before (so old blocks keep their hashes), events with them round-trip, and neither may be smuggled in
    /// empty.
    @Test func accessEventsCarryRoleAndGrantWithoutChangingOldEncodings() throws {
        func event(role: String?, grant: String?) -> AccessEvent {
            AccessEvent(
                eventID: "e1", requester: "housing", action: "read", category: "citizen", recordKeys: [[7]], purpose: "tenant_screening",
                policyBundleHash: [1], decision: .allow, determiningPolicies: ["granted-access"], requestDigest: [2], timestampMs: 5,
                role: role, grantID: grant
            )
        }
        let plain = event(role: nil, grant: nil)
        var writer = CanonicalWriter()
        writer.write("e1"); writer.write("housing"); writer.write("read"); writer.write("citizen"); writer.write([[UInt8(7)]])
        writer.write("tenant_screening"); writer.write([UInt8(1)]); writer.write("allow"); writer.write(["granted-access"])
        writer.write([UInt8(2)]); writer.write(Int64(5))
        #expect(plain.encoded == writer.bytes)
        #expect(event(role: "", grant: "").encoded == plain.encoded)
        for (role, grant) in [("caseworker", nil), (nil, "grant-1"), ("auditor", "grant-2")] as [(String?, String?)] {
            let decoded = try AccessEvent(decoding: event(role: role, grant: grant).encoded)
            #expect(decoded == event(role: role, grant: grant) && decoded.role == role && decoded.grantID == grant)
        }
        var empty = CanonicalWriter()
        empty.write(""); empty.write("")
        #expect(throws: ChainError.self) { try AccessEvent(decoding: plain.encoded + empty.bytes) }
        #expect(throws: ChainError.self) { try AccessEvent(decoding: event(role: "r", grant: "g").encoded + [0]) }
    }

    /// The disclosure time of a deferred access is one more trailing field: it round-trips with and without the
    /// fields before it, must follow the access by at most ten years, and the empty digest that stands for "none"
    /// before it is refused at the end of an event (each event has one encoding).
    @Test func deferredAccessesCarryTheirDisclosureTimeWithinTenYears() throws {
        func event(role: String? = nil, epsilon: Int64? = nil, digest: [UInt8]? = nil, discloseAt: Int64?) -> AccessEvent {
            AccessEvent(
                eventID: "e1", requester: "social_security", action: "read", category: "citizen", recordKeys: [[7]],
                purpose: "fraud_investigation", policyBundleHash: [1], decision: .allow, determiningPolicies: ["p"], requestDigest: [2],
                timestampMs: 1_000, role: role, epsilonMicros: epsilon, resultDigest: digest, discloseAtMs: discloseAt)
        }
        for variant in [
            event(discloseAt: 1_001), event(role: "fraud_investigator", discloseAt: 5_000), event(epsilon: 7, discloseAt: 9_000),
            event(digest: [UInt8](repeating: 3, count: 32), discloseAt: 1_000 + AccessEvent.deferralMsMax),
            event(epsilon: 7, digest: [UInt8](repeating: 3, count: 32), discloseAt: 2_000),
        ] {
            let decoded = try AccessEvent(decoding: variant.encoded)
            #expect(decoded == variant && decoded.discloseAtMs == variant.discloseAtMs)
        }
        #expect(event(discloseAt: nil).encoded.count < event(discloseAt: 1_001).encoded.count)
        // Times at the ends of Int64 (a hostile submitter's): refused, never a trap.
        let extreme = AccessEvent(
            eventID: "e1", requester: "r", action: "read", category: "citizen", recordKeys: [[7]], purpose: "p", policyBundleHash: [1],
            decision: .allow, determiningPolicies: [], requestDigest: [2], timestampMs: .min, discloseAtMs: .max)
        #expect(throws: ChainError.self) { try AccessEvent(decoding: extreme.encoded) }
        for bad in [event(discloseAt: 1_000), event(discloseAt: 999), event(discloseAt: 1_001 + AccessEvent.deferralMsMax)] {
            #expect(throws: ChainError.self) { try AccessEvent(decoding: bad.encoded) }
        }
        // role, grant, ε 0 and an empty digest with nothing after them: not an encoding any event has.
        var dangling = CanonicalWriter()
        dangling.write("r"); dangling.write(""); dangling.write(Int64(0)); dangling.write([UInt8]())
        #expect(throws: ChainError.self) { try AccessEvent(decoding: event(discloseAt: nil).encoded + dangling.bytes) }
    }

    @Test(arguments: SuiteName.allCases) func blocksProposedByTheSoloValidatorApplyInOrder(suite: SuiteName) throws {
        var fixture = try Fixture(suite)
        var ledger = try Ledger(genesis: fixture.genesis, suite: fixture.suite)
        var verifier = try Ledger(genesis: fixture.genesis, suite: fixture.suite)
        for height in 1...5 {
            let transactions = try (0..<height).map { _ in try fixture.accessTransaction() }
            let block = try ledger.proposeSolo(transactions: transactions, proposer: "v1", signer: fixture.validator, timestampMs: Int64(height))
            try ledger.apply(block)
            try verifier.apply(block)
            #expect(ledger.height == UInt64(height))
        }
        #expect(ledger.tipHash == verifier.tipHash)
    }

    @Test(arguments: SuiteName.allCases) func aFirstBlockOfAnotherGenesisIsNamedAsAnotherChainNotAsTampering(suite: SuiteName) throws {
        var fixture = try Fixture(suite)
        var ledger = try Ledger(genesis: fixture.genesis, suite: fixture.suite)
        let first = try ledger.proposeSolo(
            transactions: [try fixture.accessTransaction()], proposer: "v1", signer: fixture.validator, timestampMs: 1)
        #expect(ledger.foreignChainReason(first.header) == nil)
        let member = fixture.genesis.members[0]
        // Another chain id, and the same chain id under a genesis made again (another creation time).
        let otherChain = try Ledger(
            genesis: Genesis(chainID: "other-chain", suite: suite, members: [member], createdAtMs: fixture.genesis.createdAtMs), suite: fixture.suite)
        let remade = try Ledger(
            genesis: Genesis(chainID: fixture.genesis.chainID, suite: suite, members: [member], createdAtMs: 1), suite: fixture.suite)
        #expect(otherChain.foreignChainReason(first.header)?.contains("blocks of chain test-chain") == true)
        #expect(remade.foreignChainReason(first.header)?.contains("another genesis") == true)
        try ledger.apply(first)
        let second = try ledger.proposeSolo(transactions: [], proposer: "v1", signer: fixture.validator, timestampMs: 2)
        #expect(otherChain.foreignChainReason(second.header) == nil, "only a first block tells which genesis it follows")
    }

    @Test(arguments: SuiteName.allCases) func everyTamperingOfABlockIsRejected(suite: SuiteName) throws {
        var fixture = try Fixture(suite)
        let ledger = try Ledger(genesis: fixture.genesis, suite: fixture.suite)
        let good = try ledger.proposeSolo(
            transactions: [try fixture.accessTransaction(), try fixture.accessTransaction()], proposer: "v1", signer: fixture.validator,
            timestampMs: 1)
        try ledger.validate(good)

        // A transaction swapped for another one.
        let swapped = Block(
            header: good.header, transactions: [good.transactions[0], try fixture.accessTransaction(.deny)], certificate: good.certificate)
        #expect(throws: ChainError.self) { try ledger.validate(swapped) }
        // Transactions dropped.
        #expect(throws: ChainError.self) {
            try ledger.validate(Block(header: good.header, transactions: [good.transactions[0]], certificate: good.certificate))
        }
        // A certificate signed by a key outside the genesis.
        let outsider = fixture.suite.generateSigningKey()
        let forged = try outsider.sign(CommitSignature.message(header: good.header, headerHash: good.header.hash(suite: fixture.suite), epoch: 0))
        #expect(throws: ChainError.self) {
            try ledger.validate(
                Block(header: good.header, transactions: good.transactions, certificate: [CommitSignature(validator: "v1", signature: forged)]))
        }
        // No certificate at all.
        #expect(throws: ChainError.self) { try ledger.validate(Block(header: good.header, transactions: good.transactions, certificate: [])) }
        // A header at the wrong height or with the wrong parent.
        let h = good.header
        for header in [
            BlockHeader(
                chainID: h.chainID, height: 2, round: h.round, parentHash: h.parentHash, transactionsRoot: h.transactionsRoot,
                transactionCount: h.transactionCount, justifyDigest: h.justifyDigest, timeoutTag: 0, proposer: 0, timestampMs: h.timestampMs),
            BlockHeader(
                chainID: h.chainID, height: 1, round: h.round, parentHash: [UInt8](repeating: 0, count: 32), transactionsRoot: h.transactionsRoot,
                transactionCount: h.transactionCount, justifyDigest: h.justifyDigest, timeoutTag: 0, proposer: 0, timestampMs: h.timestampMs),
            BlockHeader(
                chainID: "other", height: 1, round: h.round, parentHash: h.parentHash, transactionsRoot: h.transactionsRoot,
                transactionCount: h.transactionCount, justifyDigest: h.justifyDigest, timeoutTag: 0, proposer: 0, timestampMs: h.timestampMs),
        ] {
            let signature = try fixture.validator.sign(
                CommitSignature.message(header: header, headerHash: header.hash(suite: fixture.suite), epoch: 0))
            #expect(throws: ChainError.self) {
                try ledger.validate(
                    Block(header: header, transactions: good.transactions, certificate: [CommitSignature(validator: "v1", signature: signature)]))
            }
        }
    }

    /// A certificate whose signatures consensus verified already (`certificateVerified`) is not verified again, but
    /// the rest of the block is: who signed (validators in force, no outsider, no unknown name), that they are a quorum,
    /// the transactions, the links. Without the flag a forged signature is refused as before.
    @Test(arguments: SuiteName.allCases) func aCertificateConsensusVerifiedIsCheckedForSignersAndQuorumOnly(suite: SuiteName) throws {
        var fixture = try Fixture(suite)
        var ledger = try Ledger(genesis: fixture.genesis, suite: fixture.suite)
        let good = try ledger.proposeSolo(
            transactions: [try fixture.accessTransaction()], proposer: "v1", signer: fixture.validator, timestampMs: 1)
        let garbled = Block(
            header: good.header, transactions: good.transactions,
            certificate: [CommitSignature(validator: "v1", signature: good.certificate[0].signature.reversed())])
        #expect(throws: ChainError.self) { try ledger.validate(garbled) }
        try ledger.validate(garbled, certificateVerified: true)
        for certificate in [[], [CommitSignature(validator: "outsider", signature: good.certificate[0].signature)]] {
            #expect(throws: ChainError.self) {
                try ledger.validate(Block(header: good.header, transactions: good.transactions, certificate: certificate), certificateVerified: true)
            }
        }
        let swapped = Block(header: good.header, transactions: [try fixture.accessTransaction(.deny)], certificate: good.certificate)
        #expect(throws: ChainError.self) { try ledger.validate(swapped, certificateVerified: true) }
        _ = try ledger.apply(good, certificateVerified: true)
        #expect(ledger.height == 1)
    }

    @Test(arguments: SuiteName.allCases) func transactionsFromUnknownSubmittersOrWithBadSignaturesAreRejected(suite: SuiteName) throws {
        var fixture = try Fixture(suite)
        let ledger = try Ledger(genesis: fixture.genesis, suite: fixture.suite)
        let good = try fixture.accessTransaction()
        try ledger.validate(good)
        let stranger = try Transaction(
            chainID: "test-chain", kind: .accessLog, submitter: "intruder", nonce: 1, timestampMs: 1, payload: good.payload,
            signer: fixture.suite.generateSigningKey())
        #expect(throws: ChainError.self) { try ledger.validate(stranger) }
        let impostor = try Transaction(
            chainID: "test-chain", kind: .accessLog, submitter: "v1", nonce: 1, timestampMs: 1, payload: good.payload,
            signer: fixture.suite.generateSigningKey())
        #expect(throws: ChainError.self) { try ledger.validate(impostor) }
        let otherChain = try Transaction(
            chainID: "other", kind: .accessLog, submitter: "v1", nonce: 1, timestampMs: 1, payload: good.payload, signer: fixture.validator)
        #expect(throws: ChainError.self) { try ledger.validate(otherChain) }
        let garbage = try Transaction(
            chainID: "test-chain", kind: .accessLog, submitter: "v1", nonce: 1, timestampMs: 1, payload: [1, 2, 3], signer: fixture.validator)
        #expect(throws: ChainError.self) { try ledger.validate(garbage) }
    }

    @Test(arguments: SuiteName.allCases) func genesisWithAnotherSuiteOrNoValidatorIsRefused(suite: SuiteName) throws {
        let fixture = try Fixture(suite)
        let other = Genesis(chainID: "c", suite: suite == .sm ? .intl : .sm, members: fixture.genesis.members, createdAtMs: 0)
        #expect(throws: ChainError.self) { try Ledger(genesis: other, suite: fixture.suite) }
        let empty = Genesis(chainID: "c", suite: suite, members: [], createdAtMs: 0)
        #expect(throws: ChainError.self) { try Ledger(genesis: empty, suite: fixture.suite) }
    }

    @Test func quorumIsTwoFPlusOne() {
        func genesis(_ n: Int) -> Genesis {
            Genesis(
                chainID: "c", suite: .intl,
                members: (0..<n).map { .init(nodeID: "v\($0)", department: "d", role: .validator, publicKey: "", address: "") }, createdAtMs: 0)
        }
        #expect(genesis(1).quorum == 1)
        #expect(genesis(4).quorum == 3)
        #expect(genesis(7).quorum == 5)
    }
}

@Suite struct EncodingTests {
    @Test(arguments: SuiteName.allCases) func transactionsAndHeadersRoundTrip(suite: SuiteName) throws {
        var fixture = try Fixture(suite)
        let transaction = try fixture.accessTransaction()
        #expect(try Transaction(decoding: transaction.encoded) == transaction)
        let event = try AccessEvent(decoding: transaction.payload)
        #expect(event.eventID == "event-1" && event.decision == .allow)
        let block = try Ledger(genesis: fixture.genesis, suite: fixture.suite).proposeSolo(
            transactions: [transaction], proposer: "v1", signer: fixture.validator, timestampMs: 9)
        #expect(try BlockHeader(decoding: block.header.encoded) == block.header)
        #expect(try Block.decodeCertificate(block.encodedCertificate) == block.certificate)
        let anchor = RecordAnchor(publisher: "r", category: "citizen", entries: [.init(recordKey: [1], recordHash: [2])])
        #expect(try RecordAnchor(decoding: anchor.encoded) == anchor)
        // One record key twice in an anchor (a hostile member's): malformed, never two rows of one key in storage.
        let twice = RecordAnchor(
            publisher: "r", category: "citizen", entries: [.init(recordKey: [1], recordHash: [2]), .init(recordKey: [1], recordHash: [3])])
        #expect(throws: ChainError.self) { try RecordAnchor(decoding: twice.encoded) }
    }

    @Test(arguments: SuiteName.allCases) func everyTruncationAndRandomCorruptionIsAnErrorNeverACrash(suite: SuiteName) throws {
        var fixture = try Fixture(suite)
        let encoded = try fixture.accessTransaction().encoded
        for length in 0..<encoded.count {
            #expect(throws: ChainError.self) { try Transaction(decoding: Array(encoded.prefix(length))) }
        }
        #expect(throws: ChainError.self) { try Transaction(decoding: encoded + [0]) }
        var random = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            var corrupted = encoded
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                corrupted[Int.random(in: 0..<corrupted.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            }
            _ = try? Transaction(decoding: corrupted)
            _ = try? BlockHeader(decoding: corrupted)
            _ = try? AccessEvent(decoding: corrupted)
        }
    }
}

@Suite struct ProofTests {
    @Test(arguments: SuiteName.allCases) func everyTransactionOfEveryBlockSizeHasAProofTheStandaloneVerifierAccepts(suite: SuiteName) throws {
        var fixture = try Fixture(suite)
        var ledger = try Ledger(genesis: fixture.genesis, suite: fixture.suite)
        let verifier = try ProofVerifier(genesis: fixture.genesis)
        let tree = MerkleTree(suite: fixture.suite)
        // Solo blocks have consecutive rounds, so each block's child is its 2-chain commit evidence.
        var blocks: [Block] = []
        for size in 1...10 {
            let transactions = try (0..<(size == 10 ? 0 : size)).map { _ in try fixture.accessTransaction() }
            let block = try ledger.proposeSolo(transactions: transactions, proposer: "v1", signer: fixture.validator, timestampMs: Int64(size))
            try ledger.apply(block)
            blocks.append(block)
        }
        for (block, child) in zip(blocks, blocks.dropFirst()) {
            let leaves = Block.transactionLeafHashes(block.transactions, tree: tree)
            for index in block.transactions.indices {
                let proof = InclusionProof(
                    transaction: block.transactions[index], leafIndex: index, auditPath: tree.inclusionProof(index: index, leafHashes: leaves),
                    header: block.header, certificate: block.certificate,
                    commitment: InclusionProof.Commitment(headers: [child.header], certificate: child.certificate)
                )
                let verified = try verifier.verify(proof)
                #expect(verified.height == block.header.height && verified.committed)
                #expect(verified.transaction == block.transactions[index])
            }
        }
        // Evidence through a longer chain (block 1 committed by the QC on block 4, whose parent is block 3).
        let leaves = Block.transactionLeafHashes(blocks[0].transactions, tree: tree)
        let far = InclusionProof(
            transaction: blocks[0].transactions[0], leafIndex: 0, auditPath: tree.inclusionProof(index: 0, leafHashes: leaves),
            header: blocks[0].header,
            certificate: blocks[0].certificate,
            commitment: InclusionProof.Commitment(headers: blocks[1...3].map(\.header), certificate: blocks[3].certificate)
        )
        #expect(try verifier.verify(far).committed)
    }

    /// A certified block is not necessarily committed: the proof must show the 2-chain, and every link of it.
    @Test(arguments: SuiteName.allCases) func commitEvidenceIsRequiredAndChecked(suite: SuiteName) throws {
        var fixture = try Fixture(suite)
        var ledger = try Ledger(genesis: fixture.genesis, suite: fixture.suite)
        let verifier = try ProofVerifier(genesis: fixture.genesis)
        let tree = MerkleTree(suite: fixture.suite)
        let transactions = [try fixture.accessTransaction()]
        let block = try ledger.proposeSolo(transactions: transactions, proposer: "v1", signer: fixture.validator, timestampMs: 1)
        try ledger.apply(block)
        let child = try ledger.proposeSolo(transactions: [], proposer: "v1", signer: fixture.validator, timestampMs: 2)
        let path = tree.inclusionProof(index: 0, leafHashes: Block.transactionLeafHashes(transactions, tree: tree))
        func proof(_ commitment: InclusionProof.Commitment?) -> InclusionProof {
            InclusionProof(
                transaction: transactions[0], leafIndex: 0, auditPath: path, header: block.header, certificate: block.certificate,
                commitment: commitment)
        }
        // No evidence: refused unless the caller accepts "certified only".
        #expect(throws: ChainError.self) { try verifier.verify(proof(nil)) }
        #expect(try verifier.verify(proof(nil), requireCommitment: false).committed == false)
        // A child two rounds later (a timeout in between) does not commit its parent.
        let late = BlockHeader(
            chainID: child.header.chainID, height: child.header.height, round: child.header.round + 1, parentHash: child.header.parentHash,
            transactionsRoot: child.header.transactionsRoot, transactionCount: 0, justifyDigest: child.header.justifyDigest,
            timeoutTag: child.header.round + 1,
            proposer: 0, timestampMs: 2
        )
        let lateCertificate = [
            CommitSignature(
                validator: "v1",
                signature: try fixture.validator.sign(
                    CommitSignature.message(header: late, headerHash: late.hash(suite: fixture.suite), epoch: 0)))
        ]
        #expect(throws: ChainError.self) { try verifier.verify(proof(.init(headers: [late], certificate: lateCertificate))) }
        // A child without a valid certificate, or one that does not link to the block.
        #expect(throws: ChainError.self) { try verifier.verify(proof(.init(headers: [child.header], certificate: []))) }
        #expect(throws: ChainError.self) { try verifier.verify(proof(.init(headers: [child.header], certificate: block.certificate))) }
        #expect(throws: ChainError.self) { try verifier.verify(proof(.init(headers: [block.header], certificate: block.certificate))) }
        #expect(try verifier.verify(proof(.init(headers: [child.header], certificate: child.certificate))).committed)
    }

    @Test(arguments: SuiteName.allCases) func tamperedProofsAreRejected(suite: SuiteName) throws {
        var fixture = try Fixture(suite)
        let ledger = try Ledger(genesis: fixture.genesis, suite: fixture.suite)
        let transactions = try (0..<5).map { _ in try fixture.accessTransaction() }
        let block = try ledger.proposeSolo(transactions: transactions, proposer: "v1", signer: fixture.validator, timestampMs: 1)
        let tree = MerkleTree(suite: fixture.suite)
        let path = tree.inclusionProof(index: 2, leafHashes: Block.transactionLeafHashes(transactions, tree: tree))
        let verifier = try ProofVerifier(genesis: fixture.genesis)
        let good = InclusionProof(transaction: transactions[2], leafIndex: 2, auditPath: path, header: block.header, certificate: block.certificate)
        _ = try verifier.verify(good, requireCommitment: false)

        var flipped = path
        flipped[0][0] ^= 1
        let cases = [
            InclusionProof(transaction: transactions[2], leafIndex: 2, auditPath: flipped, header: block.header, certificate: block.certificate),
            InclusionProof(transaction: transactions[2], leafIndex: 3, auditPath: path, header: block.header, certificate: block.certificate),
            InclusionProof(transaction: transactions[1], leafIndex: 2, auditPath: path, header: block.header, certificate: block.certificate),
            InclusionProof(
                transaction: transactions[2], leafIndex: 2, auditPath: Array(path.dropLast()), header: block.header, certificate: block.certificate),
            InclusionProof(transaction: transactions[2], leafIndex: 2, auditPath: path, header: block.header, certificate: []),
        ]
        for proof in cases {
            #expect(throws: ChainError.self) { try verifier.verify(proof, requireCommitment: false) }
        }
        // A verifier given another chain's genesis (other validator key) refuses the genuine proof.
        let stranger = try Fixture(suite)
        let otherVerifier = try ProofVerifier(
            genesis: Genesis(chainID: "test-chain", suite: suite, members: stranger.genesis.members, createdAtMs: 0))
        #expect(throws: ChainError.self) { try otherVerifier.verify(good, requireCommitment: false) }
    }
}

@Suite struct AccessLogBatchTests {
    @Test func batchesRoundTripAndMalformedOnesAreRejected() throws {
        let events = (0..<3).map {
            AccessEvent(
                eventID: "e\($0)", requester: "r", action: "read", category: "c", recordKeys: [[1]], purpose: "p", policyBundleHash: [2],
                decision: $0 == 1 ? .deny : .allow, determiningPolicies: ["policy\($0)"], requestDigest: [3], timestampMs: Int64($0))
        }
        let batch = AccessLogBatch(events: events)
        #expect(try AccessLogBatch(decoding: batch.encoded) == batch)
        let suite = InternationalSuite()
        let key = suite.generateSigningKey()
        let transaction = try Transaction(
            chainID: "c", kind: .accessLogBatch, submitter: "n", nonce: 1, timestampMs: 0, payload: batch.encoded, signer: key)
        #expect(try transaction.accessEvents() == events)
        // Empty, truncated, or of another version: errors, never crashes.
        var empty = CanonicalWriter()
        empty.write("datagateway/access-batch/v1")
        empty.write([[UInt8]]())
        #expect(throws: ChainError.self) { try AccessLogBatch(decoding: empty.bytes) }
        for length in 0..<batch.encoded.count { _ = try? AccessLogBatch(decoding: Array(batch.encoded.prefix(length))) }
        #expect(throws: ChainError.self) { try AccessLogBatch(decoding: Array(batch.encoded.dropLast())) }
        // One event id twice in a batch (a hostile member's, byte for byte or not): malformed, so the ledger refuses
        // the transaction and validators do not vote for a block carrying it.
        var repeated = CanonicalWriter()
        repeated.write("datagateway/access-batch/v1")
        repeated.write([events[0].encoded, events[1].encoded, events[0].encoded])
        #expect(throws: ChainError.self) { try AccessLogBatch(decoding: repeated.bytes) }
        let twice = try Transaction(
            chainID: "c", kind: .accessLogBatch, submitter: "n", nonce: 2, timestampMs: 0, payload: repeated.bytes, signer: key)
        #expect(throws: ChainError.self) { try twice.accessEvents() }
    }
}

/// The ε a differentially private statistic allowed is recorded in its access event (a trailing field: events without
/// it encode as before); the ledger's spending comes from decryption requests (DecryptionBookTests).
@Suite struct PrivacySpendingTests {
    static func event(_ id: String, epsilon: Int64?, decision: AccessEvent.Decision = .allow, at ms: Int64 = 1_801_000_000_000) -> AccessEvent {
        AccessEvent(
            eventID: id, requester: "statistics", action: "aggregate", category: "citizen", recordKeys: [], purpose: "official_statistics",
            policyBundleHash: [1], decision: decision, determiningPolicies: ["p"], requestDigest: [2], timestampMs: ms,
            epsilonMicros: epsilon
        )
    }

    @Test func epsilonRoundTripsAndOldEncodingsStand() throws {
        let plain = Self.event("e1", epsilon: nil)
        let spent = Self.event("e2", epsilon: 500_000)
        #expect(try AccessEvent(decoding: spent.encoded) == spent)
        #expect(try AccessEvent(decoding: plain.encoded) == plain)
        #expect(spent.encoded.count > plain.encoded.count && Self.event("e1", epsilon: 500_000).encoded.starts(with: plain.encoded))
        var zero = CanonicalWriter()
        zero.write("")
        zero.write("")
        zero.write(Int64(0))
        #expect(throws: ChainError.self) { try AccessEvent(decoding: plain.encoded + zero.bytes) }
    }

    @Test func calendarMonthsAreUTCAndProleptic() {
        #expect(PrivacySpending.month(ofUnixMs: 0) == "1970-01" && PrivacySpending.month(ofUnixMs: -1) == "1969-12")
        #expect(PrivacySpending.month(ofUnixMs: 951_782_400_000) == "2000-02" && PrivacySpending.month(ofUnixMs: 951_868_800_000) == "2000-03")
    }
}
