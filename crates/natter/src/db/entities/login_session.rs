//! The `login_sessions` table. One row per sign-in (per device): its access and refresh tokens belong to it.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "login_sessions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub revoke_reason: Option<String>,
    /// What the device called itself, or a name made from its User-Agent.
    pub device_name: Option<String>,
    /// `ios`, `android`, `web`, `desktop` or `other`.
    pub platform: Option<String>,
    /// The sign-in address, coarsened (`203.0.x.x`, an IPv6 /32): never the full address.
    pub ip_region: Option<String>,
    /// Refreshed when the session authenticates, at most once a minute per node.
    pub last_active_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
