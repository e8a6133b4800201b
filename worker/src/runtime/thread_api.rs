//! `thread.Key`, `thread.State()`, `thread.Status()`, `thread.Stopped`,
//! `thread.Stop()`, `thread.Disable()`; for a job the same object is also
//! `job`, and reads the job's record.
//!
//! `thread.Key` is the thread's name, the key it is registered under.
//! `State()` and `Status()` read the record in Redis at each call;
//! `Stopped` is read live from the run, so a script polling it in a loop sees
//! a stop as soon as the worker learns of it. `Stop()` and `Disable()` take
//! effect when the current `main()` returns; API calls made after them in the
//! same call already fail.

use boa_engine::object::ObjectInitializer;
use boa_engine::property::Attribute;
use boa_engine::{js_string, Context, JsResult, JsString, JsValue, NativeFunction};

use super::{function, host, Kind, READ_ONLY};
use crate::run::StopReason;

/// Registers `thread`.
pub fn register(ctx: &mut Context) -> JsResult<()> {
    let h = host(ctx)?;
    let stopped = function(ctx, "get Stopped", 0, stopped);
    let thread = ObjectInitializer::new(ctx)
        .property(
            js_string!("Key"),
            JsString::from(h.name.as_str()),
            READ_ONLY,
        )
        .accessor(js_string!("Stopped"), Some(stopped), None, READ_ONLY)
        .function(NativeFunction::from_fn_ptr(state), js_string!("State"), 0)
        .function(NativeFunction::from_fn_ptr(status), js_string!("Status"), 0)
        .function(NativeFunction::from_fn_ptr(stop), js_string!("Stop"), 0)
        .function(
            NativeFunction::from_fn_ptr(disable),
            js_string!("Disable"),
            0,
        )
        .build();
    ctx.register_global_property(js_string!("thread"), thread.clone(), Attribute::all())?;
    if h.kind == Kind::Job {
        // A job script may use either name for the same object.
        ctx.register_global_property(js_string!("job"), thread, Attribute::all())?;
    }
    Ok(())
}

fn stopped(_: &JsValue, _: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let h = host(ctx)?;
    Ok(JsValue::from(h.run.stopped() || h.run.fenced()))
}

fn field(ctx: &mut Context, field: &'static str) -> JsResult<JsValue> {
    let h = host(ctx)?;
    let key = h.record_key();
    let word = h.kind.word();
    let shared = h.shared.clone();
    let reply = h.wait(async move {
        let mut conn = shared.api_conn().await?;
        let r: redis::RedisResult<Option<String>> = redis::cmd("HGET")
            .arg(&key)
            .arg(field)
            .query_async(&mut conn)
            .await;
        match r {
            Ok(v) => Ok(v),
            Err(e) => {
                if shared::error::is_connection_error(&e) {
                    shared.drop_api_conn().await;
                }
                Err(e.to_string())
            }
        }
    })?;
    match reply {
        Ok(Some(v)) => Ok(JsValue::from(JsString::from(v))),
        Ok(None) => Ok(JsValue::undefined()),
        Err(e) => Err(boa_engine::JsNativeError::error()
            .with_message(format!("{word}.{field}: {e}"))
            .into()),
    }
}

fn state(_: &JsValue, _: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    host(ctx)?.guard()?;
    field(ctx, "state")
}

fn status(_: &JsValue, _: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    host(ctx)?.guard()?;
    field(ctx, "status")
}

fn stop(_: &JsValue, _: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let h = host(ctx)?;
    h.guard()?;
    h.run.stop(StopReason::Stop);
    Ok(JsValue::undefined())
}

fn disable(_: &JsValue, _: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let h = host(ctx)?;
    h.guard()?;
    h.run.stop(StopReason::Disable);
    Ok(JsValue::undefined())
}
