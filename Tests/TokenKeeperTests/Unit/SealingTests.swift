import Foundation
import Testing
import TokenKeeper

@Suite struct SealingTests {
    let token = "EAAGm0PX4ZCpsBAKZBZCexampletokenvalue1234567890"

    @Test func sealedTokenOpensWithSameKeyAndId() throws {
        let sealer = TokenSealer(masterKey: .generate())
        let sealed = try sealer.seal(token, id: "tk_1")
        #expect(try sealer.open(sealed, id: "tk_1") == token)
        // Version byte and key id, nonce, ciphertext, tag.
        #expect(sealed.count == 9 + 12 + token.utf8.count + 16)
        #expect(TokenSealer.keyID(ofSealed: sealed) == sealer.keyring.currentID)
        #expect(!String(decoding: sealed, as: UTF8.self).contains("EAAG"))
    }

    @Test func sealingTwiceGivesDifferentCiphertexts() throws {
        let sealer = TokenSealer(masterKey: .generate())
        #expect(try sealer.seal(token, id: "tk_1") != sealer.seal(token, id: "tk_1"))
    }

    @Test func sealedTokenMovedToAnotherRowDoesNotOpen() throws {
        let sealer = TokenSealer(masterKey: .generate())
        let sealed = try sealer.seal(token, id: "tk_1")
        #expect(throws: TokenKeeperError.self) { try sealer.open(sealed, id: "tk_2") }
    }

    @Test func wrongKeyDoesNotOpenAndSaysSo() throws {
        let sealed = try TokenSealer(masterKey: .generate()).seal(token, id: "tk_1")
        let other = TokenSealer(masterKey: .generate())
        #expect {
            try other.open(sealed, id: "tk_1")
        } throws: { error in
            let error = error as? TokenKeeperError
            return error?.code == .wrongKey && error?.code.exitCode == 74 && !error!.message.contains(token)
        }
    }

    @Test func tamperedCiphertextDoesNotOpen() throws {
        let sealer = TokenSealer(masterKey: .generate())
        var sealed = try sealer.seal(token, id: "tk_1")
        sealed[20] ^= 0x01
        #expect(throws: TokenKeeperError.self) { try sealer.open(sealed, id: "tk_1") }
    }

    @Test func fingerprintIsStablePerKeyAndDiffersAcrossKeys() throws {
        let key = MasterKey.generate()
        let first = TokenSealer(masterKey: key)
        let again = TokenSealer(masterKey: key)
        let other = TokenSealer(masterKey: .generate())
        #expect(first.fingerprint(token) == again.fingerprint(token))
        #expect(first.fingerprint(token).count == 16)
        #expect(first.fingerprint(token).allSatisfy { $0.isHexDigit })
        #expect(first.fingerprint(token) != first.fingerprint(token + "x"))
        #expect(first.fingerprint(token) != other.fingerprint(token))
        #expect(first.keyCheck == again.keyCheck)
        #expect(first.keyCheck != other.keyCheck)
    }

    @Test func masterKeyMustBeBase64OfThirtyTwoBytes() {
        let short = Data(repeating: 7, count: 16).base64EncodedString()
        for text in [short, "not base64!", ""] {
            #expect(throws: TokenKeeperError.self) { try MasterKey(base64: text, source: .environment) }
        }
        #expect(throws: Never.self) {
            try MasterKey(base64: Data(repeating: 7, count: 32).base64EncodedString(), source: .environment)
        }
    }
}
