//! Sign-in requests and responses.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::clock::Timestamp;
use crate::resources::user::SelfView;
use crate::sessions::dto::{SessionPlatform, TokenPair};

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct SendOtpRequest {
    /// The number in national or international form.
    #[validate(length(min = 1, max = 32))]
    #[schema(min_length = 1, max_length = 32)]
    pub phone_number: String,
    /// Country calling code, `"1"` or `"+1"`.
    #[validate(length(min = 1, max = 5))]
    #[schema(min_length = 1, max_length = 5)]
    pub country_code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SendOtpResponse {
    pub success: bool,
    pub message: String,
    pub expires_at: Timestamp,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct VerifyOtpRequest {
    #[validate(length(min = 1, max = 32))]
    #[schema(min_length = 1, max_length = 32)]
    pub phone_number: String,
    #[validate(length(min = 1, max = 5))]
    #[schema(min_length = 1, max_length = 5)]
    pub country_code: String,
    /// The 6-digit code from the SMS.
    #[validate(length(equal = 6), custom(function = "digits_only"))]
    #[schema(pattern = "^[0-9]{6}$")]
    pub otp: String,
    /// Name for a new account (ignored for an existing one); defaults to "User".
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    /// This device's name in the user's list of linked devices, such as
    /// "Ann's laptop"; without it one is made from the User-Agent ("Chrome on
    /// Linux"), else "Unknown device".
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    pub device_name: Option<String>,
    /// This device's kind; without it `web` for a browser, else `other`.
    pub platform: Option<SessionPlatform>,
}

fn digits_only(value: &str) -> Result<(), validator::ValidationError> {
    if value.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(validator::ValidationError::new("digits")
            .with_message("The :attribute field must contain only digits.".into()))
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyOtpResponse {
    pub success: bool,
    pub user: SelfView,
    pub tokens: TokenPair,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogoutResponse {
    pub success: bool,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SuccessResponse {
    pub success: bool,
    pub message: String,
}
