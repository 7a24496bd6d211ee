import Postgres

/// The registry in PostgreSQL: the one home of tables `devices` and `device_history` (migration 0002), and of
/// `device_claim_reservations` (0019); onboarding
/// and broker enforcement write them through the methods below, never with SQL of their own.
public struct PostgresDeviceRepository: DeviceRepository {
    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    /// The columns of a device as `RETURNING` gives them: a device just registered has no supervision state yet.
    private static let columns = """
        device_id, serial_number, type, vendor, model, firmware_version, tenant, placement, care_recipient_ref,
        array_to_string(tags, ';') AS tags, lifecycle_state,
        \(PostgresSQL.epochMicros("created_at")) AS created_us,
        \(PostgresSQL.epochMicros("updated_at")) AS updated_us,
        'unknown' AS connectivity, NULL::bigint AS connectivity_since_us, NULL::bigint AS last_seen_us,
        NULL::float8 AS battery, NULL::float8 AS signal_strength, NULL::text AS reported_firmware
        """

    /// A device with its supervision state.
    private static let select = """
        SELECT d.device_id, d.serial_number, d.type, d.vendor, d.model, d.firmware_version, d.tenant, d.placement,
               d.care_recipient_ref, array_to_string(d.tags, ';') AS tags, d.lifecycle_state,
               \(PostgresSQL.epochMicros("d.created_at")) AS created_us,
               \(PostgresSQL.epochMicros("d.updated_at")) AS updated_us,
               coalesce(st.connectivity, 'unknown') AS connectivity,
               \(PostgresSQL.epochMicros("st.connectivity_since")) AS connectivity_since_us,
               \(PostgresSQL.epochMicros("st.last_seen")) AS last_seen_us,
               st.battery, st.signal_strength, st.reported_firmware
        FROM devices d LEFT JOIN device_status st ON st.device_id = d.device_id
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
                let takenIDs = Set(try taken.all.map { row throws(PostgresError) in try row.decode("device_id", as: String.self) })
                let takenSerials = Set(try taken.all.map { row throws(PostgresError) in try row.decode("serial_number", as: String.self) })
                var rejected: [ImportRejection] = []
                var fresh: [(ImportedRow, (code: String, salt: [UInt8]))] = []
                for (row, claim) in zip(rows, claims) {
                    if let rejection = ImportRejection.taken(row, ids: takenIDs, serials: takenSerials) {
                        rejected.append(rejection)
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
                           h, sa, now() + make_interval(secs => $13::double precision)
                    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                                $8::text[], $9::text[], $10::text[], $11::bytea[], $12::bytea[])
                         AS x(d, s, t, v, m, f, te, p, c, g, h, sa)
                    RETURNING \(Self.columns), \(PostgresSQL.epochMicros("claim_expires_at")) AS claim_us
                    """, [
                        PostgresArray.text(devices.map(\.deviceId)), PostgresArray.text(devices.map(\.serialNumber)),
                        PostgresArray.text(devices.map(\.type)), PostgresArray.text(devices.map(\.vendor)),
                        PostgresArray.text(devices.map(\.model)), PostgresArray.text(devices.map(\.firmwareVersion)),
                        PostgresArray.text(devices.map(\.tenant)), PostgresArray.text(devices.map(\.placement)),
                        PostgresArray.text(devices.map(\.careRecipientRef)),
                        PostgresArray.text(devices.map { $0.tags.joined(separator: ";") }),
                        PostgresArray.text(fresh.map { ClaimCode.hash($0.1.code, salt: $0.1.salt) }),
                        PostgresArray.text(fresh.map(\.1.salt)),
                        claimValiditySeconds,
                    ])
                try connection.query("""
                    INSERT INTO device_history (device_id, from_state, to_state, action, actor)
                    SELECT d, NULL, 'registered', 'register', $2 FROM unnest($1::text[]) AS x(d)
                    """, [PostgresArray.text(devices.map(\.deviceId)), actor])
                let codes = Dictionary(uniqueKeysWithValues: fresh.map { ($0.0.row.deviceId, $0.1.code) })
                let registered = try inserted.all.map { row throws(PostgresError) in
                    let device = try Self.device(row)
                    return RegisteredDevice(device: device, claimCode: codes[device.deviceId] ?? "",
                                            claimExpiresAtMicros: try row.decode("claim_us"))
                }
                return (registered, rejected)
            }
        }
    }

    public func device(_ deviceId: String) async throws -> Device? {
        try await pool.withConnection { connection in
            try connection.query("\(Self.select) WHERE d.device_id = $1", [deviceId]).first.map { row throws(PostgresError) in try Self.device(row) }
        }
    }

    public func list(_ query: DeviceQuery) async throws -> [Device] {
        try await pool.withConnection { connection in
            // The text filter is a substring match: LIKE metacharacters in it are taken literally.
            let pattern = query.text.map { "%" + $0.replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_") + "%" }
            return try connection.query("""
                \(Self.select)
                WHERE ($1::text IS NULL OR d.type = $1) AND ($2::text IS NULL OR d.lifecycle_state = $2)
                  AND ($3::text IS NULL OR d.tenant = $3) AND ($4::text IS NULL OR d.device_id > $4)
                  AND ($6::text IS NULL OR coalesce(st.connectivity, 'unknown') = $6)
                  AND ($7::text IS NULL OR d.device_id ILIKE $7 OR d.serial_number ILIKE $7 OR d.placement ILIKE $7
                       OR d.vendor ILIKE $7 OR d.model ILIKE $7)
                  AND ($8::text[] IS NULL OR d.tenant = ANY($8::text[]))
                  AND ($9::text IS NULL OR d.care_recipient_ref = $9)
                ORDER BY d.device_id LIMIT $5::integer
                """, [query.type, query.state?.rawValue, query.tenant, query.afterDeviceId, query.limit,
                      query.connectivity, pattern, query.tenants.map(PostgresArray.text), query.careRecipientRef])
                .all.map { row throws(PostgresError) in try Self.device(row) }
        }
    }

    public func history(_ deviceId: String) async throws -> [DeviceHistoryEntry] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT from_state, to_state, action, actor, client, reason,
                       \(PostgresSQL.epochMicros("at")) AS at_us
                FROM device_history WHERE device_id = $1 ORDER BY id
                """, [deviceId]).all.map { row throws(PostgresError) in
                try DeviceHistoryEntry(from: row.decodeIfPresent("from_state"), to: row.decode("to_state"),
                                       action: row.decode("action"), actor: row.decode("actor"),
                                       client: row.decodeIfPresent("client"), reason: row.decodeIfPresent("reason"),
                                       atMicros: row.decode("at_us"))
            }
        }
    }

    /// provisioned → active for devices whose first valid message was just stored, through the lifecycle state
    /// machine like every other change. A device in another state (already active, suspended meanwhile, gone)
    /// is left as it is.
    public func activateOnFirstMessage(_ deviceIds: Set<String>) async throws {
        for id in deviceIds.sorted() {
            do {
                _ = try await apply(.activate, to: id, actor: "gateway", client: nil, reason: "first valid message")
            } catch RegistryError.lifecycle, RegistryError.notFound {
                continue
            }
        }
    }

    public func apply(_ action: LifecycleAction, to deviceId: String, actor: String, client: String?, reason: String?) async throws -> Device {
        try await pool.withConnection { connection in
            try connection.transaction { connection in
                // The row lock serialises concurrent changes of one device.
                guard let current = try connection.query(
                    "SELECT lifecycle_state FROM devices WHERE device_id = $1 FOR UPDATE", [deviceId]
                ).first?.decode("lifecycle_state", as: LifecycleState.self) else {
                    throw RegistryError.notFound(deviceId: deviceId)
                }
                // A device suspended while still provisioned goes back to provisioned, not active.
                let suspendedFrom = action == .resume ? try connection.query("""
                    SELECT from_state FROM device_history
                    WHERE device_id = $1 AND action = 'suspend' ORDER BY id DESC LIMIT 1
                    """, [deviceId]).first?.decodeIfPresent("from_state", as: LifecycleState.self) : nil
                let next: LifecycleState
                switch Lifecycle.apply(action, to: current, suspendedFrom: suspendedFrom) {
                case .success(let state): next = state
                case .failure(let error): throw RegistryError.lifecycle(error)
                }
                try connection.query("""
                    INSERT INTO device_history (device_id, from_state, to_state, action, actor, reason, client)
                    VALUES ($1, $2, $3, $4, $5, $6, $7)
                    """, [deviceId, current.rawValue, next.rawValue, action.rawValue, actor, reason, client])
                try connection.query("UPDATE devices SET lifecycle_state = $2, updated_at = now() WHERE device_id = $1",
                                     [deviceId, next.rawValue])
                return try Self.device(connection.query("\(Self.select) WHERE d.device_id = $1", [deviceId]).single())
            }
        }
    }

    public func update(_ deviceId: String, with patch: DevicePatch, actor: String, client: String?) async throws -> Device {
        try await pool.withConnection { connection in
            try connection.transaction { connection in
                guard let current = try connection.query(
                    "SELECT lifecycle_state FROM devices WHERE device_id = $1 FOR UPDATE", [deviceId]
                ).first?.decode("lifecycle_state", as: LifecycleState.self) else {
                    throw RegistryError.notFound(deviceId: deviceId)
                }
                // NULL: unchanged; '' clears an optional field.
                try connection.query("""
                    UPDATE devices SET
                        vendor = CASE WHEN $2::text IS NULL THEN vendor ELSE nullif($2, '') END,
                        model = CASE WHEN $3::text IS NULL THEN model ELSE nullif($3, '') END,
                        firmware_version = CASE WHEN $4::text IS NULL THEN firmware_version ELSE nullif($4, '') END,
                        tenant = coalesce($5, tenant),
                        placement = CASE WHEN $6::text IS NULL THEN placement ELSE nullif($6, '') END,
                        care_recipient_ref = CASE WHEN $7::text IS NULL THEN care_recipient_ref ELSE nullif($7, '') END,
                        tags = CASE WHEN $8::text IS NULL THEN tags WHEN $8 = '' THEN '{}'::text[]
                                    ELSE string_to_array($8, ';') END,
                        updated_at = now()
                    WHERE device_id = $1
                    """, [deviceId, patch.vendor, patch.model, patch.firmwareVersion, patch.tenant, patch.placement,
                          patch.careRecipientRef, patch.tags.map { $0.joined(separator: ";") }])
                try connection.query("""
                    INSERT INTO device_history (device_id, from_state, to_state, action, actor, reason, client)
                    VALUES ($1, $2, $2, 'update', $3, $4, $5)
                    """, [deviceId, current.rawValue, actor, "changed: " + patch.fieldNames.joined(separator: ", "), client])
                return try Self.device(connection.query("\(Self.select) WHERE d.device_id = $1", [deviceId]).single())
            }
        }
    }

    public func unknownDevices(after: (lastSeenMicros: Int64, deviceId: String)?, limit: Int) async throws -> [UnknownDevice] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT device_id, \(PostgresSQL.epochMicros("first_seen")) AS first_us,
                       \(PostgresSQL.epochMicros("last_seen")) AS last_us, message_count, last_topic
                FROM unknown_devices
                WHERE $1::bigint IS NULL
                   OR (last_seen, device_id) < (to_timestamp($1::bigint / 1e6), $2::text)
                ORDER BY last_seen DESC, device_id DESC LIMIT $3::integer
                """, [after?.lastSeenMicros, after?.deviceId, limit]).all.map { row throws(PostgresError) in
                try UnknownDevice(deviceId: row.decode("device_id"), firstSeenMicros: row.decode("first_us"),
                                  lastSeenMicros: row.decode("last_us"), messageCount: row.decode("message_count"),
                                  lastTopic: row.decode("last_topic"))
            }
        }
    }

    public func fleet(lowBatteryThreshold: Double, tenants: [String]?) async throws -> FleetSummary {
        try await pool.withConnection { connection in
            var summary = FleetSummary()
            summary.lowBatteryThreshold = lowBatteryThreshold
            let scope = tenants.map(PostgresArray.text)
            let groups = try connection.query("""
                WITH d AS (SELECT * FROM devices WHERE $1::text[] IS NULL OR tenant = ANY($1::text[]))
                SELECT 'type' AS dimension, d.type AS key, count(*) AS n FROM d GROUP BY d.type
                UNION ALL
                SELECT 'state', d.lifecycle_state, count(*) FROM d GROUP BY d.lifecycle_state
                UNION ALL
                SELECT 'connectivity', coalesce(st.connectivity, 'unknown'), count(*)
                FROM d LEFT JOIN device_status st ON st.device_id = d.device_id
                WHERE d.lifecycle_state <> 'decommissioned' GROUP BY 2
                UNION ALL
                SELECT 'firmware', coalesce(st.reported_firmware, d.firmware_version), count(*)
                FROM d LEFT JOIN device_status st ON st.device_id = d.device_id
                WHERE d.lifecycle_state <> 'decommissioned' AND coalesce(st.reported_firmware, d.firmware_version) IS NOT NULL
                GROUP BY 2
                """, [scope])
            for row in groups.all {
                let key: String = try row.decode("key"), count: Int = try row.decode("n")
                switch try row.decode("dimension", as: String.self) {
                case "type": summary.byType[key] = count; summary.total += count
                case "state": summary.byState[key] = count
                case "connectivity": summary.byConnectivity[key] = count
                default: summary.firmwareVersions[key] = count
                }
            }
            summary.lowBattery = try connection.query("""
                SELECT st.device_id, st.battery FROM device_status st JOIN devices d ON d.device_id = st.device_id
                WHERE st.battery < $1::float8 AND d.lifecycle_state <> 'decommissioned'
                  AND ($2::text[] IS NULL OR d.tenant = ANY($2::text[]))
                ORDER BY st.battery, st.device_id LIMIT 100
                """, [lowBatteryThreshold, scope]).all.map { row throws(PostgresError) in
                (try row.decode("device_id", as: String.self), try row.decode("battery", as: Double.self))
            }
            return summary
        }
    }

    // MARK: Onboarding and broker enforcement (the registry's own use; not part of `DeviceRepository`)

    /// What a claim for `serial` is checked against; nil when no device has this serial.
    func claimRecord(serial: String) async throws -> ClaimRecord? {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT device_id, lifecycle_state, claim_code_hash, claim_code_salt, claim_expires_at < now() AS expired
                FROM devices WHERE serial_number = $1
                """, [serial]).first.map { row throws(PostgresError) in
                try ClaimRecord(deviceId: row.decode("device_id"), lifecycleState: row.decode("lifecycle_state"),
                                hash: row.decodeIfPresent("claim_code_hash"), salt: row.decodeIfPresent("claim_code_salt"),
                                expired: row.decodeIfPresent("expired") ?? false)
            }
        }
    }

    /// Reserves the device for one claim for `seconds` (table `device_claim_reservations`): false when another
    /// claim (in this or another gateway) holds it, so that only one of them ever touches the broker account.
    func reserveClaim(_ deviceId: String, token: String, seconds: Int) async throws -> Bool {
        try await pool.withConnection { connection in
            try connection.query("""
                INSERT INTO device_claim_reservations (device_id, token, expires_at)
                VALUES ($1, $2, now() + $3::integer * interval '1 second')
                ON CONFLICT (device_id) DO UPDATE SET token = EXCLUDED.token, expires_at = EXCLUDED.expires_at
                WHERE device_claim_reservations.expires_at < now()
                RETURNING token
                """, [deviceId, token, seconds]).count == 1
        }
    }

    func releaseClaim(_ deviceId: String, token: String) async throws {
        try await pool.withConnection { connection in
            try connection.query("DELETE FROM device_claim_reservations WHERE device_id = $1 AND token = $2", [deviceId, token])
        }
    }

    /// Records an accepted claim: the transition (from the lifecycle state machine) happens only if the device is
    /// still in its `from` state, the claim code is spent and the broker is known to hold the new client.
    /// False when another request changed the device first.
    /// Only the holder of the claim's reservation (`token`) commits, and the reservation ends with it: a claim
    /// whose reservation expired and was taken over commits nothing.
    func commitClaim(_ deviceId: String, transition: LifecycleTransition, token: String) async throws -> Bool {
        try await pool.withConnection { connection in
            try connection.transaction { connection in
                let reserved = try connection.query(
                    "DELETE FROM device_claim_reservations WHERE device_id = $1 AND token = $2 RETURNING device_id",
                    [deviceId, token]).count == 1
                guard reserved else { return false }
                let updated = try connection.query("""
                    UPDATE devices SET lifecycle_state = $3, broker_state = $3,
                           claim_code_hash = NULL, claim_code_salt = NULL, claim_expires_at = NULL, updated_at = now()
                    WHERE device_id = $1 AND lifecycle_state = $2
                    """, [deviceId, transition.from.rawValue, transition.to.rawValue]).affected
                if updated == 1 {
                    try connection.query("""
                        INSERT INTO device_history (device_id, from_state, to_state, action, actor, reason)
                        VALUES ($1, $2, $3, $4, $5, $6)
                        """, [deviceId, transition.from.rawValue, transition.to.rawValue, transition.action.rawValue,
                              transition.actor, transition.reason])
                }
                return updated == 1
            }
        }
    }

    /// Notes that the broker now enforces `state` for the device (unless its lifecycle moved on meanwhile).
    func markEnforced(_ state: LifecycleState, deviceId: String) async throws {
        try await pool.withConnection { connection in
            try connection.query("UPDATE devices SET broker_state = $2 WHERE device_id = $1 AND lifecycle_state = $2",
                                 [deviceId, state.rawValue])
        }
    }

    /// Devices whose broker state lags behind their lifecycle state, oldest change first.
    func brokerLagging(limit: Int) async throws -> [(deviceId: String, state: LifecycleState)] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT device_id, lifecycle_state FROM devices
                WHERE broker_state IS DISTINCT FROM lifecycle_state AND lifecycle_state <> 'registered'
                ORDER BY updated_at LIMIT $1::integer
                """, [limit]).all.map { row throws(PostgresError) in
                (try row.decode("device_id"), try row.decode("lifecycle_state"))
            }
        }
    }

    private static func device(_ row: PostgresRow) throws(PostgresError) -> Device {
        let tags: String = try row.decode("tags")
        var supervision = DeviceSupervision()
        supervision.connectivity = try row.decode("connectivity")
        supervision.connectivitySinceMicros = try row.decodeIfPresent("connectivity_since_us")
        supervision.lastSeenMicros = try row.decodeIfPresent("last_seen_us")
        supervision.battery = try row.decodeIfPresent("battery")
        supervision.signalStrength = try row.decodeIfPresent("signal_strength")
        supervision.reportedFirmware = try row.decodeIfPresent("reported_firmware")
        var device = try Device(
            deviceId: row.decode("device_id"), serialNumber: row.decode("serial_number"), type: row.decode("type"),
            vendor: row.decodeIfPresent("vendor"), model: row.decodeIfPresent("model"),
            firmwareVersion: row.decodeIfPresent("firmware_version"), tenant: row.decode("tenant"),
            placement: row.decodeIfPresent("placement"), careRecipientRef: row.decodeIfPresent("care_recipient_ref"),
            tags: tags.isEmpty ? [] : tags.split(separator: ";").map(String.init),
            lifecycleState: row.decode("lifecycle_state"),
            createdAtMicros: row.decode("created_us"), updatedAtMicros: row.decode("updated_us"))
        device.supervision = supervision
        return device
    }
}
