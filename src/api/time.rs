//! How every API shows a time: RFC 3339 in UTC, from the Unix milliseconds the
//! store keeps.

/// Unix milliseconds as RFC 3339 in UTC, as every API shows times.
pub fn timestamp(ms: u64) -> String {
    use ::time::format_description::well_known::Rfc3339;
    let nanos = i128::from(ms) * 1_000_000;
    (::time::OffsetDateTime::from_unix_timestamp_nanos(nanos).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}
