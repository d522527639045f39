//! Profile and privacy requests (the User resources are in resources/user.rs).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::http::validate::not_blank;

use crate::resources::user::Visibility;

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct UpdateProfileRequest {
    /// 1 to 100 characters.
    #[validate(length(min = 1, max = 100), custom(function = "not_blank"))]
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: Option<String>,
    /// 0 to 500 characters.
    #[validate(length(max = 500))]
    #[schema(max_length = 500)]
    pub about: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct UpdatePrivacyRequest {
    pub privacy_last_seen: Option<Visibility>,
    pub privacy_profile_photo: Option<Visibility>,
    pub privacy_about: Option<Visibility>,
    /// "Keep chats archived": a new message leaves an archived chat archived.
    pub keep_chats_archived: Option<bool>,
}

/// `POST /api/user/avatar`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct AvatarResponse {
    pub success: bool,
    /// Signed, expiring URL of the new photo.
    pub avatar_url: String,
}
