//! `/metrics` (the Python units' names: `shop/core/metrics.py`) and the JSON line per
//! request on stdout (`shop/core/logs.py`).

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE",
];

pub struct Metrics {
    unit: String,
    registry: Registry,
    requests: IntCounterVec,
    seconds: HistogramVec,
}

/// The method as a label: the standard ones as they are, anything else `other`.
pub fn method_label(method: &str) -> &str {
    if METHODS.contains(&method) {
        method
    } else {
        "other"
    }
}

impl Metrics {
    pub fn new(unit: &str) -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "twinshop_requests_total",
                "Requests answered, by route template (or upstream), method and status.",
            ),
            &["unit", "route", "method", "status"],
        )
        .expect("valid counter");
        let seconds = HistogramVec::new(
            HistogramOpts::new(
                "twinshop_request_seconds",
                "Time from request to the end of the answer, in seconds.",
            )
            .buckets(BUCKETS.to_vec()),
            &["unit", "route", "method"],
        )
        .expect("valid histogram");
        registry
            .register(Box::new(requests.clone()))
            .expect("registered once");
        registry
            .register(Box::new(seconds.clone()))
            .expect("registered once");
        Metrics {
            unit: unit.into(),
            registry,
            requests,
            seconds,
        }
    }

    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        self.requests
            .with_label_values(&[self.unit.as_str(), route, method, status.as_str()])
            .inc();
        self.seconds
            .with_label_values(&[self.unit.as_str(), route, method])
            .observe(seconds);
    }

    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

pub struct RequestLog {
    fixed: String,
    pub enabled: bool,
}

impl RequestLog {
    pub fn new(unit: &str, instance: &str, enabled: bool) -> RequestLog {
        let fixed = format!(
            "\"level\":\"info\",\"unit\":{},\"instance\":{}",
            serde_json::Value::from(unit),
            serde_json::Value::from(instance)
        );
        RequestLog { fixed, enabled }
    }

    /// One finished request: the same line as the Python units write.
    pub fn request(
        &self,
        request_id: &str,
        trace_id: &str,
        method: &str,
        route: &str,
        status: u16,
        seconds: f64,
    ) {
        if !self.enabled {
            return;
        }
        let ms = (seconds * 100_000.0).round() / 100.0;
        let ms = if ms.fract() == 0.0 {
            format!("{ms:.1}")
        } else {
            format!("{ms}")
        };
        let line = format!(
            "{{\"ts\":\"{}\",{},\"request_id\":{},\"trace_id\":{},\"method\":{},\"route\":{},\"status\":{status},\"ms\":{ms}}}\n",
            timestamp(SystemTime::now()),
            self.fixed,
            serde_json::Value::from(request_id),
            serde_json::Value::from(trace_id),
            serde_json::Value::from(method),
            serde_json::Value::from(route),
        );
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
    }
}

/// UTC ISO-8601 with milliseconds: `2026-11-27T15:57:14.123Z`.
pub fn timestamp(now: SystemTime) -> String {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_iso() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_795_034_123);
        assert_eq!(timestamp(t), "2026-11-27T15:57:14.123Z");
    }
}
