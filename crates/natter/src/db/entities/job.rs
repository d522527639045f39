//! The `jobs` table: the durable job queue (jobs/, docs/jobs.md).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: String,
    /// JSON text.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    /// `queued`, `running` or `dead`.
    pub state: String,
    /// Runs started so far (a claim counts one).
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: i64,
    /// The node running it, while `running`.
    pub locked_by: Option<String>,
    /// Until when that node holds it; past this, any node may claim it again.
    pub locked_until: Option<i64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    /// At most one queued or running job per key.
    #[sea_orm(unique)]
    pub unique_key: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
