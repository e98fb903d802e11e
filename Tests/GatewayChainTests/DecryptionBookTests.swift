import Foundation
import GatewayChain
import GatewayCrypto
import Testing

/// Decryption requests, shares and refusals on chain: bounded payloads; ε charged once per request, by block month,
/// only within the budget the request states; shares counted only from the holder of their index, once, while the
/// request is open.
@Suite struct DecryptionBookTests {
    let suite = InternationalSuite()
    let keys: [any SigningKey]
    let genesis: Genesis
    let scheme: ThresholdPaillier
    let nonces = Nonces()

    final class Nonces: @unchecked Sendable {
        var last: UInt64 = 0
        func next() -> UInt64 {
            last += 1
            return last
        }
    }
    static let january: Int64 = 1_798_761_600_000  // 2027-01-01T00:00:00Z
    static let dealt = Result { try ThresholdPaillier.deal(bits: 512, threshold: 2, parties: 3) }

    init() throws {
        let suite = InternationalSuite()
        keys = (0..<3).map { _ in suite.generateSigningKey() }
        scheme = try Self.dealt.get().0
        genesis = Genesis(
            chainID: "book", suite: .intl,
            members: keys.enumerated().map { index, key in
                .init(
                    nodeID: "v\(index + 1)", department: "d\(index + 1)", role: index == 0 ? .validator : .observer,
                    publicKey: key.publicKey.pemRepresentation, address: "h:\(index)")
            }, createdAtMs: 0, policyBundles: [], aggregation: AggregationKey(key: scheme.parameters, holders: ["v1", "v2", "v3"]))
    }

    func request(_ statistic: String, epsilon: Int64 = 250_000, budget: Int64 = 500_000, cohorts: [UInt64] = [12, 3]) throws -> DecryptionRequest {
        let groups = try cohorts.enumerated().map { index, cohort in
            DecryptionRequest.Group(
                label: [UInt8](repeating: UInt8(index), count: 32), cohort: cohort, count: cohort,
                sum: try scheme.publicKey.encrypt(1_000 * (index + 1)).value.bigEndianBytes)
        }
        return DecryptionRequest(
            query: .init(
                statisticID: statistic, requester: "statistics", category: "citizen", field: "monthly_income", purpose: "research",
                epsilonMicros: epsilon, budgetMicros: budget, minimumCohort: 10, holders: 1),
            contributions: [.init(holder: "v1", eventID: "e-\(statistic)", groups: groups)])
    }

    func transaction(_ kind: Transaction.Kind, _ payload: [UInt8], by index: Int = 0, at ms: Int64 = january) throws -> Transaction {
        try Transaction(
            chainID: genesis.chainID, kind: kind, submitter: "v\(index + 1)", nonce: nonces.next(), timestampMs: ms, payload: payload,
            signer: keys[index])
    }

    func commit(_ ledger: inout Ledger, _ transactions: [Transaction], at ms: Int64 = january) throws -> Ledger.Applied {
        try ledger.apply(try ledger.proposeSolo(transactions: transactions, proposer: "v1", signer: keys[0], timestampMs: ms))
    }

    @Test func requestsRoundTripAndOnlyCohortsAtTheMinimumAreDecryptable() throws {
        let original = try request("s1")
        #expect(try DecryptionRequest(decoding: original.encoded) == original)
        let decryptable = original.decryptable(modulusSquared: scheme.publicKey.nSquared)
        #expect(decryptable.map(\.cohort) == [12], "the group of 3 is never decrypted")
        // Bounds: no holder twice, no unlabelled group, the holder count matches.
        let twice = DecryptionRequest(query: original.query, contributions: original.contributions + original.contributions)
        #expect(throws: ChainError.self) { try DecryptionRequest(decoding: twice.encoded) }
        #expect(throws: ChainError.self) { try DecryptionRequest(decoding: Array(original.encoded.dropLast())) }
        var bytes = original.encoded
        bytes[bytes.count / 2] ^= 0xff
        #expect((try? DecryptionRequest(decoding: bytes)) != original)
    }

    @Test func packedRequestsRoundTripAndPackOnlyDecryptableGroups() throws {
        let unpacked = try request("s1", cohorts: [12, 3, 40, 10, 9])
        let packed = DecryptionRequest(query: unpacked.query, contributions: unpacked.contributions, slotBits: 72)
        #expect(try DecryptionRequest(decoding: packed.encoded) == packed)
        #expect(try DecryptionRequest(decoding: unpacked.encoded).slotBits == 0, "a v1 request (no slot width) still decodes")
        // Three groups meet the cohort of 10: one ciphertext of 72-bit slots (a 512-bit key has seven), nothing of the others.
        let publicKey = scheme.publicKey
        #expect(packed.ciphertextsToDecrypt(publicKey).count == 1)
        #expect(unpacked.ciphertextsToDecrypt(publicKey).count == 3)
        let plaintexts = try packed.ciphertextsToDecrypt(publicKey).map { ciphertext in
            try scheme.combine(try Self.dealt.get().1.prefix(2).map { try scheme.partialDecrypt(ciphertext, share: $0) }, for: ciphertext)
        }
        #expect(try packed.packing(publicKey).unpack(plaintexts, count: 3) == [1_000, 3_000, 4_000].map { GMPInteger($0) })
        for width: UInt64 in [1, 15, 4_097, .max] {
            let bad = DecryptionRequest(query: unpacked.query, contributions: unpacked.contributions, slotBits: width)
            #expect(throws: ChainError.self, "slot width \(width)") { try DecryptionRequest(decoding: bad.encoded) }
        }
    }

    @Test func epsilonIsChargedOncePerRequestByBlockMonthAndOnlyWithinTheBudget() throws {
        var ledger = try Ledger(genesis: genesis, suite: suite)
        let key = PrivacySpending.Key(requester: "statistics", category: "citizen", month: "2027-01")
        let first = try transaction(.decryptionRequest, try request("s1").encoded)
        let second = try transaction(.decryptionRequest, try request("s2").encoded)
        let third = try transaction(.decryptionRequest, try request("s3").encoded)
        let exact = try transaction(.decryptionRequest, try request("s4", epsilon: 0, budget: 0).encoded)
        #expect(try commit(&ledger, [first, second, third, exact]).skipped.isEmpty)
        #expect(ledger.privacy.spent(key) == 500_000, "two of 0.25 fit a budget of 0.5; the third does not and is not charged")
        let entries = [first, second, third, exact].map { ledger.decryptions.entry(Hex.encode($0.hash(suite: suite)))! }
        #expect(entries.map(\.withinBudget) == [true, true, false, true])
        #expect(entries.map(\.spentBeforeMicros) == [0, 250_000, 500_000, 500_000])
        // The next month starts afresh (block time, not the submitter's clock).
        let february = Self.january + 31 * 86_400_000
        let later = try transaction(.decryptionRequest, try request("s5").encoded, at: Self.january)
        #expect(try commit(&ledger, [later], at: february).skipped.isEmpty)
        #expect(ledger.privacy.spent(.init(requester: "statistics", category: "citizen", month: "2027-02")) == 250_000)
    }

    @Test func sharesCountOnlyFromTheirHolderOnceWhileTheRequestIsOpen() throws {
        var ledger = try Ledger(genesis: genesis, suite: suite)
        let request = try transaction(.decryptionRequest, try request("s1").encoded)
        _ = try commit(&ledger, [request])
        let id = Hex.encode(request.hash(suite: suite))
        let share = { (party: UInt64) in DecryptionShare(requestID: id, party: party, share: [1, 2, 3]).encoded }
        let own = try transaction(.decryptionShare, share(2), by: 1)
        let again = try transaction(.decryptionShare, share(2), by: 1)
        let stolen = try transaction(.decryptionShare, share(3), by: 1)
        let refusal = try transaction(.decryptionRefusal, DecryptionRefusal(requestID: id, party: 3, reason: "budget").encoded, by: 2)
        let unknown = try transaction(.decryptionShare, DecryptionShare(requestID: "00", party: 1, share: [1]).encoded)
        let applied = try commit(&ledger, [own, again, stolen, refusal, unknown])
        #expect(applied.skipped.keys.sorted() == [1, 2, 4], "\(applied.skipped)")
        let entry = try #require(ledger.decryptions.entry(id))
        #expect(entry.shares.keys.sorted() == [2] && entry.refusals == [3: "budget"])
        // Ten minutes of block time later the request is closed: a late share is skipped.
        let late = try transaction(.decryptionShare, share(1))
        #expect(try commit(&ledger, [late], at: Self.january + DecryptionBook.openWindowMs + 1).skipped.keys.sorted() == [0])
        #expect(ledger.decryptions.entry(id) == nil)
    }

    @Test func aChainWithoutAnAggregationKeyTakesNoDecryptionRequests() throws {
        let plain = Genesis(chainID: "book", suite: .intl, members: genesis.members, createdAtMs: 0)
        var ledger = try Ledger(genesis: plain, suite: suite)
        let request = try transaction(.decryptionRequest, try request("s1").encoded)
        #expect(try commit(&ledger, [request]).skipped.keys.sorted() == [0])
    }
}
