import Foundation
import Testing

@testable import TokenKeeper

/// `AuditSeal`'s stored form, `TokenSealer.nextSeal` (a writer seals only a head it extended from
/// a sealed one) and `AuditLog.checkSeal`'s reasons.
@Suite struct AuditSealTests {
    static func hex(_ character: Character, _ count: Int = 64) -> String { String(repeating: character, count: count) }

    let sealer = TokenSealer(masterKey: .generate())
    let start = AuditLog.Tail(seq: 3, hash: hex("a"))
    let end = AuditLog.Tail(seq: 5, hash: hex("b"))

    @Test func theStoredFormReadsBack() throws {
        let seal = sealer.sealHead(end)
        #expect(seal.description == "5:\(Self.hex("b")):\(sealer.keyring.current.id):\(seal.mac)")
        #expect(AuditSeal(seal.description) == seal)
        #expect(sealer.verifies(seal) == true)
    }

    static let notSeals: [String] = [
        "",
        "5:\(hex("b"))",
        "5:\(hex("b")):\(hex("c", 16))",
        "5:\(hex("b")):\(hex("c", 16)):\(hex("d")):",
        "-1:\(hex("b")):\(hex("c", 16)):\(hex("d"))",
        "x:\(hex("b")):\(hex("c", 16)):\(hex("d"))",
        "5:\(hex("b", 63)):\(hex("c", 16)):\(hex("d"))",
        "5:\(hex("b")):\(hex("c", 15)):\(hex("d"))",
        "5:\(hex("b")):\(hex("c", 16)):\(hex("d", 65))",
    ]

    @Test(arguments: notSeals)
    func anythingElseIsNotASeal(_ text: String) {
        #expect(AuditSeal(text) == nil)
    }

    @Test func theMACCoversTheSeqTheHashAndTheKey() throws {
        let seal = sealer.sealHead(end)
        #expect(sealer.sealHead(end) == seal)
        #expect(sealer.sealHead(AuditLog.Tail(seq: 6, hash: end.hash)).mac != seal.mac)
        #expect(sealer.sealHead(AuditLog.Tail(seq: 5, hash: Self.hex("c"))).mac != seal.mac)
        var moved = seal
        moved.seq = 4
        #expect(sealer.verifies(moved) == false)
        let other = TokenSealer(masterKey: .generate())
        #expect(other.verifies(seal) == nil, "another keyring has no key of that id")
    }

    @Test func aWriteFromTheSealedHeadSealsItsNewHead() throws {
        let stored = sealer.sealHead(start).description
        let next = try #require(sealer.nextSeal(stored: stored, from: start, to: end))
        #expect(next == sealer.sealHead(end).description)
        #expect(sealer.verifies(try #require(AuditSeal(next))) == true)
    }

    @Test func aSealOfTheOldKeySealsUnderTheNewOneAfterRotation() throws {
        let stored = sealer.sealHead(start).description
        let rotated = TokenSealer(keyring: sealer.keyring.rotated(at: UnixTime(seconds: 1_700_000_000)))
        let text = try #require(rotated.nextSeal(stored: stored, from: start, to: end))
        let next = try #require(AuditSeal(text))
        #expect(next.keyID == rotated.keyring.current.id && next.keyID != sealer.keyring.current.id)
        #expect(next.tail == end)
    }

    /// Whatever does not verify and cover exactly the tail the write started from is left alone.
    @Test func noSealUnlessTheStoredOneVerifiesAndCoversTheStart() {
        let valid = sealer.sealHead(start)
        var forged = valid
        forged.mac = String(valid.mac.reversed())
        let stored: [String?] = [
            nil,
            "not a seal",
            forged.description,
            TokenSealer(masterKey: .generate()).sealHead(start).description,
            sealer.sealHead(AuditLog.Tail(seq: 2, hash: start.hash)).description,
            sealer.sealHead(AuditLog.Tail(seq: 3, hash: Self.hex("c"))).description,
            sealer.sealHead(end).description,
        ]
        for text in stored {
            #expect(sealer.nextSeal(stored: text, from: start, to: end) == nil, "sealed after \(text ?? "nil")")
        }
    }

    @Test func checkSealNamesWhatIsWrong() {
        let head = AuditLog.Tail(seq: 5, hash: Self.hex("b"))
        let seal = sealer.sealHead(head).description
        func check(_ stored: String?, _ head: AuditLog.Tail, _ hash: String?) -> AuditLog.SealCheck {
            AuditLog.checkSeal(stored, head: head, hashAtSealedSeq: hash, sealer: sealer)
        }
        #expect(check(seal, head, head.hash) == .matches(keyID: sealer.keyring.current.id))
        let cases: [(AuditLog.SealCheck, String)] = [
            (check(nil, head, nil), "the chain's seal is missing"),
            (check("5:x", head, nil), "the chain's seal is not a seal"),
            (check(TokenSealer(masterKey: .generate()).sealHead(head).description, head, head.hash), "which is not in"),
            (check(seal, AuditLog.Tail(seq: 4, hash: Self.hex("c")), nil), "rows were cut from its end"),
            (check(seal, head, Self.hex("c")), "the chain was rewritten"),
            (check(seal, AuditLog.Tail(seq: 7, hash: Self.hex("c")), head.hash), "rows 6…7 come after the sealed head"),
        ]
        for (result, reason) in cases {
            guard case .fails(let text) = result else {
                Issue.record("\(reason): \(result)")
                continue
            }
            #expect(text.contains(reason), "\(text)")
        }
    }
}
