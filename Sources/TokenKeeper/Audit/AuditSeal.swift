import Crypto
import Foundation

/// The chain's head sealed with an HMAC under a key derived from the master key
/// (<doc:Operations#The-audit-seal>).
///
/// The SHA-256 chain is public: anyone who can write the store can rewrite rows and recompute
/// every hash after them. The seal is not: it is `HMAC-SHA256(seq ‖ hash)` of the newest row
/// under a key derived from the current master key, written in the same transaction as every
/// append, so a rewritten, cut or extended chain no longer matches it, and only a holder of the
/// key can seal another head.
package struct AuditSeal: Sendable, Equatable, CustomStringConvertible {
    package var seq: Int64
    package var hash: String
    /// The master key whose derived key made `mac`.
    package var keyID: String
    package var mac: String

    /// The stored form, `SEQ:HASH:KEYID:MAC`.
    package var description: String { "\(seq):\(hash):\(keyID):\(mac)" }

    /// Reads the stored form; nil for anything else.
    package init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, let seq = Int64(parts[0]), seq >= 0, parts[1].count == 64, parts[2].count == 16,
            parts[3].count == 64
        else { return nil }
        self.init(seq: seq, hash: parts[1], keyID: parts[2], mac: parts[3])
    }

    init(seq: Int64, hash: String, keyID: String, mac: String) {
        self.seq = seq
        self.hash = hash
        self.keyID = keyID
        self.mac = mac
    }

    var tail: AuditLog.Tail { AuditLog.Tail(seq: seq, hash: hash) }

    static func code(_ tail: AuditLog.Tail, _ entry: Keyring.Entry) -> String {
        HMAC<SHA256>.authenticationCode(for: message(tail), using: entry.sealKey).hex
    }

    /// Whether `mac` is the code of `tail` under `entry`, compared in constant time.
    static func isValid(_ mac: String, _ tail: AuditLog.Tail, _ entry: Keyring.Entry) -> Bool {
        let digits = Array(mac.utf8)
        guard digits.count == 64 else { return false }
        var bytes = [UInt8]()
        bytes.reserveCapacity(32)
        for index in stride(from: 0, to: 64, by: 2) {
            guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else {
                return false
            }
            bytes.append(byte)
        }
        return HMAC<SHA256>.isValidAuthenticationCode(bytes, authenticating: message(tail), using: entry.sealKey)
    }

    private static func message(_ tail: AuditLog.Tail) -> Data { Data("\(tail.seq):\(tail.hash)".utf8) }
}

extension TokenSealer {
    /// `tail` sealed under the current key.
    package func sealHead(_ tail: AuditLog.Tail) -> AuditSeal {
        let current = keyring.current
        return AuditSeal(seq: tail.seq, hash: tail.hash, keyID: current.id, mac: AuditSeal.code(tail, current))
    }

    /// Whether `seal` was made by a key of the keyring; nil when its key is not in the keyring.
    package func verifies(_ seal: AuditSeal) -> Bool? {
        guard let entry = entry(id: seal.keyID) else { return nil }
        return AuditSeal.isValid(seal.mac, seal.tail, entry)
    }

    /// The seal a write transaction stores after moving the chain from `start` to `end`, or nil
    /// to leave `stored` as it is: a writer seals only a head it extended from a sealed one, so
    /// a chain that was rewritten, cut or extended without the key stays unmatched by its seal
    /// until `audit verify` reports it.
    package func nextSeal(stored: String?, from start: AuditLog.Tail, to end: AuditLog.Tail) -> String? {
        guard let stored, let seal = AuditSeal(stored), seal.tail == start, verifies(seal) == true else { return nil }
        return sealHead(end).description
    }
}

extension AuditLog {
    /// What the seal says of a chain that links.
    package enum SealCheck: Sendable, Equatable {
        /// The seal matches the chain's head under a key of the keyring.
        case matches(keyID: String)
        /// The seal is missing, forged, or does not match the head: why.
        case fails(String)
    }

    /// Checks `stored` (the store's seal) against the chain that ends at `head`, in which row
    /// `sealedHash` is the hash at the seal's seq (nil when the chain has no such row).
    static func checkSeal(
        _ stored: String?,
        head: Tail,
        hashAtSealedSeq sealedHash: String?,
        sealer: TokenSealer
    ) -> SealCheck {
        guard let stored else {
            return .fails("the chain's seal is missing: it was deleted, or rows were written without the key")
        }
        guard let seal = AuditSeal(stored) else { return .fails("the chain's seal is not a seal: it was altered") }
        switch sealer.verifies(seal) {
        case nil:
            return .fails("the chain is sealed under key \(seal.keyID), which is not in \(sealer.keyring.source)")
        case false?:
            return .fails("the chain's seal does not verify under key \(seal.keyID): it was forged or altered")
        case true?:
            break
        }
        if seal.seq > head.seq {
            return .fails(
                "the seal covers seq \(seal.seq) but the chain ends at seq \(head.seq): rows were cut from its end"
            )
        }
        if sealedHash != seal.hash {
            return .fails(
                "the row at the sealed seq \(seal.seq) no longer has the sealed hash: the chain was rewritten"
            )
        }
        if seal.seq < head.seq {
            return .fails(
                "rows \(seal.seq + 1)…\(head.seq) come after the sealed head: they were added without the key"
            )
        }
        return .matches(keyID: seal.keyID)
    }
}
