import NIOConcurrencyHelpers
import PostgresNIO

/// Request nonces that survive a restart: a captured signed request cannot be replayed against a node that restarted
/// within the freshness window. A claim is committed with `synchronous_commit = off` (set for that statement's own
/// transaction by `set_config(…, true)`, so one round trip instead of four): every request that changes anything
/// commits synchronously afterwards, and PostgreSQL's log is sequential, so the nonce of any request whose effects
/// survived a crash survived it too.
///
/// Claims are grouped: while one group's statement is in flight, the claims that arrive wait, and when it is done the
/// first of them sends all of them in one statement (one round trip and one pooled connection for the group, instead
/// of one each) on its own task. Nothing waits for a group to fill, no task is started for it, and every claim returns
/// only after its own row is written, so the ordering argument above holds claim by claim. A sender whose task was
/// cancelled hands its group to the next of it instead of failing them.
package final class RequestNonceStore: Sendable {
    let database: Database
    private let state = NIOLockedValueBox(State())

    /// Claims in one statement at most (the rest wait for the next).
    package static let groupMax = 256

    /// What a waiting claim is told: its answer, or to send the group (itself first, then these).
    enum Turn {
        case answered(Bool)
        case send([Waiting])
    }

    struct Waiting: Sendable {
        let claim: Claim
        let turn: CheckedContinuation<Turn, any Error>
    }

    struct State {
        var sending = false
        var waiting: [Waiting] = []
        var statements = 0
    }

    /// Statements sent so far (each claims one group).
    package var statementsSent: Int { state.withLockedValue { $0.statements } }
    /// Claims waiting for the statement in flight to finish.
    package var waitingCount: Int { state.withLockedValue { $0.waiting.count } }

    package init(database: Database) { self.database = database }

    /// True if the nonce was unused (and is now claimed until `expiresS`), false if it was used before.
    package func claim(department: String, nonce: String, nowS: Int64, expiresS: Int64) async throws -> Bool {
        let claim = Claim(department: department, nonce: nonce, nowS: nowS, expiresS: expiresS)
        var others: [Waiting] = []
        let sendsNow = state.withLockedValue { state in
            guard !state.sending else { return false }
            state.sending = true
            return true
        }
        if !sendsNow {
            let turn = try await withCheckedThrowingContinuation { (turn: CheckedContinuation<Turn, any Error>) in
                let group: [Waiting]? = state.withLockedValue { state in
                    state.waiting.append(Waiting(claim: claim, turn: turn))
                    guard !state.sending else { return nil }
                    state.sending = true
                    return Self.nextGroupOrIdle(&state)
                }
                if let group { Self.handOver(group) }
            }
            switch turn {
            case .answered(let claimed): return claimed
            case .send(let group): others = group
            }
        }
        // This claim sends its group: itself first (the first of a nonce in a group is the one that can claim it).
        var seen: Set<Claim.Key> = [claim.key]
        var unique = [claim]
        for waiting in others where seen.insert(waiting.claim.key).inserted { unique.append(waiting.claim) }
        let outcome: Result<Set<Claim.Key>, any Error>
        do { outcome = .success(try await execute(unique)) } catch { outcome = .failure(error) }
        if let next = state.withLockedValue({ Self.nextGroupOrIdle(&$0) }) { Self.handOver(next) }
        switch outcome {
        case .success(var claimed):
            let mine = claimed.remove(claim.key) != nil
            for waiting in others { waiting.turn.resume(returning: .answered(claimed.remove(waiting.claim.key) != nil)) }
            return mine
        case .failure(let error):
            if Task.isCancelled, !others.isEmpty {
                // This claim's task was cancelled, not theirs: the first of them sends them.
                Self.handOver(others)
            } else {
                for waiting in others { waiting.turn.resume(throwing: error) }
            }
            throw error
        }
    }

    /// Tells the group's first claim to send the group.
    private static func handOver(_ group: [Waiting]) {
        group[0].turn.resume(returning: .send(Array(group.dropFirst())))
    }

    /// The next group to send, or nil (and nothing in flight any more) when none is waiting.
    private static func nextGroupOrIdle(_ state: inout State) -> [Waiting]? {
        guard !state.waiting.isEmpty else {
            state.sending = false
            return nil
        }
        let count = min(groupMax, state.waiting.count)
        let group = Array(state.waiting.prefix(count))
        state.waiting.removeFirst(count)
        return group
    }

    /// Claims distinct pairs in one statement; returns those claimed.
    private func execute(_ claims: [Claim]) async throws -> Set<Claim.Key> {
        state.withLockedValue { $0.statements += 1 }
        var claimed = Set<Claim.Key>()
        for try await row in try await database.client.execute(Claims(claims), logger: database.logger) {
            claimed.insert(Claim.Key(department: row.0, nonce: row.1))
        }
        return claimed
    }

    package struct Claim: Sendable {
        struct Key: Hashable {
            let department: String
            let nonce: String
        }

        let department: String
        let nonce: String
        let nowS: Int64
        let expiresS: Int64
        var key: Key { Key(department: department, nonce: nonce) }

        package init(department: String, nonce: String, nowS: Int64, expiresS: Int64) {
            self.department = department
            self.nonce = nonce
            self.nowS = nowS
            self.expiresS = expiresS
        }
    }

    /// Claims distinct (department, nonce) pairs in one statement; returns the pairs claimed. A row already there is
    /// taken over only if its window had passed by the earliest claim's clock.
    package struct Claims: PostgresPreparedStatement {
        package typealias Row = (String, String)

        package static let sql = """
            WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true))
            INSERT INTO request_nonces (department, nonce, expires_s)
            SELECT d, n, e FROM relaxed, unnest($1::text[], $2::text[], $3::int8[]) AS claimed(d, n, e)
            ON CONFLICT (department, nonce) DO UPDATE SET expires_s = EXCLUDED.expires_s WHERE request_nonces.expires_s < $4
            RETURNING department, nonce
            """

        let claims: [Claim]

        package init(_ claims: [Claim]) { self.claims = claims }

        package func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 4)
            bindings.append(claims.map(\.department))
            bindings.append(claims.map(\.nonce))
            bindings.append(claims.map(\.expiresS))
            bindings.append(claims.map(\.nowS).min() ?? 0)
            return bindings
        }

        package func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode((String, String).self) }
    }

    /// Forgets nonces whose window has passed.
    package func purge(nowS: Int64) async throws {
        try await database.client.query("DELETE FROM request_nonces WHERE expires_s < \(nowS)", logger: database.logger)
    }
}
