//! twinshop's catalog service in Rust: the same HTTP contract, metrics, logs and database
//! schema as the Python catalog (`services/catalog/app.py`), so replicas of either
//! language can serve side by side on one database.

mod app;
mod chaos;
mod config;
mod db;
mod products;
mod reservations;
mod store;
mod telemetry;
mod traces;
mod validate;

use std::time::Duration;

use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

use crate::config::{Settings, IMPLEMENTATION};
use crate::db::Db;

/// How long in-flight requests may take to finish after SIGTERM.
const GRACE: Duration = Duration::from_secs(10);

fn fail(message: String) -> ! {
    eprintln!("catalog-rs: {message}");
    std::process::exit(1)
}

async fn prepare(settings: &Settings) -> Result<Db, sqlx::Error> {
    let db = Db::connect(&settings.database_url).await?;
    db.create_schema().await?;
    // Two replicas starting together must not seed twice: retry once the other has.
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = async {
            let mut tx = db.write().await?;
            let added = store::seed(&mut tx, settings.seed_products, settings.seed_stock).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(added)
        }
        .await;
        match result {
            Ok(_) => return Ok(db),
            Err(_) if attempt < 3 => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(e) => return Err(e),
        }
    }
}

async fn stopped() {
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    // Finish what is in flight, but not forever.
    tokio::spawn(async {
        tokio::time::sleep(GRACE).await;
        std::process::exit(0);
    });
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let settings = Settings::from_env(&args).unwrap_or_else(|e| fail(e));
    let db = prepare(&settings).await.unwrap_or_else(|e| {
        fail(format!(
            "database {}: {e}",
            redacted(&settings.database_url)
        ))
    });
    let address = format!("{}:{}", settings.host, settings.port);
    let listener = TcpListener::bind(&address)
        .await
        .unwrap_or_else(|e| fail(format!("cannot listen on {address}: {e}")));
    let unit = settings.unit.clone();
    let router = app::router(app::state(settings, db));
    println!("{unit} (impl {IMPLEMENTATION}) listening on http://{address}");
    axum::serve(listener, router)
        .with_graceful_shutdown(stopped())
        .await
        .unwrap_or_else(|e| fail(format!("server: {e}")));
}

/// The database URL without its password, for error messages.
fn redacted(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, rest)), Some(_)) => {
            let (userinfo, host) = rest.rsplit_once('@').unwrap_or(("", rest));
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_string(),
    }
}
