import API
import Alarms
import ArgumentParser
import Foundation
import Ingest
import Locks
import Logging
import MQTT
import NGSILD
import Models
import Registry
import Retention

private let environment = ProcessInfo.processInfo.environment

/// Where the gateway finds PostgreSQL. Defaults match `Gateway/stack up`.
public struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "libpq connection string or URI (env DATABASE_URL).")
    public var url: String = environment["DATABASE_URL"] ?? "postgresql://cip:cip@127.0.0.1:54329/cip"

    public init() {}
}

/// Where the gateway finds the broker.
public struct BrokerOptions: ParsableArguments {
    @Option(name: .customLong("mqtt-url"), help: "mqtt://host:port (env MQTT_URL).")
    public var url: String = environment["MQTT_URL"] ?? "mqtt://127.0.0.1:18830"

    @Option(name: .customLong("mqtt-username"), help: "Broker user name (env MQTT_USERNAME).")
    public var username: String? = environment["MQTT_USERNAME"]

    @Option(name: .customLong("mqtt-password"), help: "Broker password (env MQTT_PASSWORD).")
    public var password: String? = environment["MQTT_PASSWORD"]

    @Option(name: .customLong("mqtt-ca-file"),
            help: "For mqtts://: the CA certificate (PEM) that signed the broker's certificate; default the system's trust store (env MQTT_CA_FILE).")
    public var caFile: String? = environment["MQTT_CA_FILE"]

    @Option(name: .customLong("mqtt-cert-file"),
            help: "For mqtts://: a client certificate (PEM), for a listener that asks for one (env MQTT_CERT_FILE).")
    public var certificateFile: String? = environment["MQTT_CERT_FILE"]

    @Option(name: .customLong("mqtt-key-file"), help: "For mqtts://: the client certificate's key (PEM) (env MQTT_KEY_FILE).")
    public var keyFile: String? = environment["MQTT_KEY_FILE"]

    public init() {}

    public func parsedURL() throws -> MQTTURL {
        let parsed: MQTTURL
        do { parsed = try MQTTURL(parsing: url) } catch { throw ValidationError(error.description) }
        // TLS files with a plain URL would be ignored: the operator meant TLS and would get clear text.
        if !parsed.tls, caFile != nil || certificateFile != nil || keyFile != nil {
            throw ValidationError("--mqtt-ca-file, --mqtt-cert-file and --mqtt-key-file need an mqtts:// URL (the URL is \(parsed))")
        }
        return parsed
    }

    /// The client id is put in the account's namespace (`ClientIDNamespace`: `<user>/<id>`), as the broker requires.
    public func configuration(clientID: String, cleanSession: Bool) throws -> MQTTClient.Configuration {
        var configuration = MQTTClient.Configuration(url: try parsedURL(), clientID: ClientIDNamespace.qualify(clientID, for: username),
                                                     cleanSession: cleanSession, username: username, password: password)
        configuration.tls = .init(caFile: caFile, certificateFile: certificateFile, keyFile: keyFile)
        return configuration
    }

    /// For tools that publish as devices (simulate, bench): the trusted bridge account of the local stack
    /// (env MQTT_BRIDGE_USERNAME / MQTT_BRIDGE_PASSWORD), else the account above.
    public func bridgeConfiguration(clientID: String) throws -> MQTTClient.Configuration {
        var configuration = try configuration(clientID: clientID, cleanSession: true)
        if let bridge = environment["MQTT_BRIDGE_USERNAME"] {
            configuration.username = bridge
            configuration.password = environment["MQTT_BRIDGE_PASSWORD"]
            configuration.clientID = ClientIDNamespace.qualify(clientID, for: bridge)
        }
        return configuration
    }
}

/// The device CA (`serve`): devices may claim and renew with a CSR, and the broker's certificate listener checks
/// the CRL the gateway writes. Off unless both CA files are given.
public struct DeviceCAOptions: ParsableArguments {
    @Option(name: .customLong("device-ca-cert"), help: "The device CA's certificate (PEM) (env CIP_DEVICE_CA_CERT).")
    public var certificateFile: String? = environment["CIP_DEVICE_CA_CERT"]

    @Option(name: .customLong("device-ca-key"), help: "The device CA's private key (PEM, unencrypted; keep it readable by the gateway only) (env CIP_DEVICE_CA_KEY).")
    public var keyFile: String? = environment["CIP_DEVICE_CA_KEY"]

    @Option(name: .customLong("device-crl-file"), help: "Where the CRL goes: the broker's crlfile (env CIP_DEVICE_CRL_FILE).")
    public var revocationListFile: String? = environment["CIP_DEVICE_CRL_FILE"]

    @Option(name: .customLong("broker-pid-file"),
            help: "The broker's pid file, to make it reload the CRL (SIGHUP) after each change; leave out when the broker runs elsewhere (env CIP_BROKER_PID_FILE).")
    public var brokerPidFile: String? = environment["CIP_BROKER_PID_FILE"]

    @Option(name: .customLong("device-certificate-days"), help: "Days an issued device certificate is valid, 1 to 3650 (env CIP_DEVICE_CERTIFICATE_DAYS).")
    public var validityDays: Int = environment["CIP_DEVICE_CERTIFICATE_DAYS"].flatMap { Int($0) } ?? 365

    public init() {}

    /// Nil when no CA is configured. A CA without a CRL file is refused: the gateway would issue certificates
    /// that no suspension or decommissioning could take back.
    public func configuration() throws -> DeviceCertificates.Configuration? {
        guard certificateFile != nil || keyFile != nil || revocationListFile != nil || brokerPidFile != nil else { return nil }
        guard let certificateFile, let keyFile else {
            throw ValidationError("--device-ca-cert and --device-ca-key go together")
        }
        guard let revocationListFile else {
            throw ValidationError("--device-ca-cert needs --device-crl-file: without a CRL the broker cannot refuse a suspended or decommissioned device's certificate")
        }
        var configuration = DeviceCertificates.Configuration(certificateFile: certificateFile, keyFile: keyFile,
                                                             revocationListFile: revocationListFile, brokerPidFile: brokerPidFile)
        configuration.validityDays = validityDays
        return configuration
    }
}

/// HTTPS served by the gateway itself (`serve`).
public struct HTTPSOptions: ParsableArguments {
    @Option(name: .customLong("tls-cert-file"), help: "Serve HTTPS with this certificate chain (PEM) (env CIP_TLS_CERT_FILE).")
    public var certificateFile: String? = environment["CIP_TLS_CERT_FILE"]

    @Option(name: .customLong("tls-key-file"), help: "The HTTPS certificate's private key (PEM) (env CIP_TLS_KEY_FILE).")
    public var keyFile: String? = environment["CIP_TLS_KEY_FILE"]

    public init() {}

    public func files() throws -> HTTPSFiles? {
        switch (certificateFile, keyFile) {
        case (nil, nil): return nil
        case (let certificate?, let key?):
            for file in [certificate, key] where !FileManager.default.isReadableFile(atPath: file) {
                throw ValidationError("cannot read \(file)")
            }
            return HTTPSFiles(certificateFile: certificate, keyFile: key)
        default: throw ValidationError("--tls-cert-file and --tls-key-file go together")
        }
    }
}

/// Alarm visits: how long a responder's lock grants last (`serve`).
public struct AlarmVisitOptions: ParsableArguments {
    @Option(name: .customLong("alarm-visit-margin"),
            help: "Seconds a responder may still open the care recipient's locks after the alarm is resolved (env CIP_ALARM_VISIT_MARGIN).")
    public var marginSeconds: Int = environment["CIP_ALARM_VISIT_MARGIN"].flatMap { Int($0) } ?? 900

    @Option(name: .customLong("alarm-visit-cap"),
            help: "Seconds a responder's lock grant lasts at most, resolved or not (env CIP_ALARM_VISIT_CAP).")
    public var capSeconds: Int = environment["CIP_ALARM_VISIT_CAP"].flatMap { Int($0) } ?? 43_200

    public init() {}

    /// Range-checked (a margin of days or a cap of a year would be a door left open).
    public func times() throws -> AlarmVisitTimes {
        guard (0...86_400).contains(marginSeconds) else {
            throw ValidationError("--alarm-visit-margin \(marginSeconds): expected 0 to 86400 seconds")
        }
        guard (60...7 * 86_400).contains(capSeconds) else {
            throw ValidationError("--alarm-visit-cap \(capSeconds): expected 60 to 604800 seconds")
        }
        return AlarmVisitTimes(capMicros: Int64(capSeconds) * 1_000_000, marginMicros: Int64(marginSeconds) * 1_000_000)
    }
}

/// Grant lists for locks that decide offline (`serve`).
public struct GrantListOptions: ParsableArguments {
    @Option(name: .customLong("grant-list-interval"),
            help: "Seconds between two rounds that publish changed grant lists to locks (env CIP_GRANT_LIST_INTERVAL).")
    public var intervalSeconds: Int = environment["CIP_GRANT_LIST_INTERVAL"].flatMap { Int($0) } ?? 60

    @Option(name: .customLong("grant-list-horizon-days"),
            help: "Days ahead a lock's grant list reaches (env CIP_GRANT_LIST_HORIZON_DAYS).")
    public var horizonDays: Int = environment["CIP_GRANT_LIST_HORIZON_DAYS"].flatMap { Int($0) } ?? 7

    @Option(name: .customLong("grant-list-stale-after"),
            help: "Seconds after publishing until a lock that has not confirmed its list counts as stale (env CIP_GRANT_LIST_STALE_AFTER).")
    public var staleAfterSeconds: Int = environment["CIP_GRANT_LIST_STALE_AFTER"].flatMap { Int($0) } ?? 600

    public init() {}

    public func publisher() throws -> GrantListPublisher.Configuration {
        guard (1...3_600).contains(intervalSeconds) else {
            throw ValidationError("--grant-list-interval \(intervalSeconds): expected 1 to 3600 seconds")
        }
        guard (1...31).contains(horizonDays) else {
            throw ValidationError("--grant-list-horizon-days \(horizonDays): expected 1 to 31")
        }
        var configuration = GrantListPublisher.Configuration()
        configuration.interval = .seconds(intervalSeconds)
        configuration.horizonSeconds = Int64(horizonDays) * 86_400
        return configuration
    }

    public func staleAfterMicros() throws -> Int64 {
        guard (1...7 * 86_400).contains(staleAfterSeconds) else {
            throw ValidationError("--grant-list-stale-after \(staleAfterSeconds): expected 1 to 604800 seconds")
        }
        return Int64(staleAfterSeconds) * 1_000_000
    }
}

/// The geofence monitor (`serve`).
public struct GeofenceOptions: ParsableArguments {
    @Option(name: .customLong("geofence-save-interval"),
            help: "Seconds between two stores of the geofence states of devices without a new exit or return (env CIP_GEOFENCE_SAVE_INTERVAL).")
    public var saveIntervalSeconds: Int = environment["CIP_GEOFENCE_SAVE_INTERVAL"].flatMap { Int($0) } ?? 30

    public init() {}

    public func configuration() throws -> GeofenceMonitor.Configuration {
        guard (1...3_600).contains(saveIntervalSeconds) else {
            throw ValidationError("--geofence-save-interval \(saveIntervalSeconds): expected 1 to 3600 seconds")
        }
        var configuration = GeofenceMonitor.Configuration()
        configuration.saveInterval = .seconds(saveIntervalSeconds)
        return configuration
    }
}

/// Retention (`serve`): how long what is not a catalogue value is kept, and how the purge paces itself.
public struct RetentionOptions: ParsableArguments {
    @Option(name: .customLong("retention"), help: "Run the retention service: on or off (env CIP_RETENTION).")
    public var enabled: String = environment["CIP_RETENTION"] ?? "on"

    @Option(name: .customLong("raw-message-retention-days"),
            help: "Days raw messages are kept; at most the catalogue's shortest retention (env CIP_RAW_MESSAGE_RETENTION_DAYS).")
    public var rawMessageDays: Int = environment["CIP_RAW_MESSAGE_RETENTION_DAYS"].flatMap { Int($0) } ?? RetentionSettings().rawMessageDays

    @Option(name: .customLong("dead-letter-retention-days"),
            help: "Days dead letters are kept; at most the catalogue's shortest retention (env CIP_DEAD_LETTER_RETENTION_DAYS).")
    public var deadLetterDays: Int = environment["CIP_DEAD_LETTER_RETENTION_DAYS"].flatMap { Int($0) } ?? RetentionSettings().deadLetterDays

    @Option(name: .customLong("care-record-retention-days"),
            help: "Days events, closed alarms and device history are kept, at least 30 (env CIP_CARE_RECORD_RETENTION_DAYS).")
    public var careRecordDays: Int = environment["CIP_CARE_RECORD_RETENTION_DAYS"].flatMap { Int($0) } ?? RetentionSettings().careRecordDays

    @Option(name: .customLong("audit-retention-days"),
            help: "Days audit entries are kept, at least 365 (env CIP_AUDIT_RETENTION_DAYS).")
    public var auditDays: Int = environment["CIP_AUDIT_RETENTION_DAYS"].flatMap { Int($0) } ?? RetentionSettings().auditDays

    @Option(name: .customLong("retention-interval"), help: "Seconds between retention runs (env CIP_RETENTION_INTERVAL).")
    public var intervalSeconds: Int = environment["CIP_RETENTION_INTERVAL"].flatMap { Int($0) } ?? 3_600

    @Option(name: .customLong("retention-first-run-delay"),
            help: "Seconds after start before the first run (env CIP_RETENTION_FIRST_RUN_DELAY).")
    public var firstRunDelaySeconds: Int = environment["CIP_RETENTION_FIRST_RUN_DELAY"].flatMap { Int($0) } ?? 60

    public init() {}

    /// The settings and the service's pacing, checked against the catalogue; nil when retention is off.
    public func retention(catalogue: Catalogue) throws -> (settings: RetentionSettings, configuration: RetentionService.Configuration)? {
        guard enabled != "off" else { return nil }
        guard enabled == "on" else { throw ValidationError("--retention \(enabled): expected on or off") }
        let settings = RetentionSettings(rawMessageDays: rawMessageDays, deadLetterDays: deadLetterDays,
                                         careRecordDays: careRecordDays, auditDays: auditDays)
        let shortest = catalogue.quantities.map(\.classification.retentionDays).min() ?? 1
        if let problem = settings.problem(shortestCatalogueRetentionDays: shortest) { throw ValidationError("retention: \(problem)") }
        guard (1...7 * 86_400).contains(intervalSeconds), (0...86_400).contains(firstRunDelaySeconds) else {
            throw ValidationError("--retention-interval: 1 to 604800 seconds; --retention-first-run-delay: 0 to 86400 seconds")
        }
        var configuration = RetentionService.Configuration()
        configuration.interval = .seconds(intervalSeconds)
        configuration.firstRunDelay = .seconds(firstRunDelaySeconds)
        return (settings, configuration)
    }
}

public enum Observability {
    /// Logs to standard error at LOG_LEVEL (default info).
    public static func bootstrapLogging() {
        let level = environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

/// Why the gateway cannot start; ArgumentParser prints it as `Error: ...` and exits non-zero.
public struct StartupError: Error, CustomStringConvertible {
    public var description: String

    public init(description: String) {
        self.description = description
    }
}

/// The CIP tier (NGSI-LD): the gateway's public address and where notifications may go (`serve`).
public struct CIPTierOptions: ParsableArguments {
    @Option(name: .customLong("public-url"),
            help: "The gateway's address as clients reach it, e.g. https://cip.example.se, for the JSON-LD context URLs of the CIP tier (env CIP_PUBLIC_URL; default: http:// and the request's Host).")
    public var publicURL: String? = environment["CIP_PUBLIC_URL"]

    @Option(name: .customLong("notification-hosts"),
            help: "Hosts (host or host:port, comma-separated; * for any) that NGSI-LD subscriptions may send HTTP notifications to (env CIP_NOTIFICATION_HOSTS; default none).")
    public var notificationHosts: String = environment["CIP_NOTIFICATION_HOSTS"] ?? ""

    public init() {}

    public func baseURL() throws -> String? {
        guard let publicURL else { return nil }
        guard let url = URL(string: publicURL), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil,
              url.query == nil, url.path.isEmpty || url.path == "/" else {
            throw ValidationError("--public-url \(publicURL): expected http(s)://host[:port] with no path")
        }
        return publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
    }

    /// `broker`: the city broker's `host:port` when the gateway publishes there.
    public func endpoints(broker: String?) -> NotificationEndpoints {
        NotificationEndpoints(allowedHosts: notificationHosts.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty },
                              broker: broker)
    }
}
