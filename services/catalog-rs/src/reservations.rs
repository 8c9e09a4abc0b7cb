//! The internal API for the orders service: reserve and release stock per order,
//! idempotent by order id (`services/catalog/reservations.py`).

use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use crate::app::{self, AppState, Arrived};
use crate::db;
use crate::store::{self, Line, Outcome, Refusal};
use crate::validate::{self, Errors};

const GAVE_UP: &str = "the caller's deadline passed; nothing was reserved";
const ATTEMPTS: usize = 3;

/// `X-Deadline-Ms`: milliseconds the caller still waits, counted from `arrived`; anything
/// but an integer means no deadline.
pub fn deadline(value: Option<&str>, arrived: Instant) -> Option<Instant> {
    let text = value?.trim();
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let millis: i64 = match text.strip_prefix('+').unwrap_or(text).parse() {
        Ok(m) => m,
        Err(_) if text.starts_with('-') => i64::MIN,
        Err(_) => i64::MAX,
    };
    if millis >= 0 {
        Some(arrived + Duration::from_millis(millis.min(10_i64.pow(12)) as u64))
    } else {
        Some(
            arrived
                .checked_sub(Duration::from_millis(
                    millis.unsigned_abs().min(10_u64.pow(12)),
                ))
                .unwrap_or(arrived),
        )
    }
}

fn passed(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

/// The `{order_id}` path parameter: 1 to 64 characters.
fn order_id(request: &Request, errors: &mut Errors) -> Option<String> {
    let raw = request.uri().path().rsplit('/').next().unwrap_or("");
    let text = validate::percent_decode(raw);
    let here = validate::loc(&["path", "order_id"]);
    let length = text.chars().count();
    if length > 64 {
        errors.add(
            "string_too_long",
            here,
            "String should have at most 64 characters".into(),
            Value::from(text),
        );
        return None;
    }
    if length == 0 {
        errors.add(
            "string_too_short",
            here,
            "String should have at least 1 character".into(),
            Value::from(text),
        );
        return None;
    }
    Some(text)
}

/// `ReservationRequest`: `{"items": [{"product_id": int, "quantity": 1..1000}, …]}` (1..50).
fn lines(value: &Value, errors: &mut Errors) -> Option<Vec<Line>> {
    let base = validate::loc(&["body"]);
    let map = validate::object(value, &base, errors)?;
    let items_loc = vec![Value::from("body"), Value::from("items")];
    let mut out = Vec::new();
    match map.get("items") {
        None => errors.add(
            "missing",
            items_loc,
            "Field required".into(),
            Value::Object(map.clone()),
        ),
        Some(Value::Array(items)) if items.is_empty() => errors.add(
            "too_short",
            items_loc,
            "List should have at least 1 item after validation, not 0".into(),
            Value::Array(items.clone()),
        ),
        Some(Value::Array(items)) if items.len() > 50 => errors.add(
            "too_long",
            items_loc,
            format!(
                "List should have at most 50 items after validation, not {}",
                items.len()
            ),
            Value::Array(items.clone()),
        ),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let mut here = items_loc.clone();
                here.push(Value::from(i));
                let Some(fields) = validate::object(item, &here, errors) else {
                    continue;
                };
                let product_id = validate::strict_any_int(fields, "product_id", &here, errors);
                let quantity =
                    validate::strict_int(fields, "quantity", (1, 1000), false, &here, errors)
                        .flatten();
                validate::no_extras(fields, &["product_id", "quantity"], &here, errors);
                if let (Some(product_id), Some(quantity)) = (product_id, quantity) {
                    out.push(Line {
                        product_id,
                        quantity,
                    });
                }
            }
        }
        Some(other) => errors.add(
            "list_type",
            items_loc,
            "Input should be a valid list".into(),
            other.clone(),
        ),
    }
    validate::no_extras(map, &["items"], &base, errors);
    errors.is_empty().then_some(out)
}

fn refused(refusal: Refusal) -> Response {
    let message = refusal.message();
    match refusal {
        Refusal::Unknown(ids) => app::json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({"detail": message, "product_ids": ids}),
        ),
        Refusal::Insufficient(id) => app::json_response(
            StatusCode::CONFLICT,
            &json!({"detail": message, "product_id": id}),
        ),
        Refusal::Released(_) => app::detail(StatusCode::GONE, &message),
    }
}

enum Reserved {
    Done(store::Reservation),
    Refused(Refusal),
    GaveUp,
}

/// Take the stock of every item, all or nothing (409 names the short product).
pub async fn reserve(State(state): State<AppState>, request: Request) -> Response {
    let arrived = request
        .extensions()
        .get::<Arrived>()
        .map_or_else(Instant::now, |a| a.0);
    let header = request
        .headers()
        .get("x-deadline-ms")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut errors = Errors::default();
    let order = order_id(&request, &mut errors);
    let kind = app::content_type(request.headers()).map(str::to_string);
    let bytes = match app::read_body(&state, request.into_body()).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    let wanted = validate::json_body(&bytes, kind.as_deref(), &mut errors)
        .and_then(|v| lines(&v, &mut errors));
    let (Some(order), Some(wanted)) = (order, wanted.filter(|_| errors.is_empty())) else {
        return app::invalid(errors);
    };
    let mut seen: Vec<i64> = wanted.iter().map(|l| l.product_id).collect();
    seen.sort_unstable();
    seen.dedup();
    if seen.len() != wanted.len() {
        return app::detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "duplicate product_id in items",
        );
    }
    let deadline = deadline(header.as_deref(), arrived);
    if passed(deadline) {
        return app::detail(StatusCode::GATEWAY_TIMEOUT, GAVE_UP);
    }
    // Run to the end even if the caller hangs up: the transaction finishes either way.
    let work = tokio::spawn(async move {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result: Result<Reserved, sqlx::Error> = async {
                let mut tx = state.db.write().await?;
                match store::reserve(&mut tx, &order, &wanted).await? {
                    Outcome::Refused(r) => Ok(Reserved::Refused(r)), // rolled back on drop
                    Outcome::Done(_) if passed(deadline) => Ok(Reserved::GaveUp),
                    Outcome::Done(reservation) => {
                        tx.commit().await?;
                        state.chaos.crash("after_reserve");
                        Ok(Reserved::Done(reservation))
                    }
                }
            }
            .await;
            match result {
                Err(e) if db::is_conflict(&e) && attempt < ATTEMPTS => continue,
                other => return other,
            }
        }
    });
    match work.await {
        Ok(Ok(Reserved::Done(reservation))) => {
            app::json_response(StatusCode::OK, &json!(reservation))
        }
        Ok(Ok(Reserved::Refused(refusal))) => refused(refusal),
        Ok(Ok(Reserved::GaveUp)) => app::detail(StatusCode::GATEWAY_TIMEOUT, GAVE_UP),
        Ok(Err(e)) => app::internal(e),
        Err(e) => app::internal(e),
    }
}

/// Give the stock back (once); a release before any reserve leaves a tombstone.
pub async fn release(State(state): State<AppState>, request: Request) -> Response {
    let mut errors = Errors::default();
    let Some(order) = order_id(&request, &mut errors) else {
        return app::invalid(errors);
    };
    let work = tokio::spawn(async move {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result: Result<bool, sqlx::Error> = async {
                let mut tx = state.db.write().await?;
                let restored = store::release(&mut tx, &order).await?;
                tx.commit().await?;
                Ok(restored)
            }
            .await;
            match result {
                Err(e) if db::is_conflict(&e) && attempt < ATTEMPTS => continue,
                Ok(restored) => {
                    state.chaos.crash("after_release");
                    return Ok((order, restored));
                }
                Err(e) => return Err(e),
            }
        }
    });
    match work.await {
        Ok(Ok((order, restored))) => app::json_response(
            StatusCode::OK,
            &json!({"order_id": order, "status": "released", "restored": restored}),
        ),
        Ok(Err(e)) => app::internal(e),
        Err(e) => app::internal(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_as_python_reads_them() {
        let now = Instant::now();
        assert_eq!(
            deadline(Some(" 250 "), now),
            Some(now + Duration::from_millis(250))
        );
        assert_eq!(
            deadline(Some("+5"), now),
            Some(now + Duration::from_millis(5))
        );
        assert!(deadline(Some("-5"), now).is_some_and(|d| d <= now));
        assert_eq!(deadline(Some("1.5"), now), None);
        assert_eq!(deadline(Some("soon"), now), None);
        assert_eq!(deadline(None, now), None);
    }
}
