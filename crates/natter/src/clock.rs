//! Time as natter stores and shows it: Unix milliseconds in the database,
//! RFC 3339 UTC with milliseconds (`2026-11-24T20:01:02.345Z`) on the wire,
//! and timestamps read from requests.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use utoipa::openapi::schema::{Schema, Type};
use utoipa::openapi::{KnownFormat, ObjectBuilder, RefOr, SchemaFormat};
use utoipa::{PartialSchema, ToSchema};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Microseconds since the Unix epoch, now: for latencies measured across
/// nodes (their clocks are assumed in step, as NTP keeps them).
pub fn now_us() -> i64 {
    Utc::now().timestamp_micros()
}

/// `ms` as an RFC 3339 UTC string with milliseconds.
pub fn format_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 timestamp into Unix milliseconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc).timestamp_millis())
}

/// Deserialises an RFC 3339 timestamp (or null) into Unix milliseconds; a
/// string that is not one fails with serde's "invalid value", which becomes a
/// 422 naming the field.
pub fn optional_rfc3339<'de, D>(deserializer: D) -> Result<Option<i64>, D::Error>
where
    D: Deserializer<'de>,
{
    let text: Option<String> = Option::deserialize(deserializer)?;
    match text {
        None => Ok(None),
        Some(text) => parse_rfc3339(&text).map(Some).ok_or_else(|| {
            de::Error::invalid_value(de::Unexpected::Str(&text), &"an RFC 3339 timestamp")
        }),
    }
}

/// A timestamp that serialises the way API.md shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_ms(self.0))
    }
}

impl PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .examples(["2026-11-24T20:01:02.345Z"])
            .into()
    }
}

impl ToSchema for Timestamp {}

impl From<i64> for Timestamp {
    fn from(ms: i64) -> Self {
        Timestamp(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_milliseconds_and_z() {
        assert_eq!(format_ms(1_795_982_462_345), "2026-11-29T20:01:02.345Z");
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn parses_what_it_formats_and_offsets() {
        assert_eq!(
            parse_rfc3339("2026-11-29T20:01:02.345Z"),
            Some(1_795_982_462_345)
        );
        assert_eq!(
            parse_rfc3339("2026-11-29T21:01:02.345+01:00"),
            Some(1_795_982_462_345)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
