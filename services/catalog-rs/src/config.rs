//! Settings from the environment (`TWINSHOP_` prefix), read once at start-up: the same
//! variables as the Python units' `shop/kernel/config.py`, secrets as files included.

use std::env;
use std::fs;

pub const IMPLEMENTATION: &str = "rust";

#[derive(Clone, Debug)]
pub struct Settings {
    pub unit: String,
    pub instance: String,
    pub version: String,
    pub database_url: String,
    pub admin_token: String,
    pub chaos: bool,
    pub seed_products: i64,
    pub seed_stock: i64,
    pub max_body_bytes: usize,
    pub log_requests: bool,
    /// Trace ids in the log, spans of recorded traces exported (`TWINSHOP_TRACING`).
    pub tracing: bool,
    /// Where spans go (`OTEL_EXPORTER_OTLP_ENDPOINT`; empty: nowhere).
    pub otlp_endpoint: String,
    pub host: String,
    pub port: u16,
}

fn var(name: &str) -> Option<String> {
    env::var(format!("TWINSHOP_{name}")).ok()
}

fn flag(name: &str, default: bool) -> bool {
    match var(name) {
        None => default,
        Some(v) => !matches!(
            v.trim().to_lowercase().as_str(),
            "0" | "false" | "no" | "off" | ""
        ),
    }
}

fn number<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match var(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("TWINSHOP_{name} must be a number, not {v:?}")),
    }
}

fn secret(value: Option<String>, file: Option<String>) -> Result<String, String> {
    match (
        value.filter(|v| !v.is_empty()),
        file.filter(|f| !f.is_empty()),
    ) {
        (Some(v), _) => Ok(v),
        (None, Some(path)) => fs::read_to_string(&path)
            .map(|s| s.trim().to_string())
            .map_err(|e| format!("cannot read {path}: {e}")),
        (None, None) => Ok(String::new()),
    }
}

impl Settings {
    /// `args`: `--host H --port P` (the process runtime passes them; docker uses the
    /// defaults or `TWINSHOP_HOST` / `TWINSHOP_PORT`).
    pub fn from_env(args: &[String]) -> Result<Settings, String> {
        let mut host = var("HOST").unwrap_or_else(|| "0.0.0.0".into());
        let mut port: u16 = number("PORT", 8000)?;
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--host" => host = it.next().ok_or("--host needs a value")?.clone(),
                "--port" => {
                    let value = it.next().ok_or("--port needs a value")?;
                    port = value.parse().map_err(|_| format!("bad --port {value:?}"))?;
                }
                other => {
                    return Err(format!(
                        "unknown argument {other:?} (use --host H --port P)"
                    ))
                }
            }
        }
        let mut database_url =
            var("DATABASE_URL").unwrap_or_else(|| "sqlite:///./twinshop.db".into());
        let password = secret(None, var("DATABASE_PASSWORD_FILE"))?;
        if !password.is_empty() {
            database_url = with_password(&database_url, &password);
        }
        Ok(Settings {
            unit: var("UNIT").unwrap_or_else(|| "catalog".into()),
            instance: var("INSTANCE")
                .filter(|v| !v.is_empty())
                .unwrap_or_else(default_instance),
            version: var("VERSION").unwrap_or_else(|| "1".into()),
            database_url,
            admin_token: secret(var("ADMIN_TOKEN"), var("ADMIN_TOKEN_FILE"))?,
            chaos: flag("CHAOS", false),
            seed_products: number("SEED_PRODUCTS", 100)?,
            seed_stock: number("SEED_STOCK", 1000)?,
            max_body_bytes: number("MAX_BODY_BYTES", 64 * 1024)?,
            log_requests: flag("LOG_REQUESTS", true),
            tracing: flag("TRACING", true),
            otlp_endpoint: env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
                .ok()
                .or_else(|| var("OTLP_ENDPOINT"))
                .unwrap_or_default(),
            host,
            port,
        })
    }

    /// `unit/instance@vVERSION`, the `X-Served-By` of every answer.
    pub fn served_by(&self) -> String {
        format!("{}/{}@v{}", self.unit, self.instance, self.version)
    }
}

/// `postgresql+psycopg://user@host/db` with the password put in (percent-encoded).
fn with_password(url: &str, password: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, after)) = rest.split_once('@') else {
        return url.to_string();
    };
    let user = userinfo.split(':').next().unwrap_or("");
    let encoded: String = password
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("{scheme}://{user}:{encoded}@{after}")
}

/// The container id in docker (its hostname), `<host>-<pid>` elsewhere.
fn default_instance() -> String {
    let host = fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .unwrap_or_else(|_| "localhost".into());
    let host = host.trim().split('.').next().unwrap_or("").to_string();
    if host.len() == 12
        && host
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return host;
    }
    let short: String = host.chars().take(12).collect();
    format!("{short}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_goes_into_the_url() {
        assert_eq!(
            with_password("postgresql+psycopg://twinshop@db:5432/catalog", "a b"),
            "postgresql+psycopg://twinshop:a%20b@db:5432/catalog"
        );
    }
}
