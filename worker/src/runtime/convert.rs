//! Conversions between JS values, Redis values and display text.
//!
//! Redis to JS: a bulk string becomes a string, an integer a number, nil
//! `null`, an array an array (nested as deep as the reply), a status reply
//! its text (`"OK"`, `"PONG"`), a RESP3 double a number, a boolean a
//! boolean, a map an object. An error reply nested in an array (a failed
//! command inside `EXEC`) becomes its message text in its place, so the
//! other results are kept.
//!
//! What a script sees of data a number or a string cannot hold exactly:
//!
//! - bytes that are not UTF-8 (a binary value) become U+FFFD, one for each
//!   bad sequence; the value is lossy, so store text (or base64) in values
//!   scripts read;
//! - an integer beyond ±2^53 becomes the nearest number, as `Number(...)`
//!   would give it: use `INCRBYFLOAT` or string values for such counters.
//!
//! JS to Redis arguments: strings as they are, encoded as UTF-8 (a lone
//! surrogate, which UTF-8 cannot encode, becomes U+FFFD), numbers in
//! JavaScript's own notation (`5`, not `5.0`; `1e+21`), booleans as
//! `true`/`false`, BigInts in decimal, objects and arrays as JSON text.
//! `undefined`, `null` and functions are refused: they almost always mean a
//! missing variable or a mistake, and sending the word "undefined" would
//! hide it. [`js_to_arg`] says which it was; `redis.Do` turns that into a
//! `TypeError`.

use boa_engine::object::builtins::JsArray;
use boa_engine::{Context, JsObject, JsResult, JsString, JsValue};
use redis::Value;

/// A Redis reply as the script sees it.
pub fn reply_to_js(value: Value, ctx: &mut Context) -> JsResult<JsValue> {
    Ok(match value {
        Value::Nil => JsValue::null(),
        Value::Int(i) => JsValue::from(i as f64),
        Value::BulkString(bytes) => {
            JsValue::from(JsString::from(String::from_utf8_lossy(&bytes).as_ref()))
        }
        Value::SimpleString(s) => JsValue::from(JsString::from(s)),
        Value::Okay => JsValue::from(JsString::from("OK")),
        Value::Double(d) => JsValue::from(d),
        Value::Boolean(b) => JsValue::from(b),
        Value::VerbatimString { text, .. } => JsValue::from(JsString::from(text)),
        Value::BigNumber(n) => JsValue::from(JsString::from(String::from_utf8_lossy(&n).as_ref())),
        Value::Array(items) | Value::Set(items) => {
            let array = JsArray::new(ctx)?;
            for item in items {
                let v = reply_to_js(item, ctx)?;
                array.push(v, ctx)?;
            }
            array.into()
        }
        Value::Map(pairs) => {
            let object = JsObject::with_object_proto(ctx.intrinsics());
            for (k, v) in pairs {
                let key = match k {
                    Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
                    Value::SimpleString(s) => s,
                    other => format!("{other:?}"),
                };
                let v = reply_to_js(v, ctx)?;
                object.set(JsString::from(key), v, false, ctx)?;
            }
            object.into()
        }
        Value::Attribute { data, .. } => reply_to_js(*data, ctx)?,
        Value::Push { data, .. } => reply_to_js(Value::Array(data), ctx)?,
        Value::ServerError(e) => JsValue::from(JsString::from(server_error_text(&e))),
        _ => JsValue::null(),
    })
}

/// The message of a server error, as `redis-cli` would print it.
pub fn server_error_text(e: &redis::ServerError) -> String {
    match e.details() {
        Some(details) => format!("{} {details}", e.code()),
        None => e.code().to_string(),
    }
}

/// A JS value as a Redis argument; `Err` with what it was for `undefined`,
/// `null` and functions, which are refused.
pub fn js_to_arg(value: &JsValue, ctx: &mut Context) -> JsResult<Result<String, &'static str>> {
    Ok(match value {
        v if v.is_undefined() => Err("undefined"),
        v if v.is_null() => Err("null"),
        v if v.is_callable() => Err("a function"),
        v if v.is_object() => match v.to_json(ctx)? {
            Some(json) => Ok(json.to_string()),
            None => Err("undefined"),
        },
        v => Ok(v.to_string(ctx)?.to_std_string_lossy()),
    })
}

/// A value as `console.log` prints it: strings as they are, an `Error` as
/// `Name: message`, everything else in the engine's display form on one
/// line (`{ a: 1 }`, `[ 1, 2 ]`), so that one call stays one line of the
/// log.
pub fn display(value: &JsValue, ctx: &mut Context) -> String {
    if let Some(s) = value.as_string() {
        return s.to_std_string_lossy();
    }
    if value
        .as_object()
        .is_some_and(|o| o.is::<boa_engine::builtins::error::Error>())
    {
        if let Ok(text) = value.to_string(ctx) {
            return text.to_std_string_lossy();
        }
    }
    one_line(&value.display().to_string())
}

/// `text` with each line break and the indentation after it made one space.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' {
            while chars.peek() == Some(&' ') {
                chars.next();
            }
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_forms_are_one_line() {
        assert_eq!(
            one_line("{\n    a: 1,\n    b: {\n        c: 2\n    }\n}"),
            "{ a: 1, b: { c: 2 } }"
        );
        assert_eq!(one_line("[ 1, 2 ]"), "[ 1, 2 ]");
    }
}
