//! The HTTP surface: routes, the kernel middleware every answer passes (request id,
//! `X-Served-By`, body limit, chaos, metrics, log line) and the shared error answers.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{json, Value};

use crate::chaos::{self, Chaos};
use crate::config::{Settings, IMPLEMENTATION};
use crate::db::Db;
use crate::telemetry::{self, Metrics, RequestLog};
use crate::traces::{self, Exporter, Finished};
use crate::validate::Errors;
use crate::{products, reservations};

pub struct Shared {
    pub settings: Settings,
    pub db: Db,
    pub chaos: Chaos,
    pub metrics: Metrics,
    pub log: RequestLog,
    pub traces: Exporter,
    served_by: HeaderValue,
    health: Value,
}

pub type AppState = Arc<Shared>;

/// When the request arrived (before injected latency): time budgets count from here.
#[derive(Clone, Copy)]
pub struct Arrived(pub Instant);

const OPENAPI: &str = include_str!("../openapi.json");

pub fn state(settings: Settings, db: Db) -> AppState {
    let health = json!({
        "status": "ok",
        "unit": settings.unit,
        "version": settings.version,
        "instance": settings.instance,
        "impl": IMPLEMENTATION,
    });
    Arc::new(Shared {
        served_by: HeaderValue::from_str(&settings.served_by())
            .unwrap_or_else(|_| HeaderValue::from_static("catalog")),
        metrics: Metrics::new(&settings.unit),
        log: RequestLog::new(&settings.unit, &settings.instance, settings.log_requests),
        traces: if settings.tracing {
            Exporter::start(
                &settings.otlp_endpoint,
                &settings.unit,
                &settings.instance,
                &settings.version,
            )
        } else {
            Exporter::default()
        },
        chaos: Chaos::default(),
        health,
        settings,
        db,
    })
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/_chaos", get(read_chaos).put(set_chaos))
        .route("/products", get(products::list).post(products::create))
        .route(
            "/products/{product_id}",
            get(products::one).patch(products::update),
        )
        .route(
            "/reservations/{order_id}",
            axum::routing::put(reservations::reserve).delete(reservations::release),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), kernel))
        .with_state(state)
}

// -- answers ---------------------------------------------------------------------------

pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub fn detail(status: StatusCode, message: &str) -> Response {
    json_response(status, &json!({ "detail": message }))
}

pub fn invalid(errors: Errors) -> Response {
    json_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        &json!({ "detail": errors.0 }),
    )
}

pub fn internal(error: impl std::fmt::Display) -> Response {
    eprintln!(
        "{{\"level\":\"error\",\"message\":{}}}",
        Value::from(error.to_string())
    );
    detail(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

/// The request's `Content-Type`, when it has a readable one.
pub fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("?"))
}

async fn not_found() -> Response {
    detail(StatusCode::NOT_FOUND, "Not Found")
}

/// `Authorization: Bearer <admin token>`, compared in constant time; `Some(401)` if not.
pub fn refuse_unless_admin(state: &Shared, headers: &HeaderMap) -> Option<Response> {
    let token = state.settings.admin_token.as_bytes();
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, given)| given.trim().as_bytes());
    let ok = match given {
        Some(given) if !token.is_empty() && given.len() == token.len() => {
            given
                .iter()
                .zip(token)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
        }
        _ => false,
    };
    if ok {
        return None;
    }
    let mut response = detail(StatusCode::UNAUTHORIZED, "admin token missing or wrong");
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    Some(response)
}

/// The whole body, at most `TWINSHOP_MAX_BODY_BYTES` (a 413 past that).
pub async fn read_body(state: &Shared, body: Body) -> Result<Bytes, Response> {
    let limit = state.settings.max_body_bytes;
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(detail(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body over {limit} bytes"),
        )),
        Err(e) => Err(detail(
            StatusCode::BAD_REQUEST,
            &format!("could not read the body: {e}"),
        )),
    }
}

// -- the kernel's routes ---------------------------------------------------------------

async fn health(State(state): State<AppState>) -> Response {
    json_response(StatusCode::OK, &state.health)
}

async fn ready(State(state): State<AppState>) -> Response {
    if state.db.works().await {
        json_response(StatusCode::OK, &json!({"status": "ready"}))
    } else {
        detail(StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(telemetry::CONTENT_TYPE),
    );
    response
}

async fn openapi() -> Response {
    let mut response = OPENAPI.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn read_chaos(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(refused) = refuse_unless_admin(&state, &headers) {
        return refused;
    }
    if !state.settings.chaos {
        return detail(
            StatusCode::NOT_FOUND,
            "chaos is disabled (set TWINSHOP_CHAOS=1)",
        );
    }
    json_response(StatusCode::OK, &state.chaos.toggles())
}

async fn set_chaos(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    if let Some(refused) = refuse_unless_admin(&state, &headers) {
        return refused;
    }
    let bytes = match read_body(&state, body).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    let mut errors = Errors::default();
    let update = crate::validate::json_body(&bytes, content_type(&headers), &mut errors)
        .and_then(|value| chaos::parse_update(&value, &mut errors));
    let Some(update) = update else {
        return invalid(errors);
    };
    if !state.settings.chaos {
        return detail(
            StatusCode::NOT_FOUND,
            "chaos is disabled (set TWINSHOP_CHAOS=1)",
        );
    }
    match state.chaos.apply(update) {
        Ok(toggles) => json_response(StatusCode::OK, &toggles),
        Err(message) => detail(StatusCode::UNPROCESSABLE_ENTITY, &message),
    }
}

// -- the middleware --------------------------------------------------------------------

fn request_id(headers: &HeaderMap) -> String {
    let given = headers.get("x-request-id").and_then(|v| v.to_str().ok());
    match given {
        Some(v)
            if !v.is_empty() && v.len() <= 200 && v.bytes().all(|b| (b' '..=b'~').contains(&b)) =>
        {
            v.to_string()
        }
        _ => {
            let bytes: [u8; 16] = rand::random();
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        }
    }
}

/// Every request: id, served-by, body limit, chaos, then the handler; counted and logged.
async fn kernel(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let start = Instant::now();
    let path = request.uri().path().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "other".into());
    let method = telemetry::method_label(request.method().as_str()).to_string();
    let rid = request_id(request.headers());
    let began = SystemTime::now();
    let incoming = if state.settings.tracing {
        let given = request
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok());
        traces::parse(given)
    } else {
        None
    };
    request.extensions_mut().insert(Arrived(start));
    let too_large = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .map(|v| {
            let text = v.to_str().unwrap_or("x");
            !text.bytes().all(|b| b.is_ascii_digit())
                || text.is_empty()
                || text
                    .parse::<u128>()
                    .map_or(true, |n| n > state.settings.max_body_bytes as u128)
        })
        .unwrap_or(false);
    let mut response = if too_large {
        detail(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
    } else {
        let mut injected = None;
        if !chaos::SPARED.iter().any(|p| path.starts_with(p)) {
            let toggles = state.chaos.now();
            if toggles.latency_ms > 0 {
                tokio::time::sleep(Duration::from_millis(toggles.latency_ms as u64)).await;
            }
            if toggles.error_rate > 0.0 && rand::random::<f64>() < toggles.error_rate {
                injected = Some(detail(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "chaos: injected error",
                ));
            }
        }
        match injected {
            Some(response) => response,
            // FastAPI's GET routes do not answer HEAD (axum's would).
            None if request.method() == Method::HEAD && route != "other" => {
                detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
            }
            None => {
                let is_head = request.method() == Method::HEAD;
                let response = next.run(request).await;
                if response.status() == StatusCode::METHOD_NOT_ALLOWED && !is_head {
                    method_not_allowed(response)
                } else {
                    response
                }
            }
        }
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&rid) {
        headers.insert("x-request-id", value);
    }
    headers.insert("x-served-by", state.served_by.clone());
    if path != "/metrics" {
        let seconds = start.elapsed().as_secs_f64();
        let status = response.status().as_u16();
        state.metrics.observe(&route, &method, status, seconds);
        let trace_id = match &incoming {
            Some(caller) => {
                state.traces.finished(Finished {
                    incoming: caller,
                    method: &method,
                    route: &route,
                    status,
                    start: began,
                    end: SystemTime::now(),
                });
                caller.trace_id.clone()
            }
            None if state.settings.tracing
                && !chaos::SPARED.iter().any(|p| path.starts_with(p)) =>
            {
                traces::random_id(16)
            }
            None => String::new(),
        };
        state
            .log
            .request(&rid, &trace_id, &method, &route, status, seconds);
    }
    response
}

/// axum's 405 has no body; Starlette's says `{"detail": "Method Not Allowed"}`.
fn method_not_allowed(response: Response) -> Response {
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut out = detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    if let Some(allow) = allow {
        out.headers_mut().insert(header::ALLOW, allow);
    }
    out
}
