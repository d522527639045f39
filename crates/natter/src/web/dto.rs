//! The web client's one route of its own on the wire: sign-in codes for development.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DevCodeQuery {
    /// The number as given to `POST /api/auth/send-otp`.
    #[validate(length(min = 1, max = 32))]
    #[param(min_length = 1, max_length = 32)]
    pub phone_number: String,
    /// The country code given with it (`"1"` or `"+1"`).
    #[validate(length(min = 1, max = 4))]
    #[param(min_length = 1, max_length = 4)]
    pub country_code: Option<String>,
}

/// The newest sign-in code sent to a number.
#[derive(Debug, Serialize, ToSchema)]
pub struct DevCode {
    /// The number in E.164.
    pub phone_number: String,
    pub code: String,
    pub sent_at: String,
}
