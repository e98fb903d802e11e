import GatewayChain
import GatewayCrypto
import GatewayStore
import Testing

/// The fast fingerprints of access events and their records (`digests`, written straight from the events into one
/// buffer) equal the column-by-column ones (`rows`, from the same text columns PostgreSQL renders): on seeded random
/// events with non-ASCII text, empty and long fields, optional fields, repeated record keys and several transactions.
@Suite struct FingerprintTests {
    @Test func theFastDigestsEqualTheColumnFingerprints() {
        let seed: UInt64 = 20_261_128
        print("FingerprintTests seed \(seed)")
        var random = SplitMix64(seed: seed)
        func pick(_ n: Int) -> Int { Int(random.next() % UInt64(n)) }
        let alphabet: [String] = ["a", "Z", "0", "-", "_", " ", "é", "政", "策", "😀", "\u{1E}", ":", "\\", "\""]
        func text(_ maximum: Int) -> String { String((0..<pick(maximum + 1)).map { _ in alphabet[pick(alphabet.count)] }.joined()) }
        func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) } }
        for round in 0..<50 {
            var rows = DerivedRows()
            let transactions = (0..<(1 + pick(3))).map { _ in bytes(32) }
            for index in 0..<(1 + pick(20)) {
                let keys = (0..<pick(4)).map { _ in bytes(32) }
                let event = AccessEvent(
                    eventID: "e\(round)-\(index)-" + text(12), requester: text(10), action: text(6), category: text(6),
                    recordKeys: keys + (keys.isEmpty || pick(2) == 0 ? [] : [keys[0]]), purpose: text(20), policyBundleHash: bytes(pick(33)),
                    decision: pick(2) == 0 ? .allow : .deny, determiningPolicies: (0..<pick(3)).map { _ in text(8) }, requestDigest: bytes(32),
                    timestampMs: Int64(bitPattern: random.next()) / 2, role: pick(2) == 0 ? nil : text(5), grantID: pick(2) == 0 ? nil : text(5),
                    discloseAtMs: pick(2) == 0 ? nil : Int64(pick(1_000_000_000)))
                rows.events.append((event, transactions[pick(transactions.count)]))
            }
            let digests = rows.digests
            for table in [DerivedRows.Table.accessEvents, .accessRecords] {
                let columnwise = rows.rows(table).values
                #expect(digests[table]?.count == columnwise.count, "round \(round), \(table)")
                #expect(digests[table]?.xor == columnwise.reduce(0, ^), "round \(round), \(table)")
            }
        }
    }
}
