//! The database: one pool per process, the same schema as `shop/catalog/sql.py` (SQLite in
//! the process runtime, PostgreSQL in docker), so Python and Rust replicas share it.
//!
//! SQLite writes take the lock when they begin (`BEGIN IMMEDIATE`) so that two concurrent
//! checkouts queue instead of failing with "database is locked", as the Python units do.

use std::time::Duration;

use sqlx::any::{install_default_drivers, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Transaction};

pub type Tx = Transaction<'static, Any>;

#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    sqlite: bool,
}

const SQLITE_SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS products (id INTEGER NOT NULL, sku VARCHAR(64) NOT NULL, \
     name VARCHAR(200) NOT NULL, price_cents BIGINT NOT NULL, stock BIGINT NOT NULL, \
     PRIMARY KEY (id), UNIQUE (sku))",
    "CREATE TABLE IF NOT EXISTS reservations (order_id VARCHAR(64) NOT NULL, \
     status VARCHAR(16) NOT NULL, PRIMARY KEY (order_id))",
    "CREATE TABLE IF NOT EXISTS reservation_lines (order_id VARCHAR(64) NOT NULL, \
     product_id INTEGER NOT NULL, quantity INTEGER NOT NULL, unit_price_cents BIGINT NOT NULL, \
     PRIMARY KEY (order_id, product_id), FOREIGN KEY(order_id) REFERENCES reservations (order_id))",
];

const POSTGRES_SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS products (id SERIAL NOT NULL, sku VARCHAR(64) NOT NULL, \
     name VARCHAR(200) NOT NULL, price_cents BIGINT NOT NULL, stock BIGINT NOT NULL, \
     PRIMARY KEY (id), UNIQUE (sku))",
    "CREATE TABLE IF NOT EXISTS reservations (order_id VARCHAR(64) NOT NULL, \
     status VARCHAR(16) NOT NULL, PRIMARY KEY (order_id))",
    "CREATE TABLE IF NOT EXISTS reservation_lines (order_id VARCHAR(64) NOT NULL, \
     product_id INTEGER NOT NULL, quantity INTEGER NOT NULL, unit_price_cents BIGINT NOT NULL, \
     PRIMARY KEY (order_id, product_id), FOREIGN KEY(order_id) REFERENCES reservations (order_id))",
];

/// SQLAlchemy's URL (`sqlite:///path`, `postgresql+psycopg://…`) as sqlx reads it.
pub fn sqlx_url(url: &str) -> String {
    if let Some(path) = url.strip_prefix("sqlite:///") {
        // SQLAlchemy: three slashes and a relative path, four for an absolute one.
        return format!("sqlite://{path}?mode=rwc");
    }
    if let Some((scheme, rest)) = url.split_once("://") {
        if scheme.starts_with("postgresql") || scheme.starts_with("postgres") {
            return format!("postgres://{rest}");
        }
    }
    url.to_string()
}

impl Db {
    pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
        install_default_drivers();
        let sqlite = url.starts_with("sqlite");
        if let Some(path) = url.strip_prefix("sqlite:///") {
            if let Some(parent) = std::path::Path::new(path).parent() {
                let _ = std::fs::create_dir_all(parent);
            }
        }
        let options = AnyPoolOptions::new()
            .max_connections(if sqlite { 8 } else { 10 })
            .acquire_timeout(Duration::from_secs(30));
        let options = if sqlite {
            options.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode=WAL").await?;
                    conn.execute("PRAGMA synchronous=NORMAL").await?;
                    conn.execute("PRAGMA busy_timeout=30000").await?;
                    Ok(())
                })
            })
        } else {
            options
        };
        let pool = options.connect_lazy(&sqlx_url(url))?;
        Ok(Db { pool, sqlite })
    }

    /// Create missing tables; tolerate a replica doing the same at the same moment.
    pub async fn create_schema(&self) -> Result<(), sqlx::Error> {
        let statements = if self.sqlite {
            SQLITE_SCHEMA
        } else {
            POSTGRES_SCHEMA
        };
        let mut attempt = 0;
        loop {
            let result = async {
                let mut tx = self.write().await?;
                for statement in statements {
                    tx.execute(*statement).await?;
                }
                tx.commit().await
            }
            .await;
            match result {
                Ok(()) => return Ok(()),
                Err(_) if attempt < 4 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A write transaction (SQLite: the write lock taken at once).
    pub async fn write(&self) -> Result<Tx, sqlx::Error> {
        if self.sqlite {
            self.pool.begin_with("BEGIN IMMEDIATE").await
        } else {
            self.pool.begin().await
        }
    }

    /// A read transaction: one consistent view for the queries of one answer.
    pub async fn read(&self) -> Result<Tx, sqlx::Error> {
        self.pool.begin().await
    }

    /// `/ready`: can we run a query right now?
    pub async fn works(&self) -> bool {
        let query = sqlx::query("SELECT 1").execute(&self.pool);
        matches!(
            tokio::time::timeout(Duration::from_secs(5), query).await,
            Ok(Ok(_))
        )
    }
}

/// A concurrent writer made this hit a unique constraint: the work may be run again.
pub fn is_conflict(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(e) => e.is_unique_violation(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlalchemy_urls_become_sqlx_urls() {
        assert_eq!(
            sqlx_url("sqlite:////tmp/a.db"),
            "sqlite:///tmp/a.db?mode=rwc"
        );
        assert_eq!(
            sqlx_url("postgresql+psycopg://u:p@db:5432/catalog"),
            "postgres://u:p@db:5432/catalog"
        );
    }
}
