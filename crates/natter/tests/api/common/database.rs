//! Scratch databases: one per test on PostgreSQL and MySQL, dropped afterwards.

use sea_orm::{ConnectionTrait, Database};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

impl Backend {
    fn env_var(self) -> Option<&'static str> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some("TEST_POSTGRES_URL"),
            Backend::Mysql => Some("TEST_MYSQL_URL"),
        }
    }

    fn base_url(self) -> Option<String> {
        self.env_var()
            .and_then(|var| std::env::var(var).ok())
            .filter(|v| !v.is_empty())
    }

    /// Whether tests for this backend can run here. A missing URL is a visible
    /// skip, and a failure under CI ([`super::skip`]).
    pub fn available(self) -> bool {
        let Some(var) = self.env_var() else {
            return true;
        };
        if self.base_url().is_some() {
            return true;
        }
        super::skip(var);
        false
    }

    /// A fresh database for one test (None for SQLite, which uses a temp file).
    pub async fn scratch(self) -> Option<ScratchDatabase> {
        let base = self.base_url()?;
        let name = format!(
            "natter_t_{}_{}",
            std::process::id(),
            natter::secrets::random_token(10).to_lowercase()
        );
        let admin = Database::connect(&base).await.expect("admin connection");
        let create = match self {
            Backend::Postgres => format!("CREATE DATABASE {name}"),
            _ => format!("CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"),
        };
        admin
            .execute_unprepared(&create)
            .await
            .expect("create scratch database");
        let _ = admin.close().await;
        Some(ScratchDatabase {
            url: replace_database(&base, &name),
            admin_url: base,
            name,
            backend: self,
        })
    }
}

/// `scheme://user@host:port/<db>?query` with another database name.
fn replace_database(url: &str, name: &str) -> String {
    let (without_query, query) = match url.split_once('?') {
        Some((u, q)) => (u, Some(q)),
        None => (url, None),
    };
    let scheme_end = without_query.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match without_query[scheme_end..].find('/') {
        Some(slash) => &without_query[..scheme_end + slash],
        None => without_query,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

pub struct ScratchDatabase {
    pub url: String,
    admin_url: String,
    name: String,
    backend: Backend,
}

impl Drop for ScratchDatabase {
    /// Drops the database from a thread of its own: Drop cannot await, and the
    /// test's runtime may be shutting down.
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let statement = match self.backend {
            Backend::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            _ => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(admin) = Database::connect(&admin_url).await {
                    let _ = admin.execute_unprepared(&statement).await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

#[test]
fn replaces_the_database_name() {
    assert_eq!(
        replace_database("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        replace_database("mysql://root@127.0.0.1:3306/test?ssl-mode=disabled", "y"),
        "mysql://root@127.0.0.1:3306/y?ssl-mode=disabled"
    );
}
