import Dispatch
import Foundation

/// SIGTERM and SIGINT stop a node in every state. Before it serves (probing, generating keys, assembling) a signal
/// ends the process at once: nothing has been acknowledged, and every file it writes is written whole or not at all.
/// Once it serves, the service group shuts down gracefully (it stops accepting requests and commits what it
/// acknowledged); if that has not finished within the deadline — a database or a peer that stopped answering
/// mid-shutdown — the process says so and exits 1. A second signal exits at once.
final class ShutdownDeadline: @unchecked Sendable {
    let seconds: Int
    let lock = NSLock()
    var serving = false
    var signalled = false
    var sources: [any DispatchSourceSignal] = []

    init(seconds: Int) {
        self.seconds = seconds
        for number in [SIGTERM, SIGINT] {
            // Dispatch sources see a signal only while its default action is off; ServiceLifecycle's own sources for
            // the graceful shutdown receive it too.
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [unowned self] in self.received(number) }
            source.resume()
            sources.append(source)
        }
    }

    /// From now on a signal starts the graceful shutdown (and this deadline) instead of ending the process.
    func startServing() { lock.withLock { serving = true } }

    func received(_ number: Int32) {
        let name = number == SIGTERM ? "SIGTERM" : "SIGINT"
        let (serving, again) = lock.withLock { () -> (Bool, Bool) in
            defer { signalled = true }
            return (self.serving, signalled)
        }
        guard serving, !again else {
            note(serving ? "\(name) again: stopping now" : "\(name) before the node served anything: stopped")
            exit(128 + number)
        }
        let seconds = self.seconds
        DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(seconds)) {
            note(
                """
                the graceful shutdown did not finish within \(seconds) s (is the database or a peer not answering?); stopping now. \
                Every acknowledged write was committed before it was acknowledged.
                """)
            exit(1)
        }
    }
}
