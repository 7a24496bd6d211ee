// SCAIP XML (SS 91100) → one catalogue event and the values that travel with it.
//
// The message type (`mty`), device type code (`dty`) and status code (`stc`) choose the event by the catalogue's
// SCAIP table (`DataModels/catalogue/scaip.json`); `lte`, `lco` and `lge` become `location_text`, `location_code`
// and `position` when the device type produces them. SCAIP has no time stamp, so observedAt is the arrival time (a
// structured `lge` may carry the fix's time). An unreadable optional field is a rejection of its own; the event
// stands.

import Models

struct SCAIPAdapter: PayloadAdapter {
    static let format = PayloadFormat.scaipXML

    /// Attributes that are values of a quantity of their own, with that quantity: they travel with an event only
    /// when it is classed at least as high (`CatalogueChecks.attributes`).
    private static let attributeQuantities = [
        "lte": "location_text", "lco": "location_code", "lge": "position", "lge_time": "position",
    ]

    /// The catalogue event of a message, by the catalogue's SCAIP table: the first rule whose message type, device
    /// type and status code match. Returns the event id and the element that chose it, or the reason there is none.
    static func event(
        for message: SCAIPMessage, in catalogue: Catalogue
    ) -> Result<(event: String, path: String), Rejection> {
        if let rule = catalogue.scaipRule(messageType: message.messageType.rawValue, deviceType: message.deviceType,
                                          statusCode: message.statusCode) {
            return .success((rule.event, rule.path))
        }
        switch (message.messageType, message.statusCode) {
        case (.info, let code?): return .failure(Rejection(path: "stc", reason: "status code \(code) has no catalogue event"))
        case (.info, nil): return .failure(Rejection(path: "stc", reason: "an IN message without a status code has no catalogue event"))
        default: return .failure(Rejection(path: "mty", reason: "message type \(message.messageType.rawValue) has no catalogue event"))
        }
    }

    func normalize(_ payload: [UInt8], context: AdapterContext) throws(Rejection) -> NormalizedPayload {
        let message: SCAIPMessage
        do {
            message = try SCAIPParser.parse(payload)
        } catch {
            throw Rejection(path: error.field ?? "", reason: error.description)
        }
        let checks = context.checks
        let deviceType = context.deviceType
        let receivedAt = context.receivedAt
        var result = NormalizedPayload()
        var attributes: [String: String] = ["ref": message.reference, "cid": message.controllerID]
        attributes["did"] = message.deviceID
        attributes["dty"] = message.deviceType
        attributes["stc"] = message.statusCode
        attributes["stt"] = message.statusText
        attributes["pri"] = message.priority.map { String($0) }
        attributes["lco"] = message.locationCode
        attributes["lte"] = message.locationText
        if let position = message.position {
            // The position travels with the event, so an alarm shows where it was raised.
            attributes["lge"] = [position.latitude, position.longitude, position.accuracyMeters]
                .compactMap { $0 }.map { "\($0)" }.joined(separator: ",")
            attributes["lge_time"] = position.time.map { "\($0)" }
        }
        // Unreadable optional fields do not cost the event; each is a rejection of its own.
        result.rejections += message.issues.map { Rejection(path: $0.field ?? "", reason: $0.reason) }

        switch Self.event(for: message, in: checks.catalogue) {
        case .failure(let rejection):
            result.rejections.append(rejection)
        case .success(let (id, path)):
            if let code = checks.catalogue.event(id) {
                if deviceType.events.contains(id) {
                    result.events.append(NormalizedEvent(
                        event: id, observedAt: receivedAt, classification: code.classification,
                        attributes: checks.attributes(attributes, quantities: Self.attributeQuantities, for: code.classification),
                        sourcePath: path))
                } else {
                    result.rejections.append(Rejection(path: path, reason: checks.notProduced("event", id, by: deviceType)))
                }
            } else {
                result.rejections.append(Rejection(path: path, reason: "SCAIP maps to event \"\(id)\", which is not in the catalogue"))
            }
        }

        func add(_ id: String, _ value: NormalizedScalar, _ path: String, at time: Double = receivedAt) {
            guard deviceType.quantities.contains(id), let quantity = checks.catalogue.quantity(id) else { return }
            do {
                result.values.append(try checks.value(value, of: quantity, observedAt: time, sourcePath: path))
            } catch {
                result.rejections.append(Rejection(path: path, reason: error.reason))
            }
        }
        if message.messageType == .heartbeat { add("heartbeat", .boolean(true), "mty") }
        if let text = message.locationText { add("location_text", .string(text), "lte") }
        if let code = message.locationCode { add("location_code", .string(code), "lco") }
        if let position = message.position {
            add("position", .position(
                latitude: position.latitude, longitude: position.longitude, accuracy: position.accuracyMeters), "lge",
                at: position.time ?? receivedAt)
        }
        return result
    }
}
