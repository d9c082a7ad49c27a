import Crypto
import Foundation

/// Seals tokens at rest and fingerprints them, all under one master key.
///
/// Sealing is AES-256-GCM with the token's id as associated data, so a sealed value moved to
/// another row does not open. Fingerprints are HMAC-SHA256 under a key derived with HKDF, so they
/// identify a token in the audit without revealing anything about it.
// SymmetricKey is immutable but not marked Sendable in swift-crypto 3.
package struct TokenSealer: @unchecked Sendable {
    private let sealingKey: SymmetricKey
    /// HMAC keyed once; each fingerprint updates a copy (the digest state is copy-on-write).
    private let fingerprintMAC: HMAC<SHA256>
    /// A value derived from the key and stored in the database, to detect a wrong key before writing.
    package let keyCheck: String

    package init(masterKey: MasterKey) {
        sealingKey = masterKey.key
        let fingerprintKey = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: masterKey.key,
            info: Data("tokenkeeper fingerprint v1".utf8),
            outputByteCount: 32
        )
        fingerprintMAC = HMAC<SHA256>(key: fingerprintKey)
        let checkKey = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: masterKey.key,
            info: Data("tokenkeeper key check v1".utf8),
            outputByteCount: 32
        )
        keyCheck = HMAC<SHA256>.authenticationCode(for: Data("tokenkeeper".utf8), using: checkKey).hex
    }

    /// Seals a token for the row `id`: nonce, ciphertext and tag in one blob.
    package func seal(_ token: String, id: String) throws -> Data {
        do {
            let box = try AES.GCM.seal(Data(token.utf8), using: sealingKey, authenticating: Data(id.utf8))
            guard let combined = box.combined else {
                throw TokenKeeperError(.database, "sealing produced no output")
            }
            return combined
        } catch let error as TokenKeeperError {
            throw error
        } catch {
            throw TokenKeeperError(.database, "cannot seal the token of \(id)")
        }
    }

    /// Opens the sealed token of row `id`.
    ///
    /// swift-crypto on Linux reports a failed open as a BoringSSL error rather than
    /// `.authenticationFailure`, so every failure is reported the same way.
    package func open(_ sealed: Data, id: String) throws -> String {
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            let plain = try AES.GCM.open(box, using: sealingKey, authenticating: Data(id.utf8))
            guard let token = String(data: plain, encoding: .utf8) else { throw CryptoKitError.incorrectParameterSize }
            return token
        } catch {
            throw TokenKeeperError(
                .wrongKey,
                "the sealed token of \(id) does not open with this master key (wrong key, or the row was altered)"
            )
        }
    }

    /// The first 16 hex digits of HMAC-SHA256(token) under the derived fingerprint key.
    package func fingerprint(_ token: String) -> String {
        var mac = fingerprintMAC
        mac.update(data: Data(token.utf8))
        return String(mac.finalize().hex.prefix(16))
    }
}

extension Sequence where Element == UInt8 {
    /// Lowercase hexadecimal.
    var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension HashedAuthenticationCode {
    var hex: String { withUnsafeBytes { Array($0).hex } }
}

extension Digest {
    var hex: String { withUnsafeBytes { Array($0).hex } }
}
