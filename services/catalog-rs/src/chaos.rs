//! Fault toggles for experiments (`shop/kernel/chaos.py`): added latency, an error rate and
//! crash points. `PUT /_chaos` (admin token) sets them when `TWINSHOP_CHAOS=1`.

use std::sync::Mutex;

use serde_json::{json, Map, Value};

use crate::validate::{self, Errors};

/// The boundaries of catalog's flows where dying changes what happens next: the change
/// is committed, the answer not yet sent.
pub const POINTS: [&str; 2] = ["after_reserve", "after_release"];
/// Paths that latency and injected errors spare.
pub const SPARED: [&str; 4] = ["/health", "/ready", "/_chaos", "/metrics"];

#[derive(Clone, Debug, Default)]
pub struct Toggles {
    pub latency_ms: i64,
    pub error_rate: f64,
    pub crash_at: String,
}

#[derive(Default)]
pub struct Chaos(Mutex<Toggles>);

pub struct Update {
    latency_ms: Option<i64>,
    error_rate: Option<f64>,
    crash_at: Option<String>,
    crash_on_checkout: Option<bool>,
}

impl Chaos {
    pub fn now(&self) -> Toggles {
        self.0.lock().map(|t| t.clone()).unwrap_or_default()
    }

    pub fn toggles(&self) -> Value {
        let t = self.now();
        json!({
            "latency_ms": t.latency_ms,
            "error_rate": t.error_rate,
            "crash_at": t.crash_at,
            "crash_on_checkout": t.crash_at == "after_reserve",
            "crash_points": POINTS,
        })
    }

    /// Called by a flow at `point`: die there if it is armed.
    pub fn crash(&self, point: &str) {
        if self.now().crash_at == point {
            die();
        }
    }

    /// Apply an update; `Err(message)` for an unknown crash point (a 422).
    pub fn apply(&self, update: Update) -> Result<Value, String> {
        let mut crash_at = update.crash_at;
        if let Some(on) = update.crash_on_checkout {
            crash_at = Some(if on {
                "after_reserve".into()
            } else {
                String::new()
            });
        }
        if let Some(point) = &crash_at {
            if !point.is_empty() && !POINTS.contains(&point.as_str()) {
                return Err(format!(
                    "unknown crash point {}; this unit has: {}",
                    validate::py_repr(point),
                    POINTS.join(", ")
                ));
            }
        }
        if let Ok(mut t) = self.0.lock() {
            if let Some(v) = update.latency_ms {
                t.latency_ms = v;
            }
            if let Some(v) = update.error_rate {
                t.error_rate = v;
            }
            if let Some(v) = crash_at {
                t.crash_at = v;
            }
        }
        Ok(self.toggles())
    }
}

/// Die like a segfault would: no clean-up, no answer.
pub fn die() -> ! {
    if std::process::id() == 1 {
        // A container's init ignores the signals it sends itself.
        unsafe { libc::_exit(137) }
    }
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    std::process::abort()
}

/// `ChaosUpdate`: lax types, as pydantic reads them without `strict`.
pub fn parse_update(body: &Value, errors: &mut Errors) -> Option<Update> {
    let base = validate::loc(&["body"]);
    let map: &Map<String, Value> = validate::object(body, &base, errors)?;
    let here = |name: &str| vec![Value::from("body"), Value::from(name)];
    let mut update = Update {
        latency_ms: None,
        error_rate: None,
        crash_at: None,
        crash_on_checkout: None,
    };
    match map.get("latency_ms") {
        None | Some(Value::Null) => {}
        Some(v) => {
            let here = here("latency_ms");
            let parsed = match v {
                Value::Number(n) if validate::integer_literal(n) => {
                    Ok(n.as_i64().unwrap_or(if n.to_string().starts_with('-') {
                        i64::MIN
                    } else {
                        i64::MAX
                    }))
                }
                Value::Number(n) => match n.as_f64() {
                    Some(f) if f.fract() == 0.0 => Ok(f as i64),
                    _ => Err((
                        "int_from_float",
                        "Input should be a valid integer, got a number with a fractional part",
                    )),
                },
                Value::String(s) => validate::text_int(s)
                    .map(|i| i.unwrap_or(i64::MAX))
                    .map_err(|()| {
                        (
                            "int_parsing",
                            "Input should be a valid integer, unable to parse string as an integer",
                        )
                    }),
                Value::Bool(b) => Ok(i64::from(*b)),
                _ => Err(("int_type", "Input should be a valid integer")),
            };
            match parsed {
                Err((kind, msg)) => errors.add(kind, here, msg.into(), v.clone()),
                Ok(ms) if ms < 0 => errors.add(
                    "greater_than_equal",
                    here,
                    "Input should be greater than or equal to 0".into(),
                    v.clone(),
                ),
                Ok(ms) if ms > 60_000 => errors.add(
                    "less_than_equal",
                    here,
                    "Input should be less than or equal to 60000".into(),
                    v.clone(),
                ),
                Ok(ms) => update.latency_ms = Some(ms),
            }
        }
    }
    match map.get("error_rate") {
        None | Some(Value::Null) => {}
        Some(v) => {
            let here = here("error_rate");
            let parsed = match v {
                Value::Number(n) => n
                    .as_f64()
                    .ok_or(("float_type", "Input should be a valid number")),
                Value::String(s) => s.trim().parse::<f64>().map_err(|_| {
                    (
                        "float_parsing",
                        "Input should be a valid number, unable to parse string as a number",
                    )
                }),
                Value::Bool(b) => Ok(f64::from(u8::from(*b))),
                _ => Err(("float_type", "Input should be a valid number")),
            };
            match parsed {
                Err((kind, msg)) => errors.add(kind, here, msg.into(), v.clone()),
                Ok(r) if r.is_nan() || r < 0.0 => errors.add(
                    "greater_than_equal",
                    here,
                    "Input should be greater than or equal to 0".into(),
                    v.clone(),
                ),
                Ok(r) if r > 1.0 => errors.add(
                    "less_than_equal",
                    here,
                    "Input should be less than or equal to 1".into(),
                    v.clone(),
                ),
                Ok(r) => update.error_rate = Some(r),
            }
        }
    }
    match map.get("crash_at") {
        None | Some(Value::Null) => {}
        Some(v @ Value::String(s)) => {
            update.crash_at =
                validate::string_rules_plain(s, 64, here("crash_at"), v.clone(), errors)
        }
        Some(v) => errors.add(
            "string_type",
            here("crash_at"),
            "Input should be a valid string".into(),
            v.clone(),
        ),
    }
    match map.get("crash_on_checkout") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => update.crash_on_checkout = Some(*b),
        Some(v) => {
            let parsed = match v {
                Value::Number(n) if n.as_i64() == Some(0) => Some(false),
                Value::Number(n) if n.as_i64() == Some(1) => Some(true),
                Value::String(s) => match s.trim().to_lowercase().as_str() {
                    "0" | "off" | "f" | "false" | "n" | "no" => Some(false),
                    "1" | "on" | "t" | "true" | "y" | "yes" => Some(true),
                    _ => None,
                },
                _ => None,
            };
            match parsed {
                Some(b) => update.crash_on_checkout = Some(b),
                None => errors.add(
                    "bool_parsing",
                    here("crash_on_checkout"),
                    "Input should be a valid boolean, unable to interpret input".into(),
                    v.clone(),
                ),
            }
        }
    }
    validate::no_extras(
        map,
        &["latency_ms", "error_rate", "crash_at", "crash_on_checkout"],
        &base,
        errors,
    );
    if errors.is_empty() {
        Some(update)
    } else {
        None
    }
}
