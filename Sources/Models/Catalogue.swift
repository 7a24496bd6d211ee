import Foundation

/// The city's master/metadata catalogue: what every quantity, event, alarm outcome and device
/// type means, loaded from the JSON files in the `DataModels` directory.
///
/// Arrays keep file order (device types sorted by file name); lookups by id are O(1).
public struct Catalogue: Sendable, Equatable {
    /// The only catalogue file format version this code understands.
    public static let supportedVersion = 1

    public let quantities: [Quantity]
    public let events: [EventCode]
    public let outcomes: [Outcome]
    public let deviceTypes: [DeviceType]
    /// SCAIP message → event, in order (`catalogue/scaip.json`).
    public let scaipRules: [SCAIPRule]

    private let quantityIndex: [String: Int]
    private let eventIndex: [String: Int]
    private let outcomeIndex: [String: Int]
    private let deviceTypeIndex: [String: Int]

    /// Builds a catalogue from values without validating them (use ``load(from:)`` for the
    /// validated files). When an id occurs twice, lookups return the first.
    public init(quantities: [Quantity], events: [EventCode], outcomes: [Outcome], deviceTypes: [DeviceType],
                scaipRules: [SCAIPRule] = []) {
        self.quantities = quantities
        self.events = events
        self.outcomes = outcomes
        self.deviceTypes = deviceTypes
        self.scaipRules = scaipRules
        quantityIndex = Self.index(quantities.map(\.id))
        eventIndex = Self.index(events.map(\.id))
        outcomeIndex = Self.index(outcomes.map(\.id))
        deviceTypeIndex = Self.index(deviceTypes.map(\.id))
    }

    private static func index(_ ids: [String]) -> [String: Int] {
        Dictionary(ids.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    }

    // MARK: Lookups

    public func quantity(_ id: String) -> Quantity? {
        quantityIndex[id].map { quantities[$0] }
    }

    public func event(_ id: String) -> EventCode? {
        eventIndex[id].map { events[$0] }
    }

    public func outcome(_ id: String) -> Outcome? {
        outcomeIndex[id].map { outcomes[$0] }
    }

    public func deviceType(_ id: String) -> DeviceType? {
        deviceTypeIndex[id].map { deviceTypes[$0] }
    }

    /// The first SCAIP rule that matches a message's codes.
    public func scaipRule(messageType: String, deviceType: String?, statusCode: String?) -> SCAIPRule? {
        scaipRules.first { $0.matches(messageType: messageType, deviceType: deviceType, statusCode: statusCode) }
    }

    /// The quantities a device type may produce, in the device type's order (unknown ids skipped).
    public func quantities(of deviceType: DeviceType) -> [Quantity] {
        deviceType.quantities.compactMap { quantity($0) }
    }

    /// The events a device type may produce, in the device type's order (unknown ids skipped).
    public func events(of deviceType: DeviceType) -> [EventCode] {
        deviceType.events.compactMap { event($0) }
    }

    // MARK: Loading

    /// Loads and validates a DataModels directory: `catalogue/quantities.json`,
    /// `catalogue/events.json`, `catalogue/scaip.json` (optional) and every `device-types/*.json` (sorted by file name; hidden files
    /// and files not ending in `.json` are ignored).
    ///
    /// All problems are collected; the error lists each with file, entry and field, with file
    /// paths starting at the directory's own name (`DataModels/catalogue/quantities.json`).
    public static func load(from directory: URL) throws(CatalogueError) -> Catalogue {
        try CatalogueLoader(directory: directory).load()
    }

    /// Loads the catalogue found by ``locateDataModels()``.
    public static func loadDefault() throws(CatalogueError) -> Catalogue {
        guard let directory = locateDataModels() else {
            throw CatalogueError(CatalogueError.Issue(
                file: "DataModels",
                message: "directory not found: set CIP_DATA_MODELS, or run from a directory that contains DataModels/"))
        }
        return try load(from: directory)
    }

    // MARK: Locating

    /// The environment variable that names the DataModels directory explicitly.
    public static let environmentVariable = "CIP_DATA_MODELS"

    /// Finds the DataModels directory:
    /// 1. `$CIP_DATA_MODELS` if set and non-empty (relative paths are taken from the current
    ///    directory); returned even if it does not exist, so that an explicit setting is never
    ///    silently replaced by another catalogue and loading reports what is missing;
    /// 2. `./DataModels`, if it holds `catalogue/quantities.json`;
    /// 3. walking up from the executable's directory (the directory itself and up to 6 levels
    ///    above it), the first `DataModels/catalogue/quantities.json` found.
    public static func locateDataModels() -> URL? {
        var executables: [URL] = []
        if let url = Bundle.main.executableURL { executables.append(url) }
        if let first = CommandLine.arguments.first, !first.isEmpty { executables.append(URL(fileURLWithPath: first)) }
        return locateDataModels(
            environment: ProcessInfo.processInfo.environment,
            currentDirectory: URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true),
            executables: executables)
    }

    /// ``locateDataModels()`` with its inputs spelled out (for tests and tools).
    public static func locateDataModels(
        environment: [String: String], currentDirectory: URL, executables: [URL]
    ) -> URL? {
        if let explicit = environment[environmentVariable], !explicit.isEmpty {
            let url = explicit.hasPrefix("/")
                ? URL(fileURLWithPath: explicit, isDirectory: true)
                : currentDirectory.appendingPathComponent(explicit, isDirectory: true)
            return url.standardizedFileURL
        }
        let local = currentDirectory.appendingPathComponent("DataModels", isDirectory: true)
        if isDataModels(local) { return local.standardizedFileURL }
        for executable in executables {
            let absolute = executable.path.hasPrefix("/")
                ? executable
                : currentDirectory.appendingPathComponent(executable.path)
            var directory = absolute.resolvingSymlinksInPath().deletingLastPathComponent()
            for _ in 0...6 {
                let candidate = directory.appendingPathComponent("DataModels", isDirectory: true)
                if isDataModels(candidate) { return candidate.standardizedFileURL }
                let parent = directory.deletingLastPathComponent()
                if parent.path == directory.path { break }
                directory = parent
            }
        }
        return nil
    }

    private static func isDataModels(_ directory: URL) -> Bool {
        FileManager.default.fileExists(
            atPath: directory.appendingPathComponent(CatalogueLoader.quantitiesPath).path)
    }
}
