//! The public API, `/products`: browse anonymously; create and change with the admin token.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use crate::app::{self, AppState};
use crate::store;
use crate::validate::{self, Errors};

const MAX_OFFSET: i64 = 1_000_000_000;
const MAX_PRICE_CENTS: i64 = 100_000_000;
const MAX_STOCK: i64 = 1_000_000_000;

/// The last value of each query parameter (Starlette's `request.query_params[name]`).
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    let query = query?;
    let mut found = None;
    for part in query.split('&') {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        if decode_query(key) == name {
            found = Some(decode_query(value));
        }
    }
    found
}

fn decode_query(text: &str) -> String {
    validate::percent_decode(&text.replace('+', " "))
}

fn int_query(
    query: Option<&str>,
    name: &str,
    default: i64,
    (ge, le): (i64, i64),
    errors: &mut Errors,
) -> i64 {
    let Some(text) = query_param(query, name) else {
        return default;
    };
    let here = validate::loc(&["query", name]);
    match validate::text_int(&text) {
        Err(()) => validate::int_parsing(here, &text, errors),
        Ok(Some(v)) if v < ge => errors.add(
            "greater_than_equal",
            here,
            format!("Input should be greater than or equal to {ge}"),
            Value::from(text),
        ),
        Ok(Some(v)) if v <= le => return v,
        Ok(_) => errors.add(
            "less_than_equal",
            here,
            format!("Input should be less than or equal to {le}"),
            Value::from(text),
        ),
    }
    default
}

pub async fn list(State(state): State<AppState>, request: Request) -> Response {
    let query = request.uri().query();
    let mut errors = Errors::default();
    let q = query_param(query, "q").and_then(|q| {
        let here = validate::loc(&["query", "q"]);
        validate::string_rules(&q, (0, 200), here, Value::from(q.clone()), &mut errors)
    });
    let limit = int_query(query, "limit", 20, (1, 100), &mut errors);
    let offset = int_query(query, "offset", 0, (0, MAX_OFFSET), &mut errors);
    if !errors.is_empty() {
        return app::invalid(errors);
    }
    let page = async {
        let mut tx = state.db.read().await?;
        let page = store::search(&mut tx, q.as_deref(), limit, offset).await?;
        tx.rollback().await?;
        Ok::<_, sqlx::Error>(page)
    }
    .await;
    match page {
        Ok((items, total)) => {
            app::json_response(StatusCode::OK, &json!({"items": items, "total": total}))
        }
        Err(e) => app::internal(e),
    }
}

/// The `{product_id}` path parameter: `Ok((id, as Python prints it))` or the 422 errors.
fn product_id(request: &Request, errors: &mut Errors) -> Option<(Option<i64>, String)> {
    let raw = request.uri().path().rsplit('/').next().unwrap_or("");
    let text = validate::percent_decode(raw);
    match validate::text_int(&text) {
        Ok(id) => Some((id, validate::normalized_int(&text))),
        Err(()) => {
            validate::int_parsing(validate::loc(&["path", "product_id"]), &text, errors);
            None
        }
    }
}

fn not_found(shown: &str) -> Response {
    app::detail(StatusCode::NOT_FOUND, &format!("product {shown} not found"))
}

pub async fn one(State(state): State<AppState>, request: Request) -> Response {
    let mut errors = Errors::default();
    let Some((id, shown)) = product_id(&request, &mut errors) else {
        return app::invalid(errors);
    };
    let Some(id) = id else {
        return not_found(&shown);
    };
    let found = async {
        let mut conn = state.db.pool.acquire().await?;
        store::get_product(&mut conn, id).await
    }
    .await;
    match found {
        Ok(Some(product)) => app::json_response(StatusCode::OK, &json!(product)),
        Ok(None) => not_found(&shown),
        Err(e) => app::internal(e),
    }
}

pub async fn create(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    if let Some(refused) = app::refuse_unless_admin(&state, &headers) {
        return refused;
    }
    let bytes = match app::read_body(&state, body).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    let mut errors = Errors::default();
    let base = validate::loc(&["body"]);
    let fields =
        validate::json_body(&bytes, app::content_type(&headers), &mut errors).and_then(|value| {
            let map = validate::object(&value, &base, &mut errors)?.clone();
            let sku = validate::clean_str(&map, "sku", (1, 64), &base, &mut errors);
            let name = validate::clean_str(&map, "name", (1, 200), &base, &mut errors);
            let price = validate::strict_int(
                &map,
                "price_cents",
                (0, MAX_PRICE_CENTS),
                false,
                &base,
                &mut errors,
            );
            let stock =
                validate::strict_int(&map, "stock", (0, MAX_STOCK), false, &base, &mut errors);
            validate::no_extras(
                &map,
                &["sku", "name", "price_cents", "stock"],
                &base,
                &mut errors,
            );
            Some((sku?, name?, price??, stock??))
        });
    let Some((sku, name, price, stock)) = fields.filter(|_| errors.is_empty()) else {
        return app::invalid(errors);
    };
    let added = async {
        let mut tx = state.db.write().await?;
        let product = store::add_product(&mut tx, &sku, &name, price, stock).await?;
        if product.is_some() {
            tx.commit().await?;
        }
        Ok::<_, sqlx::Error>(product)
    }
    .await;
    match added {
        Ok(Some(product)) => app::json_response(StatusCode::CREATED, &json!(product)),
        Ok(None) => app::detail(
            StatusCode::CONFLICT,
            &format!(
                "a product with sku {} already exists",
                validate::py_repr(&sku)
            ),
        ),
        Err(e) => app::internal(e),
    }
}

pub async fn update(State(state): State<AppState>, request: Request) -> Response {
    if let Some(refused) = app::refuse_unless_admin(&state, request.headers()) {
        return refused;
    }
    let mut errors = Errors::default();
    let id = product_id(&request, &mut errors);
    let kind = app::content_type(request.headers()).map(str::to_string);
    let bytes = match app::read_body(&state, request.into_body()).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    let base = validate::loc(&["body"]);
    let fields = validate::json_body(&bytes, kind.as_deref(), &mut errors).and_then(|value| {
        let map = validate::object(&value, &base, &mut errors)?.clone();
        let price = validate::strict_int(
            &map,
            "price_cents",
            (0, MAX_PRICE_CENTS),
            true,
            &base,
            &mut errors,
        );
        let stock = validate::strict_int(&map, "stock", (0, MAX_STOCK), true, &base, &mut errors);
        validate::no_extras(&map, &["price_cents", "stock"], &base, &mut errors);
        Some((price?, stock?))
    });
    let (Some((id, shown)), Some((price, stock))) = (id, fields.filter(|_| errors.is_empty()))
    else {
        return app::invalid(errors);
    };
    let Some(id) = id else {
        return not_found(&shown);
    };
    let changed = async {
        let mut tx = state.db.write().await?;
        let product = store::update_product(&mut tx, id, price, stock).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(product)
    }
    .await;
    match changed {
        Ok(Some(product)) => app::json_response(StatusCode::OK, &json!(product)),
        Ok(None) => not_found(&shown),
        Err(e) => app::internal(e),
    }
}
