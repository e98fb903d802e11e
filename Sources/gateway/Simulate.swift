import ArgumentParser
import GatewayChain
import GatewaySimulation

extension AdversaryStrategy: ExpressibleByArgument {}
extension PlantedBug: ExpressibleByArgument {}

struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the consensus replicas under a seeded, deterministic fault scheduler and check safety and liveness.",
        discussion: """
            One seed fixes everything: fault rates (drop, duplicate, delay, partitions, crashes with loss of unpersisted \
            state, clock skew), their timing, the load and the Byzantine replica's lies, so a run replays exactly. \
            After --ticks of chaos come 1,500 ticks where only the run's aimed strategy disturbs a reliable network \
            (runs with a Byzantine replica), then the network heals and crashed replicas restart; every honest replica \
            must then commit new blocks within --heal-ticks. A failure prints its seed and the first violated property and exits 1. \
            Several seeds: --seed S --count K runs seeds S…S+K−1.

            The aimed strategy is the seed's by default (seed mod 5, in the order of --strategy's values), so five \
            consecutive seeds cover them all.

            --planted-bug switches on one known consensus bug (the values below) in every simulated replica: mutation \
            testing, the run is expected to FAIL, naming the property the bug breaks. A node never runs with one. \
            --outcome-checks-only shows what the bug breaks without the checks of each honest vote against the rules.
            """
    )

    @Option(help: "Seed of the run (the first one with --count).")
    var seed: UInt64 = 1

    @Option(help: "Number of consecutive seeds to run.")
    var count: Int = 1

    @Option(help: "Ticks of the chaotic phase.")
    var ticks: UInt64 = 2_000

    @Option(help: "Ticks after healing within which every honest replica must make progress.")
    var healTicks: UInt64 = 3_000

    @Option(help: "Number of validators (n = 3f + 1 tolerates f faults).")
    var validators: Int = 4

    @Flag(help: "Run without the Byzantine replica.")
    var honestOnly = false

    @Option(help: "Aimed Byzantine strategy for every seed (default: the seed's own, seed mod 5).")
    var strategy: AdversaryStrategy?

    @Option(help: "Plant one known consensus bug in the simulated replicas (see above); the run should fail.")
    var plantedBug: PlantedBug?

    @Flag(
        help:
            "Check outcomes only (a fork, two certified blocks in a round, a certified block not extending a commit), not each honest vote against the voting rules."
    )
    var outcomeChecksOnly = false

    func validate() throws {
        guard (1...64).contains(validators) else { throw ValidationError("--validators must be 1…64") }
        guard (1...1_000_000).contains(count) else { throw ValidationError("--count must be 1…1000000") }
        guard ticks <= 10_000_000, healTicks <= 10_000_000 else { throw ValidationError("--ticks and --heal-ticks must be at most 10000000") }
    }

    func run() throws {
        var failures = 0
        for offset in 0..<UInt64(count) {
            var simulation = Simulation(
                seed: seed &+ offset, replicas: validators, ticks: ticks, healTicks: healTicks, byzantine: !honestOnly, strategy: strategy,
                plantedBug: plantedBug)
            simulation.ruleChecks = !outcomeChecksOnly
            let report = simulation.run()
            say(report.summary)
            if !report.passed { failures += 1 }
        }
        if count > 1 { say("\(count - failures) of \(count) seeds passed") }
        if failures > 0 { throw ExitCode.negative }
    }
}
