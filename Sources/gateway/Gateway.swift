import Foundation
import ArgumentParser

@main
struct Gateway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "DataGateway: privacy-preserving data exchange between government departments, logged on a consortium chain.",
        version: "0.15.0 (TLS; consortium statistics)",
        subcommands: [
            Init.self, Serve.self, ClientCommand.self, Demo.self, Cluster.self, Governance.self, GrantCommand.self, PolicyCommand.self, Observe.self,
            Keys.self, VerifyProof.self,
            Simulate.self, RebuildDerived.self, Call.self, Backup.self, Restore.self,
        ]
    )

    /// A reader that goes away (`gateway … | head -1`) ends the command quietly: SIGPIPE is ignored, and a write to a
    /// closed pipe exits 0 (see `say`).
    static func main() async {
        signal(SIGPIPE, SIG_IGN)
        await main(nil)
    }
}
