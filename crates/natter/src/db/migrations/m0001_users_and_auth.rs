//! Users, sign-in (OTP codes, login sessions, tokens), contacts and push devices.

use sea_orm_migration::prelude::*;

use super::{
    big, big_null, boolean, create_all, create_table, drop_all, foreign_key, id, index, int,
    string, string_null, unique_index,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let users = create_table(manager, "users")
            .col(id())
            // NULL once the account is deleted, so the number can sign up afresh.
            .col(string_null("phone_number", 20).unique_key())
            .col(string("country_code", 5))
            .col(string("name", 100))
            .col(string_null("avatar_url", 500))
            .col(string_null("about", 500))
            .col(big_null("last_seen_at"))
            .col(boolean("is_online"))
            .col(string("privacy_last_seen", 10).default("everyone"))
            .col(string("privacy_profile_photo", 10).default("everyone"))
            .col(string("privacy_about", 10).default("everyone"))
            .col(big_null("phone_verified_at"))
            .col(big("created_at"))
            .col(big("updated_at"))
            .col(big_null("deleted_at"))
            .to_owned();
        let login_sessions = create_table(manager, "login_sessions")
            .col(id())
            .col(big("user_id"))
            .col(big("created_at"))
            .col(big_null("revoked_at"))
            .col(string_null("revoke_reason", 32))
            .foreign_key(&mut foreign_key("login_sessions", "user_id", "users"))
            .to_owned();
        let access_tokens = create_table(manager, "access_tokens")
            .col(id())
            .col(big("user_id"))
            .col(big("session_id"))
            // "access" or "refresh"
            .col(string("kind", 10))
            // SHA-256 of the secret half of `<id>|<secret>`, hex.
            .col(string("token_hash", 64))
            .col(big("expires_at"))
            .col(big_null("revoked_at"))
            .col(big("created_at"))
            .foreign_key(&mut foreign_key(
                "access_tokens",
                "session_id",
                "login_sessions",
            ))
            .to_owned();
        let otp_codes = create_table(manager, "otp_codes")
            .col(id())
            .col(string("phone_number", 20))
            // HMAC-SHA256(APP_KEY, number:code), hex.
            .col(string("code_hash", 64))
            .col(int("attempts", 0))
            .col(big("expires_at"))
            .col(big_null("consumed_at"))
            .col(string("requested_ip", 45))
            .col(big("created_at"))
            .to_owned();
        let contacts = create_table(manager, "contacts")
            .col(id())
            .col(big("user_id"))
            .col(big("contact_user_id"))
            .col(string_null("contact_name", 100))
            .col(boolean("is_blocked"))
            .col(big("created_at"))
            .col(big("updated_at"))
            .foreign_key(&mut foreign_key("contacts", "user_id", "users"))
            .foreign_key(&mut foreign_key("contacts", "contact_user_id", "users"))
            .to_owned();
        let devices = create_table(manager, "devices")
            .col(id())
            .col(big("user_id"))
            .col(string("platform", 16))
            .col(string("token", 500))
            .col(boolean("push_content"))
            .col(big("created_at"))
            .foreign_key(&mut foreign_key("devices", "user_id", "users"))
            .to_owned();
        create_all(
            manager,
            vec![
                users,
                login_sessions,
                access_tokens,
                otp_codes,
                contacts,
                devices,
            ],
            vec![
                index("login_sessions", "idx_login_sessions_user", &["user_id"]),
                index(
                    "access_tokens",
                    "idx_access_tokens_session",
                    &["session_id"],
                ),
                index(
                    "otp_codes",
                    "idx_otp_codes_number",
                    &["phone_number", "created_at"],
                ),
                unique_index(
                    "contacts",
                    "uq_contacts_pair",
                    &["user_id", "contact_user_id"],
                ),
                index(
                    "contacts",
                    "idx_contacts_contact_user",
                    &["contact_user_id"],
                ),
                index("devices", "idx_devices_user", &["user_id"]),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(
            manager,
            &[
                "devices",
                "contacts",
                "otp_codes",
                "access_tokens",
                "login_sessions",
                "users",
            ],
        )
        .await
    }
}
