//! Request validation with FastAPI's error shapes: `422 {"detail": [{"type", "loc", "msg",
//! "input"}, …]}`, the same `type`s and messages pydantic gives for the same input.

use serde_json::{json, Map, Value};

#[derive(Default)]
pub struct Errors(pub Vec<Value>);

impl Errors {
    pub fn add(&mut self, kind: &str, loc: Vec<Value>, msg: String, input: Value) {
        let input = printable(&input, 0);
        self.0
            .push(json!({"type": kind, "loc": loc, "msg": msg, "input": input}));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The echoed input as the Python units' 422 handler trims it: 50 items per list or object,
/// 5 levels deep, integers past 2**63 as the start of their digits.
fn printable(value: &Value, depth: usize) -> Value {
    match value {
        Value::Number(n) if integer_literal(n) && n.as_i64().is_none() => {
            let digits = n.to_string();
            match n.as_u64() {
                Some(u) if u < 1 << 63 => value.clone(),
                _ => Value::from(format!(
                    "{}...",
                    digits.chars().take(40).collect::<String>()
                )),
            }
        }
        Value::Number(n) if n.as_f64().is_some_and(f64::is_infinite) => {
            Value::from(if n.to_string().starts_with('-') {
                "-inf"
            } else {
                "inf"
            })
        }
        Value::Array(items) if depth < 5 => Value::Array(
            items
                .iter()
                .take(50)
                .map(|v| printable(v, depth + 1))
                .collect(),
        ),
        Value::Object(map) if depth < 5 => Value::Object(
            map.iter()
                .take(50)
                .map(|(k, v)| (k.clone(), printable(v, depth + 1)))
                .collect(),
        ),
        Value::Array(_) | Value::Object(_) => Value::Null,
        other => other.clone(),
    }
}

/// A JSON number written as an integer (no fraction, no exponent), however large.
pub fn integer_literal(n: &serde_json::Number) -> bool {
    n.to_string()
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'-')
}

pub fn loc(parts: &[&str]) -> Vec<Value> {
    parts.iter().map(|p| Value::from(*p)).collect()
}

fn at(base: &[Value], part: impl Into<Value>) -> Vec<Value> {
    let mut out = base.to_vec();
    out.push(part.into());
    out
}

/// The body as JSON, or the error FastAPI gives when it is absent or unparsable.
/// FastAPI reads the body as JSON only with a JSON content type (`application/json`,
/// `application/*+json`); any other body (or none) is bytes to the model.
pub fn json_body(body: &[u8], content_type: Option<&str>, errors: &mut Errors) -> Option<Value> {
    if body.is_empty() {
        errors.add(
            "missing",
            loc(&["body"]),
            "Field required".into(),
            Value::Null,
        );
        return None;
    }
    {
        let kind = content_type
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let json = match kind.split_once('/') {
            Some(("application", sub)) => sub == "json" || sub.ends_with("+json"),
            _ => false,
        };
        if !json {
            errors.add(
                "model_attributes_type",
                loc(&["body"]),
                "Input should be a valid dictionary or object to extract fields from".into(),
                Value::Null,
            );
            return None;
        }
    }
    if std::str::from_utf8(body).is_err() {
        errors.add(
            "json_invalid",
            loc(&["body"]),
            "body is not valid JSON".into(),
            Value::Null,
        );
        return None;
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => Some(value),
        Err(e) if e.is_syntax() || e.is_eof() => {
            // Python's json reports the character offset where it gave up.
            let text = std::str::from_utf8(body).unwrap_or("");
            let offset: usize = if e.is_eof() {
                text.chars().count()
            } else {
                text.split('\n')
                    .take(e.line().saturating_sub(1))
                    .map(|l| l.chars().count() + 1)
                    .sum::<usize>()
                    + e.column().saturating_sub(1)
            };
            errors.add(
                "json_invalid",
                vec!["body".into(), offset.into()],
                "JSON decode error".into(),
                json!({}),
            );
            None
        }
        Err(_) => {
            // Nesting deeper than the parser goes, like Python's RecursionError.
            errors.add(
                "json_invalid",
                loc(&["body"]),
                "body is not valid JSON".into(),
                Value::Null,
            );
            None
        }
    }
}

/// The fields of a model (`extra="forbid"`): the object, or the error for a non-object.
pub fn object<'a>(
    value: &'a Value,
    base: &[Value],
    errors: &mut Errors,
) -> Option<&'a Map<String, Value>> {
    match value {
        Value::Object(map) => Some(map),
        other => {
            errors.add(
                "model_attributes_type",
                base.to_vec(),
                "Input should be a valid dictionary or object to extract fields from".into(),
                other.clone(),
            );
            None
        }
    }
}

/// `extra_forbidden` for every key not in `known` (after the fields' own errors).
pub fn no_extras(map: &Map<String, Value>, known: &[&str], base: &[Value], errors: &mut Errors) {
    for (key, value) in map {
        if !known.contains(&key.as_str()) {
            errors.add(
                "extra_forbidden",
                at(base, key.as_str()),
                "Extra inputs are not permitted".into(),
                value.clone(),
            );
        }
    }
}

fn missing(map: &Map<String, Value>, name: &str, base: &[Value], errors: &mut Errors) {
    errors.add(
        "missing",
        at(base, name),
        "Field required".into(),
        Value::Object(map.clone()),
    );
}

fn bounds(
    value: i64,
    ge: i64,
    le: i64,
    here: Vec<Value>,
    input: Value,
    errors: &mut Errors,
) -> Option<i64> {
    if value < ge {
        errors.add(
            "greater_than_equal",
            here,
            format!("Input should be greater than or equal to {ge}"),
            input,
        );
        None
    } else if value > le {
        errors.add(
            "less_than_equal",
            here,
            format!("Input should be less than or equal to {le}"),
            input,
        );
        None
    } else {
        Some(value)
    }
}

/// A strict integer field in `[ge, le]`. `Ok(None)`: absent and optional, or null and nullable.
pub fn strict_int(
    map: &Map<String, Value>,
    name: &str,
    (ge, le): (i64, i64),
    optional: bool,
    base: &[Value],
    errors: &mut Errors,
) -> Option<Option<i64>> {
    let here = at(base, name);
    match map.get(name) {
        None if optional => Some(None),
        None => {
            missing(map, name, base, errors);
            None
        }
        Some(Value::Null) if optional => Some(None),
        Some(v @ Value::Number(n)) if integer_literal(n) => match n.as_i64() {
            Some(i) => bounds(i, ge, le, here, v.clone(), errors).map(Some),
            None if n.to_string().starts_with('-') => {
                let msg = format!("Input should be greater than or equal to {ge}");
                errors.add("greater_than_equal", here, msg, v.clone());
                None
            }
            None => {
                let msg = format!("Input should be less than or equal to {le}");
                errors.add("less_than_equal", here, msg, v.clone());
                None
            }
        },
        Some(v) => {
            errors.add(
                "int_type",
                here,
                "Input should be a valid integer".into(),
                v.clone(),
            );
            None
        }
    }
}

/// A strict integer field with no bounds (`product_id`).
pub fn strict_any_int(
    map: &Map<String, Value>,
    name: &str,
    base: &[Value],
    errors: &mut Errors,
) -> Option<i64> {
    strict_int(map, name, (i64::MIN, i64::MAX), false, base, errors).flatten()
}

/// No control characters or lone surrogates (`shop.core.text.CleanStr`).
pub fn clean(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

/// A strict, clean string field of `min..=max` characters.
pub fn clean_str(
    map: &Map<String, Value>,
    name: &str,
    (min, max): (usize, usize),
    base: &[Value],
    errors: &mut Errors,
) -> Option<String> {
    let here = at(base, name);
    match map.get(name) {
        None => {
            missing(map, name, base, errors);
            None
        }
        Some(v @ Value::String(s)) => string_rules(s, (min, max), here, v.clone(), errors),
        Some(v) => {
            errors.add(
                "string_type",
                here,
                "Input should be a valid string".into(),
                v.clone(),
            );
            None
        }
    }
}

/// Cleanliness, then length (in characters), of a `CleanStr`: pydantic checks the length
/// after the validator, so it reports it as a generic `too_short` / `too_long`.
pub fn string_rules(
    s: &str,
    (min, max): (usize, usize),
    here: Vec<Value>,
    input: Value,
    errors: &mut Errors,
) -> Option<String> {
    let length = s.chars().count();
    let items = |n: usize| if n == 1 { "item" } else { "items" };
    if !clean(s) {
        errors.add(
            "value_error",
            here,
            "Value error, control characters and lone surrogates are not allowed".into(),
            input,
        );
        None
    } else if length < min {
        let msg = format!(
            "Value should have at least {min} {} after validation, not {length}",
            items(min)
        );
        errors.add("too_short", here, msg, input);
        None
    } else if length > max {
        let msg = format!(
            "Value should have at most {max} {} after validation, not {length}",
            items(max)
        );
        errors.add("too_long", here, msg, input);
        None
    } else {
        Some(s.to_string())
    }
}

/// An integer given as text (path and query parameters), as pydantic reads it (lax mode):
/// `Ok(Some(i))` fits in an i64; `Ok(None)` is a valid integer too large for one.
pub fn text_int(text: &str) -> Result<Option<i64>, ()> {
    let t = text.trim();
    let (negative, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    // "1_000" (underscores between digits) and "5.0" (a zero fraction) are integers too.
    let (whole, fraction) = rest.split_once('.').unwrap_or((rest, ""));
    if !fraction.bytes().all(|b| b == b'0') {
        return Err(());
    }
    let groups: Vec<&str> = whole.split('_').collect();
    if groups
        .iter()
        .any(|g| g.is_empty() || !g.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(());
    }
    let digits = groups.concat();
    let signed = if negative {
        format!("-{digits}")
    } else {
        digits
    };
    Ok(signed.parse::<i64>().ok())
}

/// Python's `int(text)` printed back (no sign for positives, no leading zeros).
pub fn normalized_int(text: &str) -> String {
    let cleaned = text.trim().replace('_', "");
    let t = cleaned.split('.').next().unwrap_or("");
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits = digits.trim_start_matches('0');
    match (digits.is_empty(), negative) {
        (true, _) => "0".into(),
        (false, true) => format!("-{digits}"),
        (false, false) => digits.into(),
    }
}

pub fn int_parsing(here: Vec<Value>, text: &str, errors: &mut Errors) {
    errors.add(
        "int_parsing",
        here,
        "Input should be a valid integer, unable to parse string as an integer".into(),
        Value::from(text),
    );
}

/// Python's `repr()` of a string, as the Python units put into their messages.
pub fn py_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::new();
    out.push(quote);
    for ch in text.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Percent-decoding of one path segment (invalid UTF-8 replaced, as Starlette does).
pub fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A plain (not cleaned) string of at most `max` characters.
pub fn string_rules_plain(
    s: &str,
    max: usize,
    here: Vec<Value>,
    input: Value,
    errors: &mut Errors,
) -> Option<String> {
    if s.chars().count() > max {
        errors.add(
            "string_too_long",
            here,
            format!("String should have at most {max} characters"),
            input,
        );
        return None;
    }
    Some(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_as_pydantic_reads_them() {
        assert_eq!(text_int(" +7 "), Ok(Some(7)));
        assert_eq!(text_int("-3"), Ok(Some(-3)));
        assert_eq!(text_int("1".repeat(30).as_str()), Ok(None));
        assert_eq!(text_int("1e3"), Err(()));
        assert_eq!(text_int("1_0"), Ok(Some(10)));
        assert_eq!(text_int("5.00"), Ok(Some(5)));
        assert_eq!(text_int("5.5"), Err(()));
        assert_eq!(text_int("1__0"), Err(()));
        assert_eq!(normalized_int("+0007"), "7");
        assert_eq!(normalized_int("-000"), "0");
    }

    #[test]
    fn repr_quotes_like_python() {
        assert_eq!(py_repr("ab"), "'ab'");
        assert_eq!(py_repr("a'b"), "\"a'b\"");
        assert_eq!(py_repr("a\\b"), "'a\\\\b'");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%FF"), "\u{fffd}");
    }
}
