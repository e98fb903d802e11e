/// Bugs that can be planted in a replica, one at a time, to show that the simulator catches them (mutation testing of
/// the replica). Each is a known way to lose safety in the HotStuff family. Only the simulator sets
/// `Replica.Configuration.plantedBug` (it is `package`, so no node, CLI option or configuration file can); with it nil
/// — always, outside the simulator — every rule is the one documented on `Replica`.
package enum PlantedBug: String, Sendable, CaseIterable {
    /// Commit a block as soon as it has a QC (a 1-chain), instead of when its child in the next round does.
    case oneChainCommit
    /// Certificates (QCs and TCs) of 2f signatures instead of 2f + 1.
    case quorumOfTwoF
    /// Vote again in the round last voted or timed out in (`>=` instead of `>` against the last voted round).
    case revoteInSameRound
    /// No last-voted-round check at all.
    case noLastVotedRoundCheck
    /// 2-chain commit without the consecutive-round condition (a QC on B commits B's parent whatever their rounds).
    case commitWithoutConsecutiveRounds
    /// After a timeout, vote for a block carrying the TC without checking it extends the TC's highest QC.
    case voteIgnoresTimeoutHighQC
    /// After a timeout, a block need only extend the *lowest* QC reported in the TC (the lock taken too low).
    case lockOnLowestTimeoutQC
    /// After a crash and restart the last voted round is not restored from storage (the highest QC is).
    case lastVotedRoundNotRestored
    /// The highest-QC update takes any QC it processes, also one older than the highest it holds.
    case highQCRegresses
    /// Certificates count signatures instead of distinct signers (one signer repeated makes a quorum).
    case duplicateSignersCounted
    /// A timeout certificate forms (and validates) with 2f timeouts instead of 2f + 1; QCs keep 2f + 1.
    case timeoutCertificateOfTwoF
    /// Vote for a block whose parent the replica does not hold (so it cannot check the block extends a chain it knows).
    case voteWithUnknownParent
}
