import GatewayCrypto

/// Canonical binary encoding of consensus messages for the wire and for storage. Every length and count is bounded;
/// decoding garbage throws `ChainError.malformed`, it never traps.
public enum ConsensusCodec {
    /// Upper bound of one encoded message (a frame on the wire).
    public static let messageBytesMax = 8 * 1024 * 1024
    static let signaturesMax = 1_024
    static let payloadItemsMax = 65_536
    static let blocksPerMessageMax = 16

    public static func encode(_ message: ConsensusMessage) -> [UInt8] {
        var writer = CanonicalWriter()
        switch message {
        case .proposal(let block):
            writer.write(UInt8(1))
            write(block, into: &writer)
        case .vote(let vote):
            writer.write(UInt8(2))
            writer.write(vote.blockID)
            writer.write(vote.round)
            writer.write(vote.height)
            writer.write(UInt64(vote.voter))
            writer.write(vote.signature)
        case .timeout(let timeout):
            writer.write(UInt8(3))
            writer.write(timeout.round)
            write(timeout.highQC, into: &writer)
            write(timeout.highTC, into: &writer)
            writer.write(UInt64(timeout.voter))
            writer.write(timeout.signature)
        case .fetch(let blockID):
            writer.write(UInt8(4))
            writer.write(blockID)
        case .blocks(let blocks):
            writer.write(UInt8(5))
            writer.write(UInt64(blocks.count))
            for block in blocks { write(block, into: &writer) }
        case .transactions(let items):
            writer.write(UInt8(6))
            writer.write(items)
        case .certified(let block, let qc):
            writer.write(UInt8(7))
            write(block, into: &writer)
            write(qc, into: &writer)
        case .catchUp:
            writer.write(UInt8(8))
        case .syncRequest(let height):
            writer.write(UInt8(9))
            writer.write(height)
        case .syncBlocks(let batch):
            writer.write(UInt8(10))
            writer.write(UInt64(batch.blocks.count))
            for block in batch.blocks { write(block, into: &writer) }
            write(batch.lastQC, into: &writer)
            writer.write(batch.child.encoded)
            write(batch.childQC, into: &writer)
        }
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8], hash: ([UInt8]) -> [UInt8]) throws -> ConsensusMessage {
        guard bytes.count <= messageBytesMax else { throw ChainError(.malformed, "consensus message too large") }
        var reader = CanonicalReader(bytes)
        let message: ConsensusMessage
        switch try reader.readUInt8() {
        case 1: message = .proposal(try readBlock(&reader, hash: hash))
        case 2:
            message = .vote(
                Vote(
                    blockID: try reader.readBytes(), round: try reader.readUInt64(within: .round),
                    height: try reader.readUInt64(within: .height),
                    voter: try replica(&reader), signature: try reader.readBytes()))
        case 3:
            let round = try reader.readUInt64(within: .round)
            let qc = try readQC(&reader)
            let tc = try readTC(&reader)
            message = .timeout(TimeoutVote(round: round, highQC: qc, highTC: tc, voter: try replica(&reader), signature: try reader.readBytes()))
        case 4: message = .fetch(try reader.readBytes())
        case 5:
            let count = try reader.readUInt64()
            guard count <= UInt64(blocksPerMessageMax) else { throw ChainError(.malformed, "too many blocks in one message") }
            message = .blocks(try (0..<count).map { _ in try readBlock(&reader, hash: hash) })
        case 6:
            let items = try reader.readByteList()
            guard items.count <= payloadItemsMax else { throw ChainError(.malformed, "too many payload items") }
            message = .transactions(items)
        case 7: message = .certified(try readBlock(&reader, hash: hash), try readQC(&reader))
        case 8: message = .catchUp
        case 9: message = .syncRequest(try reader.readUInt64(within: .height))
        case 10:
            let count = try reader.readUInt64()
            guard count <= UInt64(blocksPerMessageMax) else { throw ChainError(.malformed, "too many blocks in one message") }
            let blocks = try (0..<count).map { _ in try readBlock(&reader, hash: hash) }
            message = .syncBlocks(
                SyncBatch(
                    blocks: blocks, lastQC: try readQC(&reader), child: try BlockHeader(decoding: try reader.readBytes()),
                    childQC: try readQC(&reader)))
        default:
            throw ChainError(.malformed, "unknown consensus message type")
        }
        try reader.expectEnd()
        return message
    }

    /// What a committed block needs beyond its ledger form to be a consensus block again (its justify QC and
    /// timeout certificate), for storage beside the block so peers can be served old blocks.
    public static func encodeEvidence(of block: ConsensusBlock) -> [UInt8] {
        var writer = CanonicalWriter()
        write(block.justify, into: &writer)
        write(block.timeout, into: &writer)
        return writer.bytes
    }

    /// Rebuilds a committed consensus block from its header, payload and evidence; the id must come out as the
    /// header's hash, or the stored data is inconsistent.
    public static func block(header: BlockHeader, payload: [[UInt8]], evidence: [UInt8], hash: ([UInt8]) -> [UInt8]) throws -> ConsensusBlock {
        var reader = CanonicalReader(evidence)
        let justify = try readQC(&reader)
        let timeout = try readTC(&reader)
        try reader.expectEnd()
        guard header.proposer < UInt64(signaturesMax) else { throw ChainError(.malformed, "proposer out of range") }
        let block = ConsensusBlock(
            chainID: header.chainID, round: header.round, justify: justify, timeout: timeout, proposer: Int(header.proposer),
            timestampMs: header.timestampMs, payload: payload, hash: hash
        )
        guard block.id == hash(header.encoded) else { throw ChainError(.malformed, "stored block \(header.height) does not match its evidence") }
        return block
    }

    /// How an epoch ended (the evidence and the blocks above the boundary), for storage.
    public static func encode(_ end: EpochEnd) -> [UInt8] {
        var writer = CanonicalWriter()
        writer.write(end.evidence.childHeader.encoded)
        writer.write(end.evidence.child == nil ? UInt8(0) : 1)
        if let child = end.evidence.child { write(child, into: &writer) }
        write(end.evidence.childQC, into: &writer)
        writer.write(UInt64(end.beyond.count))
        for block in end.beyond { write(block, into: &writer) }
        return writer.bytes
    }

    public static func decodeEpochEnd(_ bytes: [UInt8], hash: ([UInt8]) -> [UInt8]) throws -> EpochEnd {
        var reader = CanonicalReader(bytes)
        let header = try BlockHeader(decoding: try reader.readBytes())
        let child = try reader.readUInt8() == 1 ? try readBlock(&reader, hash: hash) : nil
        let qc = try readQC(&reader)
        let count = try reader.readUInt64()
        guard count <= 4_096 else { throw ChainError(.malformed, "too many blocks beyond an epoch boundary") }
        let beyond = try (0..<count).map { _ in try readBlock(&reader, hash: hash) }
        try reader.expectEnd()
        let evidence = child.map { CommitEvidence(child: $0, childQC: qc) } ?? CommitEvidence(childHeader: header, childQC: qc)
        return EpochEnd(evidence: evidence, beyond: beyond)
    }

    /// A replica's safety state, for storage.
    public static func encode(_ safety: SafetyState) -> [UInt8] {
        var writer = CanonicalWriter()
        writer.write(safety.lastVotedRound)
        write(safety.highQC, into: &writer)
        return writer.bytes
    }

    public static func decodeSafety(_ bytes: [UInt8]) throws -> SafetyState {
        var reader = CanonicalReader(bytes)
        let state = SafetyState(lastVotedRound: try reader.readUInt64(within: .round), highQC: try readQC(&reader))
        try reader.expectEnd()
        return state
    }

    /// A block, for storage (its id is recomputed when it is read back).
    public static func encode(_ block: ConsensusBlock) -> [UInt8] {
        var writer = CanonicalWriter()
        write(block, into: &writer)
        return writer.bytes
    }

    public static func decodeBlock(_ bytes: [UInt8], hash: ([UInt8]) -> [UInt8]) throws -> ConsensusBlock {
        var reader = CanonicalReader(bytes)
        let block = try readBlock(&reader, hash: hash)
        try reader.expectEnd()
        return block
    }

    static func replica(_ reader: inout CanonicalReader) throws -> ReplicaID {
        let value = try reader.readUInt64()
        guard value < UInt64(signaturesMax) else { throw ChainError(.malformed, "replica id out of range") }
        return ReplicaID(value)
    }

    static func write(_ qc: QuorumCertificate, into writer: inout CanonicalWriter) {
        writer.write(qc.blockID)
        writer.write(qc.round)
        writer.write(qc.height)
        writer.write(UInt64(qc.signatures.count))
        for signed in qc.signatures {
            writer.write(UInt64(signed.replica))
            writer.write(signed.signature)
        }
    }

    static func readQC(_ reader: inout CanonicalReader) throws -> QuorumCertificate {
        let blockID = try reader.readBytes()
        let round = try reader.readUInt64(within: .round)
        let height = try reader.readUInt64(within: .height)
        let count = try reader.readUInt64()
        guard count <= UInt64(signaturesMax) else { throw ChainError(.malformed, "too many signatures") }
        let signatures = try (0..<count).map { _ in QuorumCertificate.Signed(replica: try replica(&reader), signature: try reader.readBytes()) }
        return QuorumCertificate(blockID: blockID, round: round, height: height, signatures: signatures)
    }

    static func write(_ tc: TimeoutCertificate?, into writer: inout CanonicalWriter) {
        guard let tc else {
            writer.write(UInt8(0))
            return
        }
        writer.write(UInt8(1))
        writer.write(tc.round)
        writer.write(UInt64(tc.entries.count))
        for entry in tc.entries {
            writer.write(UInt64(entry.replica))
            writer.write(entry.highQCRound)
            writer.write(entry.signature)
        }
    }

    static func readTC(_ reader: inout CanonicalReader) throws -> TimeoutCertificate? {
        switch try reader.readUInt8() {
        case 0: return nil
        case 1:
            let round = try reader.readUInt64(within: .round)
            let count = try reader.readUInt64()
            guard count <= UInt64(signaturesMax) else { throw ChainError(.malformed, "too many timeout signatures") }
            return TimeoutCertificate(
                round: round,
                entries: try (0..<count).map { _ in
                    TimeoutCertificate.Entry(
                        replica: try replica(&reader), highQCRound: try reader.readUInt64(within: .round), signature: try reader.readBytes())
                })
        default:
            throw ChainError(.malformed, "bad timeout-certificate flag")
        }
    }

    static func write(_ block: ConsensusBlock, into writer: inout CanonicalWriter) {
        writer.write(block.chainID)
        writer.write(block.round)
        writer.write(block.height)
        write(block.justify, into: &writer)
        write(block.timeout, into: &writer)
        writer.write(UInt64(block.proposer))
        writer.write(block.timestampMs)
        writer.write(block.payload)
    }

    /// Reads a block and recomputes its id from its contents (the id is never taken from the wire).
    static func readBlock(_ reader: inout CanonicalReader, hash: ([UInt8]) -> [UInt8]) throws -> ConsensusBlock {
        let chainID = try reader.readString()
        let round = try reader.readUInt64(within: .round)
        let height = try reader.readUInt64(within: .height)
        let justify = try readQC(&reader)
        let timeout = try readTC(&reader)
        let proposer = try replica(&reader)
        let timestampMs = try reader.readInt64()
        let payload = try reader.readByteList()
        guard payload.count <= payloadItemsMax else { throw ChainError(.malformed, "too many payload items") }
        guard height == justify.height &+ 1 else { throw ChainError(.malformed, "block height does not follow its QC") }
        return ConsensusBlock(
            chainID: chainID, round: round, justify: justify, timeout: timeout, proposer: proposer, timestampMs: timestampMs, payload: payload,
            hash: hash
        )
    }
}

/// Consensus signatures with the deployment's suite keys (SM2 or Ed25519), validators in the epoch's order.
public struct SuiteConsensusSigner: ConsensusSigner {
    public let replica: ReplicaID
    let key: any SigningKey
    let validators: [any VerifyingKey]

    public init(replica: ReplicaID, key: any SigningKey, validators: [any VerifyingKey]) {
        // A follower (outside the set) never signs consensus messages; its replica only verifies.
        self.replica = replica
        self.key = key
        self.validators = validators
    }

    public func sign(_ message: [UInt8]) -> [UInt8] {
        // Signing with a loaded key only fails on memory exhaustion; a replica cannot continue without signatures.
        guard let signature = try? key.sign(message) else { preconditionFailure("consensus signing failed") }
        return signature
    }

    public func verify(_ signature: [UInt8], by replica: ReplicaID, for message: [UInt8]) -> Bool {
        validators.indices.contains(replica) && validators[replica].isValidSignature(signature, for: message)
    }
}
