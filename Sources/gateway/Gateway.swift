import Foundation
import ArgumentParser

@main
struct Gateway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "DataGateway: privacy-preserving data exchange between government departments, logged on a consortium chain.",
        discussion: """
            Exit codes, for every command: 0 done (a check passed, a request is allowed); 1 the command could not do its \
            work (a refusal from a node, an unreachable database, a file it cannot read or write: one sentence on \
            standard error says what to do next); 2 it did its work and the answer is no (`policy check` found errors, \
            `policy test` a failing case or an untested policy, `policy explain` a denial or an unmet expectation, \
            `verify-proof` an invalid proof, `audit verify` a problem in a node's history, `simulate` a seed that broke a safety property); 64 the command line does \
            not parse (the usage follows). Output to a closed pipe ends the command quietly with 0.
            """,
        version: "0.16.0 (TLS; gateway init, client, backup and restore)",
        subcommands: [
            Init.self, Serve.self, ClientCommand.self, Demo.self, Cluster.self, Governance.self, GrantCommand.self, PolicyCommand.self, Observe.self,
            Keys.self, VerifyProof.self, AuditCommand.self,
            Simulate.self, RebuildDerived.self, Call.self, Backup.self, Restore.self,
        ]
    )

    /// A reader that goes away (`gateway … | head -1`) ends the command quietly: SIGPIPE is ignored, and a write to a
    /// closed pipe exits 0 (see `say`).
    static func main() async {
        signal(SIGPIPE, SIG_IGN)
        do {
            var command = try parseAsRoot(nil)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: humane(error))
        }
    }

    /// A file-system error from Foundation, wherever a command let one through, as one sentence that names the path
    /// and says what to check — never `Error Domain=NSCocoaErrorDomain Code=…` with its user info.
    static func humane(_ error: any Error) -> any Error {
        guard !(error is CommandFailure) else { return error }
        let bridged = error as NSError
        guard bridged.domain == NSCocoaErrorDomain || bridged.domain == NSPOSIXErrorDomain else { return error }
        let path = (bridged.userInfo[NSFilePathErrorKey] as? String) ?? (bridged.userInfo[NSURLErrorKey] as? URL)?.path
        let underlying = (bridged.userInfo[NSUnderlyingErrorKey] as? any Error).map { $0 as NSError }
        let posix =
            underlying.flatMap { $0.domain == NSPOSIXErrorDomain ? Int32($0.code) : nil }
            ?? (bridged.domain == NSPOSIXErrorDomain ? Int32(bridged.code) : nil)
        let reason =
            posix.map { String(cString: strerror($0)).lowercased() }
            ?? bridged.localizedDescription.replacingOccurrences(of: "The operation could not be completed. ", with: "")
        return CommandFailure(
            "\(path.map { "\($0): " } ?? "")\(reason); check that the path exists and that this user may read and write there")
    }
}
