//! The `devices` table: one row per push token (devices/).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "devices")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub platform: String,
    pub token: String,
    /// Whether pushes to this device may name the sender.
    pub push_content: bool,
    pub created_at: i64,
    /// The login session that registered it (logout removes the device).
    pub session_id: Option<i64>,
    /// SHA-256 of `token`, hex: unique.
    pub token_hash: String,
    pub p256dh: Option<String>,
    pub auth: Option<String>,
    pub last_used_at: i64,
    /// `<job id>:<job created_at>` of the last push job that reached it.
    pub last_push: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
