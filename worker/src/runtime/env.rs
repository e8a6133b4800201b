//! `env.Get(key)`, `env.Set(key, value)`, `env.Unset(key)`.
//!
//! `Set` and `Unset` change a worker-wide overlay that every script of this
//! worker sees, never the process environment: changing that is unsafe in a
//! process where other threads may read it. `Get` reads the overlay first,
//! then the process environment.

use boa_engine::object::ObjectInitializer;
use boa_engine::property::Attribute;
use boa_engine::{js_string, Context, JsResult, JsString, JsValue, NativeFunction};

use super::{host, string_arg};

/// Registers `env`.
pub fn register(ctx: &mut Context) -> JsResult<()> {
    let env = ObjectInitializer::new(ctx)
        .function(NativeFunction::from_fn_ptr(get), js_string!("Get"), 1)
        .function(NativeFunction::from_fn_ptr(set), js_string!("Set"), 2)
        .function(NativeFunction::from_fn_ptr(unset), js_string!("Unset"), 1)
        .build();
    ctx.register_global_property(js_string!("env"), env, Attribute::all())?;
    Ok(())
}

/// Why `key` cannot be a variable name, if it cannot.
fn bad_key(key: &str) -> Option<String> {
    if key.is_empty() {
        Some("env: the variable name is empty".to_string())
    } else if key.contains('=') || key.contains('\0') {
        Some(format!(
            "env: `{key}` is not a valid variable name (no `=` or NUL allowed)"
        ))
    } else {
        None
    }
}

fn get(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let host = host(ctx)?;
    host.guard()?;
    let key = string_arg("env.Get", args, 0, ctx)?;
    let overlay = host.shared.env.read().unwrap_or_else(|e| e.into_inner());
    let value = match overlay.get(&key) {
        Some(v) => v.clone(),
        None => std::env::var(&key).ok(),
    };
    Ok(value
        .map(|v| JsValue::from(JsString::from(v)))
        .unwrap_or_default())
}

fn set(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let host = host(ctx)?;
    host.guard()?;
    let key = string_arg("env.Set", args, 0, ctx)?;
    let value = string_arg("env.Set", args, 1, ctx)?;
    if let Some(err) = bad_key(&key).or_else(|| {
        value
            .contains('\0')
            .then(|| format!("env: the value of `{key}` contains NUL"))
    }) {
        return Ok(JsValue::from(JsString::from(err)));
    }
    host.shared
        .env
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, Some(value));
    Ok(JsValue::null())
}

fn unset(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let host = host(ctx)?;
    host.guard()?;
    let key = string_arg("env.Unset", args, 0, ctx)?;
    if let Some(err) = bad_key(&key) {
        return Ok(JsValue::from(JsString::from(err)));
    }
    host.shared
        .env
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, None);
    Ok(JsValue::null())
}
