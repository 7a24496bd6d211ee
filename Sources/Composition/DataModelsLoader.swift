import Foundation
import Ingest
import Models

/// The catalogue and the vendor mappings in `DataModels/`, loaded as the gateway loads them; the benchmarks load
/// the same.
public enum DataModelsLoader {
    /// A catalogue that does not load stops the caller, with every problem named by file, entry and field.
    /// `path`: the directory (`--data-models`); nil: `CIP_DATA_MODELS`, `./DataModels` or next to the binary.
    public static func catalogue(at path: String?) throws -> Catalogue {
        do {
            if let path { return try Catalogue.load(from: URL(fileURLWithPath: path)) }
            return try Catalogue.loadDefault()
        } catch {
            throw StartupError(description: "the catalogue in DataModels/ does not load:\n\(error.description)")
        }
    }

    /// The adapters over `catalogue`, with the vendor mappings in `DataModels/mappings`.
    public static func normalizer(_ catalogue: Catalogue, at path: String?) throws -> CatalogueNormalizer {
        let directory = path.map { URL(fileURLWithPath: $0) } ?? Catalogue.locateDataModels()
        guard let directory else { throw StartupError(description: "DataModels/ not found") }
        do {
            let mappings = try VendorMapping.loadAll(from: directory.appendingPathComponent("mappings"))
            return try CatalogueNormalizer(catalogue: catalogue, mappings: mappings)
        } catch {
            throw StartupError(description: "the vendor mappings in DataModels/mappings do not load:\n\(error)")
        }
    }

    /// Both: the normalizer, whose `catalogue` is the catalogue.
    public static func normalizer(at path: String?) throws -> CatalogueNormalizer {
        try normalizer(try catalogue(at: path), at: path)
    }
}
