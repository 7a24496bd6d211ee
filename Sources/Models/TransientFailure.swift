/// An error that says whether it goes away by itself (a database restarting, a broker away): the HTTP edge
/// answers 503 with a retry hint for those, without knowing which store or client raised it.
public protocol TransientFailure: Error {
    var isTransient: Bool { get }
}
