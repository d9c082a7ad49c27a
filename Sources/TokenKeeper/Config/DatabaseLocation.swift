import Foundation

/// What a database setting (`--db`, `TOKENKEEPER_DB`, `database.path`, `copy --to`) names: the
/// one place that tells a server's URL from an SQLite file's path.
///
/// A URL is `scheme://…` with an RFC 3986 scheme, in any case (`POSTGRES://` is a URL, never a
/// folder named `POSTGRES:`); anything else is a file path.
package enum DatabaseLocation {
    /// The schemes of a PostgreSQL server, compared without regard to case.
    package static let postgresSchemes: Set<String> = ["postgres", "postgresql"]

    /// Whether `text` is a URL rather than a file path.
    package static func isURL(_ text: String) -> Bool { scheme(of: text) != nil }

    /// Whether `text` is a PostgreSQL server's URL (`postgres://` or `postgresql://`, any case).
    package static func isPostgresURL(_ text: String) -> Bool {
        scheme(of: text).map { postgresSchemes.contains($0) } ?? false
    }

    /// The scheme of a `scheme://` URL, lowercased; nil for a file path.
    package static func scheme(of text: String) -> String? {
        guard let separator = text.range(of: "://") else { return nil }
        let scheme = text[..<separator.lowerBound]
        guard let first = scheme.unicodeScalars.first, first.isASCIILetter,
            scheme.unicodeScalars.allSatisfy({
                $0.isASCIILetter || ("0"..."9").contains($0) || "+-.".unicodeScalars.contains($0)
            })
        else { return nil }
        return scheme.lowercased()
    }

    /// Whether `text` is a URL that carries a password.
    package static func hasPassword(_ text: String) -> Bool {
        isURL(text) && URLComponents(string: text)?.password != nil
    }
}

extension Unicode.Scalar {
    fileprivate var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
}
