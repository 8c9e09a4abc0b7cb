//! The catalog's rules and queries: the Rust twin of `shop/catalog/services.py` and
//! `shop/catalog/sql.py`. Functions take an open transaction; callers commit.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::{AnyConnection, Row};

pub const MAX_ID: i64 = 2_147_483_647;

#[derive(Clone, Debug, Serialize)]
pub struct Product {
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub price_cents: i64,
    pub stock: i64,
}

#[derive(Clone, Copy, Debug)]
pub struct Line {
    pub product_id: i64,
    pub quantity: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct PricedLine {
    pub product_id: i64,
    pub quantity: i64,
    pub unit_price_cents: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Reservation {
    pub order_id: String,
    pub status: String,
    pub items: Vec<PricedLine>,
}

/// A rule of the catalog was broken; handlers turn these into 4xx answers.
#[derive(Debug)]
pub enum Refusal {
    Unknown(Vec<i64>),
    Insufficient(i64),
    Released(String),
}

impl Refusal {
    pub fn message(&self) -> String {
        match self {
            Refusal::Unknown(ids) => {
                let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
                format!("unknown product {}", ids.join(", "))
            }
            Refusal::Insufficient(id) => format!("insufficient stock for product {id}"),
            Refusal::Released(order) => {
                format!("the reservation for order {order} was already released")
            }
        }
    }
}

pub enum Outcome<T> {
    Done(T),
    Refused(Refusal),
}

/// Ids outside the database's integer range cannot exist; don't ask the database.
pub fn plausible_id(id: i64) -> bool {
    (1..=MAX_ID).contains(&id)
}

const PRODUCT_COLUMNS: &str = "id, sku, name, price_cents, stock";

fn product(row: &sqlx::any::AnyRow) -> Result<Product, sqlx::Error> {
    Ok(Product {
        id: row.try_get(0)?,
        sku: row.try_get(1)?,
        name: row.try_get(2)?,
        price_cents: row.try_get(3)?,
        stock: row.try_get(4)?,
    })
}

/// `q` matches a part of the name, any case (`LIKE`, with `%`, `_` and `/` escaped).
pub async fn search(
    conn: &mut AnyConnection,
    q: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Product>, i64), sqlx::Error> {
    let pattern = q.filter(|q| !q.is_empty()).map(|q| {
        let mut p = String::from("%");
        for ch in q.to_lowercase().chars() {
            if matches!(ch, '%' | '_' | '/') {
                p.push('/');
            }
            p.push(ch);
        }
        p.push('%');
        p
    });
    let filter = if pattern.is_some() {
        " WHERE lower(name) LIKE $3 ESCAPE '/'"
    } else {
        ""
    };
    let page =
        format!("SELECT {PRODUCT_COLUMNS} FROM products{filter} ORDER BY id LIMIT $1 OFFSET $2");
    let mut query = sqlx::query(&page).bind(limit).bind(offset);
    if let Some(p) = &pattern {
        query = query.bind(p.clone());
    }
    let rows = query.fetch_all(&mut *conn).await?;
    let items = rows.iter().map(product).collect::<Result<Vec<_>, _>>()?;
    let count = format!(
        "SELECT count(*) FROM products{}",
        filter.replace("$3", "$1")
    );
    let mut query = sqlx::query(&count);
    if let Some(p) = pattern {
        query = query.bind(p);
    }
    let total: i64 = query.fetch_one(&mut *conn).await?.try_get(0)?;
    Ok((items, total))
}

pub async fn get_product(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<Product>, sqlx::Error> {
    if !plausible_id(id) {
        return Ok(None);
    }
    let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(product).transpose()
}

async fn get_many(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> Result<HashMap<i64, Product>, sqlx::Error> {
    let ids: Vec<i64> = ids.iter().copied().filter(|id| plausible_id(*id)).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT {PRODUCT_COLUMNS} FROM products WHERE id IN ({})",
        marks.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for id in &ids {
        query = query.bind(*id);
    }
    let rows = query.fetch_all(conn).await?;
    rows.iter()
        .map(|row| product(row).map(|p| (p.id, p)))
        .collect()
}

/// Insert a product; `None` when its sku is taken.
pub async fn add_product(
    conn: &mut AnyConnection,
    sku: &str,
    name: &str,
    price_cents: i64,
    stock: i64,
) -> Result<Option<Product>, sqlx::Error> {
    let result = sqlx::query(
        "INSERT INTO products (sku, name, price_cents, stock) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(sku)
    .bind(name)
    .bind(price_cents)
    .bind(stock)
    .fetch_one(conn)
    .await;
    match result {
        Ok(row) => Ok(Some(Product {
            id: row.try_get(0)?,
            sku: sku.into(),
            name: name.into(),
            price_cents,
            stock,
        })),
        Err(e) if crate::db::is_conflict(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Change a product's price and/or stock; `None` when there is no such product.
pub async fn update_product(
    conn: &mut AnyConnection,
    id: i64,
    price_cents: Option<i64>,
    stock: Option<i64>,
) -> Result<Option<Product>, sqlx::Error> {
    if !plausible_id(id) {
        return Ok(None);
    }
    let mut sets = Vec::new();
    let mut values = Vec::new();
    for (column, value) in [("price_cents", price_cents), ("stock", stock)] {
        if let Some(v) = value {
            values.push(v);
            sets.push(format!("{column} = ${}", values.len()));
        }
    }
    if !sets.is_empty() {
        let sql = format!(
            "UPDATE products SET {} WHERE id = ${}",
            sets.join(", "),
            values.len() + 1
        );
        let mut query = sqlx::query(&sql);
        for v in values {
            query = query.bind(v);
        }
        query.bind(id).execute(&mut *conn).await?;
    }
    get_product(conn, id).await
}

async fn reservation(
    conn: &mut AnyConnection,
    order_id: &str,
) -> Result<Option<Reservation>, sqlx::Error> {
    let row = sqlx::query("SELECT status FROM reservations WHERE order_id = $1")
        .bind(order_id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let status: String = row.try_get(0)?;
    let rows = sqlx::query(
        "SELECT product_id, quantity, unit_price_cents FROM reservation_lines \
         WHERE order_id = $1 ORDER BY product_id",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    let items = rows
        .iter()
        .map(|r| {
            Ok(PricedLine {
                product_id: r.try_get(0)?,
                quantity: r.try_get(1)?,
                unit_price_cents: r.try_get(2)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Some(Reservation {
        order_id: order_id.into(),
        status,
        items,
    }))
}

async fn add_reservation(conn: &mut AnyConnection, r: &Reservation) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO reservations (order_id, status) VALUES ($1, $2)")
        .bind(&r.order_id)
        .bind(&r.status)
        .execute(&mut *conn)
        .await?;
    for line in &r.items {
        sqlx::query(
            "INSERT INTO reservation_lines (order_id, product_id, quantity, unit_price_cents) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&r.order_id)
        .bind(line.product_id)
        .bind(line.quantity)
        .bind(line.unit_price_cents)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Take stock for every line of an order, all or nothing, and price the lines.
///
/// Idempotent by order id; a reservation already released (a tombstone) is refused;
/// unknown products are reported before short stock. On a refusal the caller rolls back.
pub async fn reserve(
    conn: &mut AnyConnection,
    order_id: &str,
    lines: &[Line],
) -> Result<Outcome<Reservation>, sqlx::Error> {
    if let Some(existing) = reservation(conn, order_id).await? {
        if existing.status == "released" {
            return Ok(Outcome::Refused(Refusal::Released(order_id.into())));
        }
        return Ok(Outcome::Done(existing));
    }
    let wanted: Vec<i64> = lines.iter().map(|l| l.product_id).collect();
    let products = get_many(conn, &wanted).await?;
    let unknown: Vec<i64> = wanted
        .iter()
        .copied()
        .filter(|id| !products.contains_key(id))
        .collect();
    if !unknown.is_empty() {
        return Ok(Outcome::Refused(Refusal::Unknown(unknown)));
    }
    // Same order everywhere, so two concurrent reservations cannot deadlock.
    let mut sorted = lines.to_vec();
    sorted.sort_by_key(|l| l.product_id);
    for line in &sorted {
        let taken =
            sqlx::query("UPDATE products SET stock = stock - $1 WHERE id = $2 AND stock >= $1")
                .bind(line.quantity)
                .bind(line.product_id)
                .execute(&mut *conn)
                .await?;
        if taken.rows_affected() != 1 {
            return Ok(Outcome::Refused(Refusal::Insufficient(line.product_id)));
        }
    }
    let made = Reservation {
        order_id: order_id.into(),
        status: "reserved".into(),
        items: lines
            .iter()
            .map(|l| PricedLine {
                product_id: l.product_id,
                quantity: l.quantity,
                unit_price_cents: products[&l.product_id].price_cents,
            })
            .collect(),
    };
    add_reservation(conn, &made).await?;
    Ok(Outcome::Done(made))
}

/// Give an order's stock back, exactly once; `true` if stock was restored now. Releasing
/// an order that was never reserved leaves a tombstone (see `reserve`).
pub async fn release(conn: &mut AnyConnection, order_id: &str) -> Result<bool, sqlx::Error> {
    let Some(existing) = reservation(conn, order_id).await? else {
        let tombstone = Reservation {
            order_id: order_id.into(),
            status: "released".into(),
            items: vec![],
        };
        add_reservation(conn, &tombstone).await?;
        return Ok(false);
    };
    let marked = sqlx::query(
        "UPDATE reservations SET status = 'released' WHERE order_id = $1 AND status = 'reserved'",
    )
    .bind(order_id)
    .execute(&mut *conn)
    .await?;
    if marked.rows_affected() != 1 {
        return Ok(false);
    }
    for line in &existing.items {
        sqlx::query("UPDATE products SET stock = stock + $1 WHERE id = $2")
            .bind(line.quantity)
            .bind(line.product_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(true)
}

const ADJECTIVES: [&str; 10] = [
    "Blue", "Red", "Green", "Tiny", "Large", "Classic", "Smart", "Cozy", "Swift", "Solid",
];
const NOUNS: [&str; 10] = [
    "Mug", "Lamp", "Chair", "Notebook", "Backpack", "Kettle", "Scarf", "Clock", "Bottle", "Pen",
];

/// Create the demo products when the catalog is empty (the same ones as
/// `shop.catalog.model.seed_products`); returns how many were added.
pub async fn seed(conn: &mut AnyConnection, count: i64, stock: i64) -> Result<i64, sqlx::Error> {
    let existing: i64 = sqlx::query("SELECT count(*) FROM products")
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    if existing > 0 {
        return Ok(0);
    }
    for i in 1..=count {
        let adjective = ADJECTIVES[((i - 1) % 10) as usize];
        let noun = NOUNS[(((i - 1) / 10) % 10) as usize];
        let series = (i - 1) / 100;
        let name = if series > 0 {
            format!("{adjective} {noun} {}", series + 1)
        } else {
            format!("{adjective} {noun}")
        };
        let price = 199 + (i * 7919) % 9800;
        if add_product(conn, &format!("SKU-{i:04}"), &name, price, stock)
            .await?
            .is_none()
        {
            // A replica seeding at the same moment: let the caller retry (it sees them).
            return Err(sqlx::Error::RowNotFound);
        }
    }
    Ok(count)
}
