import Foundation
import GatewayCrypto
import GatewaySchema
import GatewayStore

/// Envelope encryption and salted hashing of records. Each record gets its own data key, sealed under the node's
/// record key; destroying the wrapped key destroys the record (crypto-shredding) while its anchored hash remains.
package struct RecordVault: Sendable {
    let suite: any CryptoSuite
    let recordKey: [UInt8]
    let salt: [UInt8]

    package init(suite: any CryptoSuite, recordKey: [UInt8], salt: [UInt8]) {
        self.suite = suite
        self.recordKey = recordKey
        self.salt = salt
    }

    /// HMAC(salt, "record-key" ‖ category ‖ id): the record's on-chain identifier.
    package func recordKey(category: String, id: String) -> [UInt8] {
        suite.hmac(key: salt, Self.domain("record-key", category, id))
    }

    /// HMAC(salt, "citizen" ‖ id): counts distinct citizens without revealing them.
    package func citizenKey(_ citizenID: String) -> [UInt8] {
        suite.hmac(key: salt, Self.domain("citizen", citizenID))
    }

    /// HMAC(salt, "citizen-token"): the key of the citizens' tokens this node issues (HS256), which only it verifies.
    package var citizenTokenKey: [UInt8] { suite.hmac(key: salt, Self.domain("citizen-token")) }

    /// HMAC(salt, "record-hash" ‖ category ‖ canonical JSON): anchored on chain, re-checked on every read.
    func recordHash(category: String, record: JSONValue) -> [UInt8] {
        suite.hmac(key: salt, Self.domain("record-hash", category) + record.canonicalBytes)
    }

    /// What is anchored on chain for a record (version 2): its content hash bound to what statistics read without
    /// decrypting it — the coarse dimensions (canonical JSON) and every aggregate ciphertext, by field — so none of
    /// them can be edited, swapped between records or moved to another group unnoticed.
    func anchorHash(contentHash: [UInt8], dimensionsJSON: String, aggregates: [String: [UInt8]]) -> [UInt8] {
        var input = Self.domain("record-anchor-v2") + Self.lengthPrefixed(contentHash) + Self.domain(dimensionsJSON)
        for field in aggregates.keys.sorted() {
            input += Self.domain(field) + Self.lengthPrefixed(aggregates[field]!)
        }
        return suite.hmac(key: salt, input)
    }

    /// The hash a stored record's anchor must equal, as its version defines it.
    func expectedAnchor(version: Int, contentHash: [UInt8], dimensionsJSON: String, aggregates: [String: [UInt8]]) -> [UInt8] {
        guard version >= 2 else { return contentHash }
        // Stored dimensions come back from jsonb re-serialised: hash their canonical form, as when they were sealed.
        let canonical = (try? JSONValue.parse(Data(dimensionsJSON.utf8)))?.canonicalString ?? dimensionsJSON
        return anchorHash(contentHash: contentHash, dimensionsJSON: canonical, aggregates: aggregates)
    }

    /// Salted hash used by the `hash` mask: stable per deployment, so masked values can still be joined.
    func maskHash(field: String, value: String) -> String {
        Hex.encode(suite.hmac(key: salt, Self.domain("mask", field, value)).prefix(16))
    }

    func seal(category: String, id: String, record: JSONValue) throws -> (wrappedKey: [UInt8], ciphertext: [UInt8]) {
        var dataKey = SystemRandom().bytes(count: suite.symmetricKeyLength)
        defer { secureZero(&dataKey) }
        let ciphertext = try suite.seal(record.canonicalBytes, key: dataKey, associatedData: Self.domain("record", category, id))
        let wrapped = try suite.seal(dataKey, key: recordKey, associatedData: Self.domain("data-key", category, id))
        return (wrapped, ciphertext)
    }

    func open(category: String, id: String, wrappedKey: [UInt8], ciphertext: [UInt8]) throws -> JSONValue {
        var dataKey = try suite.open(wrappedKey, key: recordKey, associatedData: Self.domain("data-key", category, id))
        defer { secureZero(&dataKey) }
        var plaintext = try suite.open(ciphertext, key: dataKey, associatedData: Self.domain("record", category, id))
        defer { secureZero(&plaintext) }
        return try JSONValue.parse(Data(plaintext))
    }

    /// The node's tag over a running-sum row (keyed by the record key, domain-separated): a row altered in the database
    /// is found before it counts.
    package func sumTag(category: String, field: String, groupKey: String, ciphertext: [UInt8], records: Int, cohort: Int) -> [UInt8] {
        let message =
            Self.domain("running-sum", category, field, groupKey, String(records), String(cohort)) + Self.lengthPrefixed(ciphertext)
        return suite.hmac(key: suite.hmac(key: recordKey, Array("datagateway/running-sum-key/v1".utf8)), message)
    }

    /// Running sums written with this node's tag, under the consortium key.
    package func runningSums(_ publicKey: PaillierPublicKey) -> RunningSumsWriter {
        RunningSumsWriter(publicKey: publicKey) { [self] category, field, groupKey, ciphertext, records, cohort in
            sumTag(category: category, field: field, groupKey: groupKey, ciphertext: ciphertext, records: records, cohort: cohort)
        }
    }

    static func lengthPrefixed(_ bytes: [UInt8]) -> [UInt8] {
        withUnsafeBytes(of: UInt32(bytes.count).bigEndian, Array.init) + bytes
    }

    /// Length-prefixed domain separation, so that no two different inputs hash alike.
    static func domain(_ parts: String...) -> [UInt8] {
        var out: [UInt8] = []
        for part in parts {
            let bytes = Array(part.utf8)
            out.append(contentsOf: withUnsafeBytes(of: UInt32(bytes.count).bigEndian, Array.init))
            out.append(contentsOf: bytes)
        }
        return out
    }
}
