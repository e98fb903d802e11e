// Measures DataGateway's crypto for bench/paillier; prints one JSON object on stdout. Progress goes to stderr.
// Usage: gateway-bench paillier [bits] [encryptions] [sum-count]   |   gateway-bench signatures [seconds]
import Foundation
import GatewayCrypto

func progress(_ message: String) { FileHandle.standardError.write(Data(("[bench] " + message + "\n").utf8)) }

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// Best of `rounds` timings: on a noisy machine the fastest run is the one least disturbed. The reference side
/// (bench/paillier_reference.py) takes its best of the same number of rounds.
func best(_ rounds: Int = 3, _ body: () throws -> Void) rethrows -> Double {
    var fastest = Double.infinity
    for _ in 0..<rounds { fastest = min(fastest, try seconds(body)) }
    return fastest
}

func emit(_ object: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}

/// The sum benchmark's inputs: c₀ = 3, cᵢ₊₁ = cᵢ² mod n² (every unit mod n² is a valid ciphertext); the
/// reference computes the same sequence, so both sums can be compared.
func sumSequence(count: Int, nSquared: GMPInteger) -> [PaillierCiphertext] {
    var x = GMPInteger(3)
    var out: [PaillierCiphertext] = []
    out.reserveCapacity(count)
    for _ in 0..<count {
        x = x.multiplied(by: x, modulo: nSquared)
        out.append(PaillierCiphertext(value: x))
    }
    return out
}

func paillier(bits: Int, encryptions: Int, sumCount: Int) throws {
    var result: [String: Any] = ["bits": bits, "cores": ProcessInfo.processInfo.activeProcessorCount]
    progress("key generation ×5 (\(bits) bits)")
    var key: PaillierPrivateKey? = nil
    let keygen = try seconds { for _ in 0..<5 { key = try PaillierPrivateKey.generate(bits: bits) } } / 5
    let sk = key!
    let pk = sk.publicKey
    result["keygen_s"] = keygen
    result["n"] = pk.n.toString()
    result["p"] = sk.primes.p
    result["q"] = sk.primes.q

    progress("sustained encryption: \(encryptions) from a cold start (table + randomness included), all cores")
    let cores = ProcessInfo.processInfo.activeProcessorCount
    var encryptor: PaillierEncryptor? = nil
    let sustained = seconds {
        let e = PaillierEncryptor(publicKey: pk)
        encryptor = e
        let chunk = (encryptions + cores - 1) / cores
        DispatchQueue.concurrentPerform(iterations: cores) { worker in
            for i in (worker * chunk)..<min(encryptions, (worker + 1) * chunk) { _ = try! e.encrypt(i) }
        }
    }
    result["encrypt_per_s"] = Double(encryptions) / sustained
    progress("sustained encryption, one core: \(encryptions / 4) from a cold start")
    let single = try seconds {
        let e = PaillierEncryptor(publicKey: pk)
        for i in 0..<(encryptions / 4) { _ = try e.encrypt(i) }
    }
    result["encrypt_per_s_1core"] = Double(encryptions / 4) / single
    progress("plain rⁿ encryption (the reference implementation), one core")
    let plain = try seconds { for i in 0..<200 { _ = try pk.encrypt(i) } }
    result["encrypt_plain_per_s_1core"] = 200 / plain

    progress("online encryption latency with a warm pool")
    let pool = RandomnessPool(encryptor: encryptor!, capacity: 5_000)
    pool.fill()
    let online = try seconds { for i in 0..<5_000 { _ = try encryptor!.encrypt(i, pool: pool) } }
    result["encrypt_online_us"] = online / 5_000 * 1e6

    progress("decryption")
    let ciphertexts = try (0..<400).map { try encryptor!.encrypt($0 * 1_000 - 200_000) }
    let decrypt = try best { for c in ciphertexts { _ = try sk.decrypt(c) } }
    result["decrypt_per_s"] = 400 / decrypt

    progress("homomorphic addition")
    let adds = 200_000
    let addTime = best {
        var acc = ciphertexts[0]
        for i in 0..<adds { acc = pk.add(acc, ciphertexts[i % ciphertexts.count]) }
        precondition(acc.value.signum > 0)
    }
    result["add_per_s"] = Double(adds) / addTime

    progress("sum of \(sumCount) ciphertexts")
    let sequence = sumSequence(count: sumCount, nSquared: pk.nSquared)
    var total = PaillierCiphertext(value: GMPInteger(1))
    let sumTime = best { total = pk.sum(sequence) }
    result["sum_s"] = sumTime
    result["sum_residue"] = try sk.decryptResidue(total).toString()

    progress("threshold 3-of-5: dealing with safe primes (\(bits) bits), partial decryption, combination")
    var scheme: ThresholdPaillier? = nil
    var shares: [ThresholdPaillier.KeyShare] = []
    let deal = try seconds { (scheme, shares) = try ThresholdPaillier.deal(bits: bits, threshold: 3, parties: 5, progress: progress) }
    result["threshold_deal_s"] = deal
    let c = try scheme!.publicKey.encrypt(123_456)
    var partials: [ThresholdPaillier.PartialDecryption] = []
    let partialTime = try seconds { for i in 0..<20 { partials.append(try scheme!.partialDecrypt(c, share: shares[i % 5])) } }
    result["threshold_partial_per_s"] = 20 / partialTime
    let chosen = Array(partials.prefix(3))
    var combined = GMPInteger(0)
    let combineTime = try seconds { for _ in 0..<10 { combined = try scheme!.combine(chosen, for: c) } }
    precondition(combined == GMPInteger(123_456), "threshold combination gave the wrong plaintext")
    result["threshold_combine_per_s"] = 10 / combineTime
    emit(result)
}

func signatures(duration: Double) throws {
    var result: [String: Any] = [:]
    let suites: [(String, any CryptoSuite, () -> any SigningKey)] = [
        ("sm2", NationalSuite(), { NationalSuite().generateSigningKey() }),
        ("ed25519", InternationalSuite(), { InternationalSuite().generateSigningKey() }),
        ("p256", InternationalSuite(), { InternationalSuite().generateP256SigningKey() }),
    ]
    let message = [UInt8](repeating: 0x42, count: 64)
    for (name, _, make) in suites {
        let key = make()
        var count = 0
        let signTime = try seconds {
            let end = DispatchTime.now().uptimeNanoseconds + UInt64(duration * 1e9)
            while DispatchTime.now().uptimeNanoseconds < end { _ = try key.sign(message); count += 1 }
        }
        result["\(name)_sign_per_s"] = Double(count) / signTime
        let signature = try key.sign(message)
        count = 0
        let verifyTime = seconds {
            let end = DispatchTime.now().uptimeNanoseconds + UInt64(duration * 1e9)
            while DispatchTime.now().uptimeNanoseconds < end { precondition(key.publicKey.isValidSignature(signature, for: message)); count += 1 }
        }
        result["\(name)_verify_per_s"] = Double(count) / verifyTime
        progress("\(name): \(Int(result["\(name)_sign_per_s"] as! Double)) sign/s, \(Int(result["\(name)_verify_per_s"] as! Double)) verify/s")
    }
    emit(result)
}

let arguments = CommandLine.arguments
switch arguments.dropFirst().first {
case "paillier":
    try paillier(
        bits: arguments.count > 2 ? Int(arguments[2])! : 2048,
        encryptions: arguments.count > 3 ? Int(arguments[3])! : 20_000,
        sumCount: arguments.count > 4 ? Int(arguments[4])! : 100_000
    )
case "signatures":
    try signatures(duration: arguments.count > 2 ? Double(arguments[2])! : 2)
default:
    FileHandle.standardError.write(Data("usage: gateway-bench paillier [bits] [encryptions] [sum-count] | gateway-bench signatures [seconds]\n".utf8))
    exit(2)
}
