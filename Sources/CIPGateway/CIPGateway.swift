import ArgumentParser

@main
struct CIPGateway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cip-gateway",
        abstract: "Ingestion gateway of the city information platform: MQTT devices in, PostgreSQL and a read API out.",
        subcommands: [Serve.self, Migrate.self, Devices.self, Clients.self, Audit.self]
    )
}
