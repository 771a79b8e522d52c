//! What the benches share: the event they all work on.

/// The size of the benches' event body.
pub const BODY_BYTES: usize = 1024;

/// A 1 KiB event body as receivers get it (`{"id","type","timestamp","data"}`):
/// an order with a customer, a card and three items, padded with a note to
/// exactly [`BODY_BYTES`].
pub fn event_body(id: &str) -> Vec<u8> {
    let mut event = serde_json::json!({
        "id": id,
        "type": "order.paid",
        "timestamp": "2026-11-24T04:33:41.123Z",
        "data": {
            "amount": 4200,
            "currency": "EUR",
            "customer": {"id": "cus_8f14e45f", "name": "Ada Lovelace", "email": "ada@example.com"},
            "card": {"brand": "visa", "last4": "4242", "exp": "12/29"},
            "items": [
                {"sku": "SKU-1001", "name": "Analytical engine", "qty": 1, "price": 3000},
                {"sku": "SKU-1002", "name": "Punched cards (box)", "qty": 2, "price": 500},
                {"sku": "SKU-1003", "name": "Brass gears", "qty": 4, "price": 50}
            ],
            "note": ""
        }
    });
    let unpadded = serde_json::to_vec(&event).expect("JSON serializes").len();
    let padding = BODY_BYTES.checked_sub(unpadded).expect("the event fits");
    event["data"]["note"] = "n".repeat(padding).into();
    let body = serde_json::to_vec(&event).expect("JSON serializes");
    assert_eq!(body.len(), BODY_BYTES);
    body
}

/// Criterion as every bench here runs it: short, so that all of them run in a
/// few minutes on a 2-core machine.
pub fn criterion() -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3))
}
