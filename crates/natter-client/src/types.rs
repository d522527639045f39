//! The wire types of API.md, as a client reads them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SendOtpResponse {
    pub success: bool,
    pub message: String,
    pub expires_at: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct VerifyOtpResponse {
    pub success: bool,
    pub user: SelfUser,
    pub tokens: TokenPair,
}

/// A user as others see them.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub phone_number: Option<String>,
    pub about: Option<String>,
    pub avatar_url: Option<String>,
    pub is_online: bool,
    pub last_seen_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Privacy {
    pub last_seen: String,
    pub profile_photo: String,
    pub about: String,
}

/// A user as they see themself.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct SelfUser {
    pub id: i64,
    pub name: String,
    pub phone_number: Option<String>,
    pub about: Option<String>,
    pub avatar_url: Option<String>,
    pub is_online: bool,
    pub last_seen_at: Option<String>,
    pub country_code: String,
    pub phone_verified_at: Option<String>,
    pub privacy: Privacy,
    pub created_at: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Pagination {
    pub current_page: u64,
    pub total_pages: u64,
    pub total_items: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Contact {
    pub id: i64,
    pub contact_name: Option<String>,
    pub is_blocked: bool,
    pub added_at: String,
    pub user: User,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ContactList {
    pub contacts: Vec<Contact>,
    pub pagination: Pagination,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RegisteredNumber {
    pub phone_number: String,
    pub user: User,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ContactSync {
    pub registered: Vec<RegisteredNumber>,
    pub invalid: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct BlockResult {
    pub success: bool,
    pub is_blocked: bool,
}
