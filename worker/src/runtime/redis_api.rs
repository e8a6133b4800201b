//! `redis.Do(command, ...args)`, returning `[result, error]`.
//!
//! `result` is the reply converted as [`convert`] describes and `error` is
//! `null`; on an error reply the pair is `[null, "WRONGTYPE Operation
//! against a key holding the wrong kind of value"]`, the text `redis-cli`
//! would print. Arguments are sent as strings (see [`convert::js_to_arg`]).
//! Mistakes in the call itself throw a `TypeError` instead, which a script
//! can catch: no command name, a name that is not a string, and an argument
//! that is `undefined`, `null` or a function (so a misspelt variable is an
//! error, never the word "undefined" stored in Redis).
//!
//! Each run has a connection of its own for `redis.Do`, opened on first use,
//! so a blocking command (`BLPOP`, `XREAD BLOCK`) holds up only the script
//! that sent it, never another script, the worker's renewals or its
//! heartbeat, and `MULTI` left open affects only that script's own later
//! commands. A stop cuts a pending command short (see `ScriptHost::wait`):
//! the connection is then dropped and the next call opens a new one, so a
//! late reply is never read as the answer to another command.
//!
//! Commands that change the state of the connection itself in ways the
//! worker could not keep across a reconnect (`SELECT`, `SUBSCRIBE`,
//! `MONITOR`, `CLIENT`, `HELLO`, `AUTH`, `RESET`, `QUIT`, ...) are refused
//! with an error the script sees in the pair. A command whose connection
//! broke is reported as an error and never sent again on its own: the
//! script decides whether repeating it is safe, and its next call opens a
//! new connection.

use boa_engine::object::builtins::JsArray;
use boa_engine::object::ObjectInitializer;
use boa_engine::property::Attribute;
use boa_engine::{js_string, Context, JsResult, JsString, JsValue, NativeFunction};
use redis::aio::ConnectionLike;

use super::{convert, host, type_error};

/// Commands refused in `redis.Do`, with the reason.
const REFUSED: &[(&str, &str)] = &[
    (
        "SELECT",
        "scripts share the cluster's database; use key prefixes instead",
    ),
    ("SWAPDB", "scripts share the cluster's database"),
    (
        "SUBSCRIBE",
        "subscriptions would take the connection over; poll a list or stream instead",
    ),
    (
        "PSUBSCRIBE",
        "subscriptions would take the connection over; poll a list or stream instead",
    ),
    (
        "SSUBSCRIBE",
        "subscriptions would take the connection over; poll a list or stream instead",
    ),
    ("UNSUBSCRIBE", "scripts cannot subscribe"),
    ("PUNSUBSCRIBE", "scripts cannot subscribe"),
    ("SUNSUBSCRIBE", "scripts cannot subscribe"),
    ("MONITOR", "it would take the connection over"),
    ("SYNC", "it would take the connection over"),
    ("PSYNC", "it would take the connection over"),
    ("CLIENT", "the worker manages its connections"),
    ("HELLO", "the worker manages its connections"),
    ("AUTH", "the worker logs in with its own settings"),
    ("RESET", "the worker manages its connections"),
    ("QUIT", "the worker manages its connections"),
];

/// Registers `redis`.
pub fn register(ctx: &mut Context) -> JsResult<()> {
    let redis = ObjectInitializer::new(ctx)
        .function(NativeFunction::from_fn_ptr(do_command), js_string!("Do"), 1)
        .build();
    ctx.register_global_property(js_string!("redis"), redis, Attribute::all())?;
    Ok(())
}

/// `[result, null]` or `[null, message]`.
fn pair(result: JsValue, error: Option<String>, ctx: &mut Context) -> JsResult<JsValue> {
    let err = error
        .map(|e| JsValue::from(JsString::from(e)))
        .unwrap_or_else(JsValue::null);
    Ok(JsArray::from_iter([result, err], ctx).into())
}

fn do_command(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let h = host(ctx)?;
    h.guard()?;
    let Some(first) = args.first() else {
        return Err(type_error("redis.Do", "the command name is missing"));
    };
    let name = match first.as_string() {
        Some(s) => s.to_std_string_lossy(),
        None => return Err(type_error("redis.Do", "the command name must be a string")),
    };
    if name.trim().is_empty() {
        return Err(type_error("redis.Do", "the command name is empty"));
    }
    let upper = name.to_ascii_uppercase();
    if let Some((_, why)) = REFUSED.iter().find(|(c, _)| *c == upper) {
        return pair(
            JsValue::null(),
            Some(format!(
                "redis.Do: {upper} is not allowed in scripts: {why}"
            )),
            ctx,
        );
    }

    let mut cmd = redis::cmd(&name);
    for (i, arg) in args[1..].iter().enumerate() {
        match convert::js_to_arg(arg, ctx)? {
            Ok(text) => {
                cmd.arg(text);
            }
            Err(what) => {
                return Err(type_error(
                    "redis.Do",
                    &format!(
                        "argument {} of {upper} is {what}; pass a string or a number",
                        i + 2
                    ),
                ))
            }
        }
    }

    let existing = h.private_redis.borrow().clone();
    let shared = h.shared.clone();
    let client_name = format!("hats-worker:{}:script:{}", shared.name, h.name);
    // The block hands back the connection to keep for the next call (none
    // when it broke) with the reply or the error text.
    let waited = h.wait(async move {
        let mut conn = match existing {
            Some(c) => c,
            None => match shared::conn::connect(&shared.redis, &client_name, None).await {
                Ok(c) => c,
                Err(e) => return (None, Err(e.message)),
            },
        };
        // The raw reply, not `query_async`: that one turns an error nested
        // in an array (a failed command inside `EXEC`) into an error for the
        // whole reply, and the script would lose the other results.
        match conn.req_packed_command(&cmd).await {
            Ok(redis::Value::ServerError(e)) => (Some(conn), Err(convert::server_error_text(&e))),
            Ok(v) => (Some(conn), Ok(v)),
            Err(e) if shared::error::is_connection_error(&e) => (None, Err(error_text(&e))),
            Err(e) => (Some(conn), Err(error_text(&e))),
        }
    });

    let (keep, reply) = match waited {
        Ok(w) => w,
        Err(e) => {
            // Interrupted mid-command: the reply may still arrive on that
            // connection, so it must not be used again.
            *h.private_redis.borrow_mut() = None;
            return Err(e);
        }
    };
    *h.private_redis.borrow_mut() = keep;
    match reply {
        Ok(value) => {
            let v = convert::reply_to_js(value, ctx)?;
            pair(v, None, ctx)
        }
        Err(message) => pair(JsValue::null(), Some(message), ctx),
    }
}

/// The text a script sees for a failed command: the server's own error
/// (`WRONGTYPE Operation against a key holding the wrong kind of value`), or
/// what went wrong with the connection.
fn error_text(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_string(),
        _ => e.to_string(),
    }
}
