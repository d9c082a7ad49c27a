import Foundation

extension Inventory {
    /// Stores the token kept in the recovery file at `path` (`add --recover`), as the exchange
    /// that yielded it would have: a new record audited `exchanged`, or into the record it was
    /// to replace, with `source` "recovery". The file is deleted once the token is stored.
    ///
    /// A file whose details were edited does not open (they are the sealed value's associated
    /// data) and is refused (65); so is one with a field the format lacks. Every detail then
    /// passes the checks `add --code-stdin` makes before it spends a code: all a file from before
    /// the binding has (`note` hears that it was stored on those checks alone).
    package func recover(from path: String, note: (String) -> Void = { _ in }) throws -> TokenRecord {
        let sealer = try requireSealer()
        let file = try RecoveryFile.read(path)
        guard let sealed = Data(base64Encoded: file.sealed), let obtained = RFC3339.parse(file.obtainedAt) else {
            throw TokenKeeperError(.invalidInput, "\(path) is not a tokenkeeper recovery file")
        }
        let token: String
        do {
            token = try sealer.open(sealed, id: file.associatedData)
        } catch {
            // The key the value names is at hand, so the value is intact and the details it
            // was sealed with are not the file's.
            if let named = TokenSealer.keyID(ofSealed: sealed), sealer.entry(id: named) != nil {
                throw TokenKeeperError(
                    .invalidInput,
                    "the details in \(path) are not those its token was sealed with (the file was edited): "
                        + "nothing was stored; put back the file tokenkeeper wrote"
                )
            }
            throw TokenKeeperError(
                .wrongKey,
                "the token in \(path) does not open with this master key (it was sealed with the key of the database it came from)"
            )
        }
        let new: NewToken
        do {
            new = try checkExchanged(
                NewToken(
                    project: file.project,
                    label: file.label,
                    waba: file.waba,
                    businessManager: file.businessManager,
                    issuedAt: min(obtained, clock.now)
                ),
                replacing: file.replace
            )
        } catch let error as TokenKeeperError where [.usage, .invalidInput, .notFound].contains(error.code) {
            throw TokenKeeperError(
                error.code == .usage ? .invalidInput : error.code,
                "\(path) is refused, nothing was stored: \(error.message)"
            )
        }
        let record =
            if let id = file.replace {
                try replace(id: id, token: token, new, source: "recovery")
            } else {
                try add(token: token, new, event: .exchanged, source: "recovery")
            }
        unlink(path)
        if !file.detailsAreBound {
            note(
                "\(path) is from a version that did not bind its details to the token: they were checked as "
                    + "`add` checks them and stored as the file says (project \(record.projectID)"
                    + (file.replace.map { ", into \($0)" } ?? "") + ")"
            )
        }
        return record
    }
}
