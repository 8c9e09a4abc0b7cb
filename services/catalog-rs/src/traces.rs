//! Distributed tracing, as the Python units do it (`shop/core/otel.py`), without an
//! OpenTelemetry crate: the caller's W3C `traceparent` is honoured (its trace id goes in the
//! log line), and when the caller recorded its trace, this catalog's server span is exported
//! in OTLP/JSON (`POST {OTEL_EXPORTER_OTLP_ENDPOINT}/v1/traces`, the protocol's JSON
//! encoding), in one batch a second. The catalog is always called by the edge or by orders,
//! so it starts no trace of its own; `TWINSHOP_TRACING=0` turns it off.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

const TIMEOUT: Duration = Duration::from_secs(2);
const MAX_HELD: usize = 2048; // spans held for the next batch at most

/// What a caller's `traceparent` says.
pub struct Incoming {
    pub trace_id: String,
    pub parent: String,
    pub sampled: bool,
}

/// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>` (None when absent or invalid).
pub fn parse(value: Option<&str>) -> Option<Incoming> {
    let parts: Vec<&str> = value?.trim().split('-').collect();
    if parts.len() < 4 || parts[0].len() != 2 || parts[0] == "ff" {
        return None;
    }
    let (trace, parent, flags) = (parts[1], parts[2], parts[3]);
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    let zero = |s: &str| s.bytes().all(|b| b == b'0');
    if !hex(trace, 32) || !hex(parent, 16) || !hex(flags, 2) || zero(trace) || zero(parent) {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some(Incoming {
        trace_id: trace.to_ascii_lowercase(),
        parent: parent.to_ascii_lowercase(),
        sampled: flags & 1 == 1,
    })
}

pub fn random_id(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// One finished server span.
pub struct Finished<'a> {
    pub incoming: &'a Incoming,
    pub method: &'a str,
    pub route: &'a str,
    pub status: u16,
    pub start: SystemTime,
    pub end: SystemTime,
}

#[derive(Clone, Default)]
pub struct Exporter {
    held: Option<Arc<Mutex<Vec<Value>>>>,
}

impl Exporter {
    /// An exporter to `endpoint` (`http://host:port`, `/v1/traces` added), sending once a
    /// second from a task of the current tokio runtime; off without an endpoint.
    pub fn start(endpoint: &str, unit: &str, instance: &str, version: &str) -> Exporter {
        let Some((address, host, path)) = target(endpoint) else {
            return Exporter::default();
        };
        let held = Arc::new(Mutex::new(Vec::new()));
        let resource = json!({"attributes": [
            attribute("service.name", unit),
            attribute("service.instance.id", instance),
            attribute("service.version", version),
        ]});
        let pending = held.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let spans: Vec<Value> = std::mem::take(&mut *pending.lock().expect("lock"));
                if spans.is_empty() {
                    continue;
                }
                let body = json!({"resourceSpans": [{
                    "resource": resource,
                    "scopeSpans": [{"scope": {"name": "twinshop.catalog-rs"}, "spans": spans}],
                }]})
                .to_string();
                let (address, host, path) = (address.clone(), host.clone(), path.clone());
                // a collector that is not there costs nothing but the dropped batch
                let _ =
                    tokio::task::spawn_blocking(move || post(&address, &host, &path, &body)).await;
            }
        });
        Exporter { held: Some(held) }
    }

    /// Keep a recorded span for the next batch (a span of an unrecorded trace is dropped).
    pub fn finished(&self, span: Finished) {
        let Some(held) = &self.held else { return };
        if !span.incoming.sampled {
            return;
        }
        let mut held = held.lock().expect("lock");
        if held.len() < MAX_HELD {
            held.push(span_json(&span));
        }
    }
}

fn attribute(key: &str, value: &str) -> Value {
    json!({"key": key, "value": {"stringValue": value}})
}

fn nanos(at: SystemTime) -> String {
    at.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
        .to_string()
}

fn span_json(span: &Finished) -> Value {
    let mut status = json!({});
    if span.status >= 500 {
        status = json!({"code": 2, "message": format!("answered {}", span.status)});
    }
    json!({
        "traceId": span.incoming.trace_id,
        "spanId": random_id(8),
        "parentSpanId": span.incoming.parent,
        "name": format!("{} {}", span.method, span.route),
        "kind": 2,
        "startTimeUnixNano": nanos(span.start),
        "endTimeUnixNano": nanos(span.end),
        "attributes": [
            attribute("http.request.method", span.method),
            attribute("http.route", span.route),
            {"key": "http.response.status_code", "value": {"intValue": span.status.to_string()}},
        ],
        "status": status,
    })
}

/// `http://host:port[/base]` → (address, host header, path of the traces endpoint).
fn target(endpoint: &str) -> Option<(String, String, String)> {
    let rest = endpoint.trim().strip_prefix("http://")?;
    let (authority, base) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return None;
    }
    let address = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let path = if base.ends_with("/v1/traces") {
        base.to_string()
    } else {
        format!("{base}/v1/traces")
    };
    Some((address, authority.to_string(), path))
}

fn post(address: &str, host: &str, path: &str, body: &str) -> std::io::Result<()> {
    let socket = address
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))?;
    let mut stream = TcpStream::connect_timeout(&socket, TIMEOUT)?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_is_read_or_refused() {
        let got = parse(Some(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ))
        .unwrap();
        assert_eq!(got.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(got.parent, "00f067aa0ba902b7");
        assert!(got.sampled);
        let unsampled = parse(Some(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        ));
        assert!(!unsampled.unwrap().sampled);
        assert!(parse(Some(
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01"
        ))
        .is_none());
        assert!(parse(Some("nonsense")).is_none());
        assert!(parse(None).is_none());
    }

    #[test]
    fn the_endpoint_gets_the_traces_path() {
        let (address, host, path) = target("http://127.0.0.1:8090").unwrap();
        assert_eq!(
            (address.as_str(), host.as_str(), path.as_str()),
            ("127.0.0.1:8090", "127.0.0.1:8090", "/v1/traces")
        );
        assert_eq!(
            target("http://dashboard:8000/v1/traces/").unwrap().2,
            "/v1/traces"
        );
        assert_eq!(target("http://jaeger/").unwrap().0, "jaeger:80");
        assert!(target("").is_none() && target("https://x").is_none());
    }
}
