import ArgumentParser

@main
struct Gateway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "DataGateway: privacy-preserving data exchange between government departments, logged on a consortium chain.",
        subcommands: [
            Serve.self, Demo.self, Cluster.self, Governance.self, GrantCommand.self, PolicyCommand.self, Observe.self, Keys.self, VerifyProof.self,
            Simulate.self, RebuildDerived.self,
        ]
    )
}
