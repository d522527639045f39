//! Phone numbers: everything natter stores or compares is E.164 (`+14155550123`).

use phonenumber::country;
use phonenumber::{Mode, Type, metadata::DATABASE};

use crate::error::ApiError;

/// Why a number was refused, for the 422 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneError {
    /// The country code is not digits, or no country uses it.
    CountryCode,
    /// The number cannot exist.
    Number,
}

/// The 422 for a number or country code that cannot be used.
pub fn field_error(err: PhoneError) -> ApiError {
    match err {
        PhoneError::CountryCode => {
            ApiError::field("country_code", "The country code field is invalid.")
        }
        PhoneError::Number => ApiError::field(
            "phone_number",
            "The phone number field is not a valid phone number.",
        ),
    }
}

/// A country calling code as the guide sends it (`"1"`, `"+1"`, `"44"`), as digits.
pub fn calling_code(country_code: &str) -> Result<u16, PhoneError> {
    let digits = country_code.trim().trim_start_matches('+');
    if digits.is_empty() || digits.len() > 3 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(PhoneError::CountryCode);
    }
    let code: u16 = digits.parse().map_err(|_| PhoneError::CountryCode)?;
    if DATABASE.region(&code).is_none() {
        return Err(PhoneError::CountryCode);
    }
    Ok(code)
}

/// Loads the numbering plans now (the library parses them, about 3 MiB, on
/// first use), so the first sign-in does not wait for them and a node's
/// memory at rest already holds them (issue 20's "idle level").
pub fn warm_up() {
    let _ = to_e164("+14155550123", None);
}

/// Normalises `number` to E.164. A number written with `+` (or `00`) carries its
/// own country; otherwise `country_code` is the region hint, so national forms
/// such as `(415) 555-0123` or `07911 123456` work.
pub fn to_e164(number: &str, country_code: Option<&str>) -> Result<String, PhoneError> {
    let trimmed = number.trim();
    if trimmed.is_empty() || trimmed.len() > 32 {
        return Err(PhoneError::Number);
    }
    let international = trimmed.starts_with('+') || trimmed.starts_with("00");
    let region = match (international, country_code) {
        (true, _) => None,
        (false, Some(cc)) => Some(region_of(calling_code(cc)?)?),
        (false, None) => return Err(PhoneError::CountryCode),
    };
    let text = match trimmed.strip_prefix("00") {
        Some(rest) if international => format!("+{rest}"),
        _ => trimmed.to_string(),
    };
    let parsed = phonenumber::parse(region, &text).map_err(|_| PhoneError::Number)?;
    if !parsed.is_valid() {
        return Err(PhoneError::Number);
    }
    Ok(parsed.format().mode(Mode::E164).to_string())
}

/// The calling code of a number in E.164 ("+447911123456" → "44"): what a
/// user's `country_code` is, whatever the client sent beside an
/// international number (to_e164 reads the sent code only for national ones).
pub fn calling_code_of(e164: &str) -> Option<String> {
    let parsed = phonenumber::parse(None, e164).ok()?;
    Some(parsed.code().value().to_string())
}

/// Number types an SMS code is never sent to: calls or texts to them cost the
/// sender (premium rate, shared cost) or they reach no person (toll-free,
/// company, voicemail and emergency numbers). Sending codes to premium numbers
/// is how SMS pumping fraud earns money (issue 15, finding 10).
const NOT_TEXTABLE: [Type; 6] = [
    Type::PremiumRate,
    Type::SharedCost,
    Type::TollFree,
    Type::Uan,
    Type::Voicemail,
    Type::Emergency,
];

/// 422 unless an E.164 number is of a type a sign-in code may be sent to.
pub fn ensure_textable(e164: &str) -> Result<(), ApiError> {
    let refused = || {
        ApiError::field(
            "phone_number",
            "The phone number field must be a mobile or fixed-line number.",
        )
    };
    let parsed = phonenumber::parse(None, e164).map_err(|_| refused())?;
    if NOT_TEXTABLE.contains(&parsed.number_type(&DATABASE)) {
        return Err(refused());
    }
    Ok(())
}

/// The main region of a calling code (`1` -> US, `44` -> GB).
fn region_of(code: u16) -> Result<country::Id, PhoneError> {
    let regions = DATABASE.region(&code).ok_or(PhoneError::CountryCode)?;
    regions
        .first()
        .and_then(|id| id.parse().ok())
        .ok_or(PhoneError::CountryCode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_numbers_calling_code_is_read_from_it() {
        assert_eq!(calling_code_of("+447911123456").as_deref(), Some("44"));
        assert_eq!(calling_code_of("+12125550100").as_deref(), Some("1"));
        assert_eq!(calling_code_of("not a number"), None);
    }

    #[test]
    fn premium_shared_cost_and_toll_free_numbers_get_no_code() {
        for number in [
            "+19005550123",
            "+449090901234",
            "+18005550199",
            "+448449531234",
        ] {
            assert!(ensure_textable(number).is_err(), "{number}");
        }
        for number in ["+12125550123", "+447911123456", "+4915123456789"] {
            assert!(ensure_textable(number).is_ok(), "{number}");
        }
    }

    #[test]
    fn normalises_national_and_international_forms() {
        assert_eq!(
            to_e164("(415) 555-0123", Some("1")).unwrap(),
            "+14155550123"
        );
        assert_eq!(to_e164("415 555 0123", Some("+1")).unwrap(), "+14155550123");
        assert_eq!(
            to_e164("+1 415 555 0123", Some("44")).unwrap(),
            "+14155550123"
        );
        assert_eq!(
            to_e164("07911 123456", Some("44")).unwrap(),
            "+447911123456"
        );
        assert_eq!(to_e164("0044 7911 123456", None).unwrap(), "+447911123456");
    }

    #[test]
    fn refuses_impossible_numbers_and_codes() {
        assert_eq!(to_e164("12", Some("1")), Err(PhoneError::Number));
        assert_eq!(to_e164("hello", Some("1")), Err(PhoneError::Number));
        assert_eq!(
            to_e164("4155550123", Some("999")),
            Err(PhoneError::CountryCode)
        );
        assert_eq!(
            to_e164("4155550123", Some("x")),
            Err(PhoneError::CountryCode)
        );
        assert_eq!(to_e164("4155550123", None), Err(PhoneError::CountryCode));
    }
}
