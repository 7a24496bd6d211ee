import Postgres

/// The registry in PostgreSQL (tables `devices` and `device_history`, migration 0002).
public struct PostgresDeviceRepository: DeviceRepository {
    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    private static let columns = """
        device_id, serial_number, type, vendor, model, firmware_version, tenant, placement, care_recipient_ref,
        array_to_string(tags, ';') AS tags, lifecycle_state,
        (extract(epoch FROM created_at) * 1000000)::bigint AS created_us,
        (extract(epoch FROM updated_at) * 1000000)::bigint AS updated_us
        """

    public func register(_ rows: [ImportedRow], actor: String, claimValiditySeconds: Double) async throws
        -> (registered: [RegisteredDevice], rejected: [ImportRejection])
    {
        // Claim codes are made here, outside the database thread; only their salted hashes are stored.
        let claims = rows.map { _ -> (code: String, salt: [UInt8]) in (ClaimCode.generate(), ClaimCode.generateSalt()) }
        return try await pool.withConnection { connection in
            try connection.transaction { connection in
                // Taken ids and serials, from earlier registrations.
                let taken = try connection.query("""
                    SELECT device_id, serial_number FROM devices
                    WHERE device_id = ANY($1::text[]) OR serial_number = ANY($2::text[])
                    """, [PostgresArray.text(rows.map(\.row.deviceId)), PostgresArray.text(rows.map(\.row.serialNumber))])
                let takenIDs = Set(taken.all.compactMap { $0["device_id"] })
                let takenSerials = Set(taken.all.compactMap { $0["serial_number"] })
                var rejected: [ImportRejection] = []
                var fresh: [(ImportedRow, (code: String, salt: [UInt8]))] = []
                for (row, claim) in zip(rows, claims) {
                    if takenIDs.contains(row.row.deviceId) {
                        rejected.append(ImportRejection(line: row.line, deviceId: row.row.deviceId,
                                                        reason: "device id \(row.row.deviceId) is already registered"))
                    } else if takenSerials.contains(row.row.serialNumber) {
                        rejected.append(ImportRejection(line: row.line, deviceId: row.row.deviceId,
                                                        reason: "serial number \(row.row.serialNumber) is already registered"))
                    } else {
                        fresh.append((row, claim))
                    }
                }
                guard !fresh.isEmpty else { return ([], rejected) }
                let devices = fresh.map(\.0.row)
                let inserted = try connection.query("""
                    INSERT INTO devices (device_id, serial_number, type, vendor, model, firmware_version, tenant,
                                         placement, care_recipient_ref, tags, claim_code_hash, claim_code_salt,
                                         claim_expires_at)
                    SELECT d, s, t, v, m, f, te, p, c, CASE WHEN g = '' THEN '{}'::text[] ELSE string_to_array(g, ';') END,
                           decode(h, 'hex'), decode(sa, 'hex'), now() + make_interval(secs => $13::double precision)
                    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                                $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
                         AS x(d, s, t, v, m, f, te, p, c, g, h, sa)
                    RETURNING \(Self.columns), (extract(epoch FROM claim_expires_at) * 1000000)::bigint AS claim_us
                    """, [
                        PostgresArray.text(devices.map(\.deviceId)), PostgresArray.text(devices.map(\.serialNumber)),
                        PostgresArray.text(devices.map(\.type)), PostgresArray.text(devices.map(\.vendor)),
                        PostgresArray.text(devices.map(\.model)), PostgresArray.text(devices.map(\.firmwareVersion)),
                        PostgresArray.text(devices.map(\.tenant)), PostgresArray.text(devices.map(\.placement)),
                        PostgresArray.text(devices.map(\.careRecipientRef)),
                        PostgresArray.text(devices.map { $0.tags.joined(separator: ";") }),
                        PostgresArray.text(fresh.map { Hex.encode(ClaimCode.hash($0.1.code, salt: $0.1.salt)) }),
                        PostgresArray.text(fresh.map { Hex.encode($0.1.salt) }),
                        String(claimValiditySeconds),
                    ])
                try connection.query("""
                    INSERT INTO device_history (device_id, from_state, to_state, action, actor)
                    SELECT d, NULL, 'registered', 'register', $2 FROM unnest($1::text[]) AS x(d)
                    """, [PostgresArray.text(devices.map(\.deviceId)), actor])
                let codes = Dictionary(uniqueKeysWithValues: fresh.map { ($0.0.row.deviceId, $0.1.code) })
                let registered = inserted.all.map { row in
                    RegisteredDevice(device: Self.device(row), claimCode: codes[row["device_id"] ?? ""] ?? "",
                                     claimExpiresAtMicros: Int64(row["claim_us"] ?? "") ?? 0)
                }
                return (registered, rejected)
            }
        }
    }

    public func device(_ deviceId: String) async throws -> Device? {
        try await pool.withConnection { connection in
            try connection.query("SELECT \(Self.columns) FROM devices WHERE device_id = $1", [deviceId]).first.map(Self.device)
        }
    }

    public func list(_ query: DeviceQuery) async throws -> [Device] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT \(Self.columns) FROM devices
                WHERE ($1::text IS NULL OR type = $1) AND ($2::text IS NULL OR lifecycle_state = $2)
                  AND ($3::text IS NULL OR tenant = $3) AND ($4::text IS NULL OR device_id > $4)
                ORDER BY device_id LIMIT $5::integer
                """, [query.type, query.state?.rawValue, query.tenant, query.afterDeviceId, String(query.limit)])
                .all.map(Self.device)
        }
    }

    public func history(_ deviceId: String) async throws -> [DeviceHistoryEntry] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT from_state, to_state, action, actor, reason,
                       (extract(epoch FROM at) * 1000000)::bigint AS at_us
                FROM device_history WHERE device_id = $1 ORDER BY id
                """, [deviceId]).all.map { row in
                DeviceHistoryEntry(from: row["from_state"].flatMap(LifecycleState.init(rawValue:)),
                                   to: LifecycleState(rawValue: row["to_state"] ?? "") ?? .registered,
                                   action: row["action"] ?? "", actor: row["actor"] ?? "", reason: row["reason"],
                                   atMicros: Int64(row["at_us"] ?? "") ?? 0)
            }
        }
    }

    public func apply(_ action: LifecycleAction, to deviceId: String, actor: String, reason: String?) async throws -> Device {
        try await pool.withConnection { connection in
            try connection.transaction { connection in
                // The row lock serialises concurrent changes of one device.
                guard let current = try connection.query(
                    "SELECT lifecycle_state FROM devices WHERE device_id = $1 FOR UPDATE", [deviceId]
                ).first?["lifecycle_state"].flatMap(LifecycleState.init(rawValue:)) else {
                    throw RegistryError.notFound(deviceId: deviceId)
                }
                let next: LifecycleState
                switch Lifecycle.apply(action, to: current) {
                case .success(let state): next = state
                case .failure(let error): throw RegistryError.lifecycle(error)
                }
                try connection.query("""
                    INSERT INTO device_history (device_id, from_state, to_state, action, actor, reason)
                    VALUES ($1, $2, $3, $4, $5, $6)
                    """, [deviceId, current.rawValue, next.rawValue, action.rawValue, actor, reason])
                let row = try connection.query("""
                    UPDATE devices SET lifecycle_state = $2, updated_at = now() WHERE device_id = $1
                    RETURNING \(Self.columns)
                    """, [deviceId, next.rawValue])
                return Self.device(row[0])
            }
        }
    }

    private static func device(_ row: PostgresRow) -> Device {
        let tags = row["tags"] ?? ""
        return Device(
            deviceId: row["device_id"] ?? "", serialNumber: row["serial_number"] ?? "", type: row["type"] ?? "",
            vendor: row["vendor"], model: row["model"], firmwareVersion: row["firmware_version"],
            tenant: row["tenant"] ?? "", placement: row["placement"], careRecipientRef: row["care_recipient_ref"],
            tags: tags.isEmpty ? [] : tags.split(separator: ";").map(String.init),
            lifecycleState: LifecycleState(rawValue: row["lifecycle_state"] ?? "") ?? .registered,
            createdAtMicros: Int64(row["created_us"] ?? "") ?? 0, updatedAtMicros: Int64(row["updated_us"] ?? "") ?? 0)
    }
}
