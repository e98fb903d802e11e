import Foundation
import GatewayChain
import GatewayCrypto
import GatewayStore
import Logging

/// A share holder's duty: for every decryption request committed on chain, check it on its own and only then post its
/// partial decryptions (with proofs) as a `decryptionShare` transaction — or a `decryptionRefusal` with the reason.
/// The checks: the chain counted the request within the requester's privacy budget; every contribution is anchored by
/// its holder's committed access event, which allowed exactly this statistic to this requester (same query, digest of
/// the same groups); every group decrypted meets the minimum cohort (the others are not decrypted at all); every
/// ciphertext is well formed. Nothing here trusts the requester's node.
package actor DecryptionDuty {
    let key: ConsortiumKey
    let share: ThresholdPaillier.KeyShare
    let nodeID: String
    let suite: any CryptoSuite
    let ledger: any LedgerReading
    let writer: any ChainWriting
    let audit: any AuditStoring
    let logger: Logger
    /// Requests this node answered (or is answering) since it started; the chain says the rest.
    var answered: Set<String> = []

    package init(
        key: ConsortiumKey, share: ThresholdPaillier.KeyShare, nodeID: String, suite: any CryptoSuite, ledger: any LedgerReading,
        writer: any ChainWriting, audit: any AuditStoring, logger: Logger
    ) {
        self.key = key
        self.share = share
        self.nodeID = nodeID
        self.suite = suite
        self.ledger = ledger
        self.writer = writer
        self.audit = audit
        self.logger = logger
    }

    /// Answers requests as they are committed, until cancelled. Waits for blocks, never for the clock.
    package func run() async {
        var height: UInt64 = 0
        while !Task.isCancelled {
            await answerOpenRequests()
            // A short idle wake-up, so that cancellation (shutdown) is noticed promptly.
            height = await ledger.awaitHeight(after: height, timeoutMs: 2_000)
        }
    }

    /// One pass over the open requests this share has not answered.
    package func answerOpenRequests() async {
        let open = await ledger.openDecryptions()
        // What the chain has closed needs no memory here.
        answered.formIntersection(open.map(\.id))
        for (id, entry) in open where entry.shares[share.index] == nil && entry.refusals[share.index] == nil && !answered.contains(id) {
            answered.insert(id)
            do {
                try await answer(id, entry)
            } catch {
                answered.remove(id)
                logger.error("could not answer a decryption request", metadata: ["request": "\(id)", "error": "\(error)"])
            }
        }
    }

    func answer(_ id: String, _ entry: DecryptionBook.Entry) async throws {
        if let reason = await refusalReason(entry) {
            logger.notice("refusing a decryption request", metadata: ["request": "\(id)", "reason": "\(reason)"])
            _ = try await writer.submit(
                .decryptionRefusal, payload: DecryptionRefusal(requestID: id, party: UInt64(share.index), reason: reason).encoded)
            return
        }
        let (scheme, share, request, publicKey) = (key.scheme, share, entry.request, key.publicKey)
        let partials = try await HeavyWork.run {
            try request.ciphertextsToDecrypt(publicKey).map { try scheme.partialDecrypt($0, share: share) }
        }
        _ = try await writer.submit(
            .decryptionShare,
            payload: DecryptionShare(requestID: id, party: UInt64(share.index), share: PartialDecryptions(partials: partials).encoded).encoded)
    }

    /// Why this share holder will not decrypt, or nil when every check holds.
    func refusalReason(_ entry: DecryptionBook.Entry) async -> String? {
        let request = entry.request
        let query = request.query
        if query.epsilonMicros > 0 && !entry.withinBudget {
            return
                "privacy budget: \(query.requester) had spent ε \(PrivateRelease.decimal(entry.spentBeforeMicros)) of \(PrivateRelease.decimal(query.budgetMicros)) on \(query.category) this month; this statistic needs \(PrivateRelease.decimal(query.epsilonMicros))"
        }
        for contribution in request.contributions {
            if let reason = await check(contribution, of: query) { return "holder \(contribution.holder): \(reason)" }
        }
        let groups = request.decryptable(modulusSquared: key.publicKey.nSquared)
        guard !groups.isEmpty else { return "no group meets the minimum cohort of \(query.minimumCohort)" }
        for group in groups {
            do { try key.publicKey.validate(group.sum) } catch { return "a combined ciphertext is not a unit modulo n²" }
        }
        return nil
    }

    /// The holder's committed access event allows exactly this contribution.
    func check(_ contribution: DecryptionRequest.Contribution, of query: DecryptionRequest.Query) async -> String? {
        // The event the holder logged: a copy of its id in another member's transaction is not it.
        guard let rows = try? await audit.accessEvents(id: contribution.eventID), !rows.isEmpty else {
            return "its access event \(contribution.eventID) is not on chain"
        }
        var found: Transaction?
        for row in rows {
            if let candidate = try? await ledger.committedTransaction(row.transactionHash), candidate.submitter == contribution.holder {
                found = candidate
                break
            }
        }
        guard let transaction = found else {
            return "access event \(contribution.eventID) was not logged by the holder \(contribution.holder)"
        }
        guard let event = (try? transaction.accessEvents())?.first(where: { $0.eventID == contribution.eventID }) else {
            return "access event \(contribution.eventID) is not in its transaction"
        }
        guard event.decision == .allow else { return "its decision was a denial" }
        guard event.requester == query.requester, event.category == query.category, event.purpose == query.purpose,
            event.action == "aggregate"
        else { return "its access event allowed another requester, category, purpose or action" }
        guard (event.epsilonMicros ?? 0) == query.epsilonMicros else {
            return
                "its access event allowed ε \(PrivateRelease.decimal(event.epsilonMicros ?? 0)), the request asks for \(PrivateRelease.decimal(query.epsilonMicros))"
        }
        guard let digest = event.resultDigest, constantTimeEquals(digest, contribution.digest(query: query, suite: suite)) else {
            return "what the request says it returned does not match the digest its access event anchors"
        }
        return nil
    }
}

/// The requester's side: waits for share holders' answers to a request on chain and combines t valid shares. Each
/// party's partials are verified once (proofs); a forged share is set aside and counted as a failure. Releases
/// nothing until t valid shares are on chain; fails when refusals and forgeries leave fewer than t possible.
package struct DecryptionWaiter: Sendable {
    let key: ConsortiumKey
    let ledger: any LedgerReading
    let timeoutMs: Int64
    let now: @Sendable () -> Int64

    package struct Result: Sendable {
        package let values: [GMPInteger]
        /// Node ids whose shares were combined.
        package let holders: [String]
    }

    package func plaintexts(requestID: String, groups: [PaillierCiphertext], from height: UInt64) async throws -> Result {
        let scheme = key.scheme
        let threshold = key.threshold
        let parties = scheme.parameters.parties
        var verdicts: [Int: [ThresholdPaillier.PartialDecryption]?] = [:]
        var seen = height
        let deadline = now() + timeoutMs
        while true {
            guard let entry = await ledger.decryption(requestID) else {
                throw ExchangeError(.decryptionRefused, "decryption request \(requestID) is no longer open on chain")
            }
            for (party, bytes) in entry.shares.sorted(by: { $0.key < $1.key }) where verdicts[party] == nil {
                verdicts[party] = try await HeavyWork.run {
                    guard let decoded = try? PartialDecryptions(decoding: bytes, party: party), decoded.partials.count == groups.count else {
                        return .some(nil)
                    }
                    let valid = scheme.verifyAll(decoded.partials, for: groups)
                    return .some(valid ? decoded.partials : nil)
                }
            }
            let valid = verdicts.compactMap { party, partials in partials.map { (party, $0) } }.sorted { $0.0 < $1.0 }.prefix(threshold)
            if valid.count >= threshold {
                let chosen = Array(valid)
                let values = try await HeavyWork.run {
                    try groups.indices.map { index in
                        try scheme.combine(chosen.map { $0.1[index] }, for: groups[index], proofsVerified: true)
                    }
                }
                return Result(values: values, holders: chosen.map { key.holders[$0.0 - 1] })
            }
            let forged = verdicts.filter { $0.value == nil }.map(\.key)
            if entry.refusals.count + forged.count > parties - threshold {
                let reasons =
                    entry.refusals.sorted { $0.key < $1.key }.map { "\(key.holders[$0.key - 1]) refused: \($0.value)" }
                    + forged.sorted().map { "\(key.holders[$0 - 1])'s share failed its proof" }
                throw ExchangeError(
                    .decryptionRefused,
                    "the consortium will not decrypt this statistic (\(threshold) of \(parties) shares needed): \(reasons.joined(separator: "; "))")
            }
            let left = deadline - now()
            guard left > 0 else {
                throw ExchangeError(
                    .decryptionPending,
                    "decryption request \(requestID) has \(valid.count) of the \(threshold) valid shares it needs; share holders may be down. Nothing was released."
                )
            }
            seen = await ledger.awaitHeight(after: seen, timeoutMs: left)
        }
    }
}
