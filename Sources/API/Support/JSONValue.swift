import Models

/// The API writes its hand-built bodies (NGSI-LD entities, subject access exports) with the shared JSON document type.
typealias JSONValue = JSON
