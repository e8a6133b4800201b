//! Conversions between JS values, Redis values and display text.
//!
//! Redis to JS: a bulk string becomes a string (bytes that are not UTF-8
//! are replaced by U+FFFD, so binary values are lossy: store text, or
//! base64), an integer a number, nil `null`, an array an array (nested as
//! deep as the reply), a status reply its text (`"OK"`), a RESP3 double a
//! number, a boolean a boolean, a map an object. An error reply nested in an
//! array (from `EXEC`) becomes its message text.
//!
//! JS to Redis arguments: strings as they are (lone surrogates become
//! U+FFFD), numbers in JavaScript's own notation (`5`, not `5.0`), booleans
//! as `true`/`false`, objects and arrays as JSON text. `undefined` and
//! `null` are refused: they almost always mean a missing variable, and
//! sending the word "undefined" would hide that.

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

/// A JS value as a Redis argument; `Err` with a reason for `undefined` and
/// `null`.
pub fn js_to_arg(value: &JsValue, ctx: &mut Context) -> JsResult<Result<String, &'static str>> {
    Ok(match value {
        v if v.is_undefined() => Err("undefined"),
        v if v.is_null() => Err("null"),
        v if v.is_object() => match v.to_json(ctx)? {
            Some(json) => Ok(json.to_string()),
            None => Err("undefined"),
        },
        v => Ok(v.to_string(ctx)?.to_std_string_lossy()),
    })
}

/// A value as `console.log` prints it: strings as they are, everything else
/// in its display form.
pub fn display(value: &JsValue, _ctx: &mut Context) -> String {
    match value.as_string() {
        Some(s) => s.to_std_string_lossy(),
        None => value.display().to_string(),
    }
}
