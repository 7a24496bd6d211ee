import Testing

/// Every integration test runs against the one real stack, and some stop PostgreSQL or kill gateways:
/// they run one after another, never beside each other.
@Suite(.serialized) struct IntegrationTests {}
