//! `worker.Name`, `worker.Cluster`, `worker.ShuttingDown`.

use boa_engine::object::ObjectInitializer;
use boa_engine::property::Attribute;
use boa_engine::{js_string, Context, JsResult, JsString, JsValue};

use super::{function, host, READ_ONLY};

/// Registers `worker`.
pub fn register(ctx: &mut Context) -> JsResult<()> {
    let h = host(ctx)?;
    let shutting_down = function(ctx, "get ShuttingDown", 0, shutting_down);
    let worker = ObjectInitializer::new(ctx)
        .property(
            js_string!("Name"),
            JsString::from(h.shared.name.as_str()),
            READ_ONLY,
        )
        .property(
            js_string!("Cluster"),
            JsString::from(h.shared.keys.cluster()),
            READ_ONLY,
        )
        .accessor(
            js_string!("ShuttingDown"),
            Some(shutting_down),
            None,
            READ_ONLY,
        )
        .build();
    ctx.register_global_property(js_string!("worker"), worker, Attribute::all())?;
    Ok(())
}

fn shutting_down(_: &JsValue, _: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    Ok(JsValue::from(host(ctx)?.shared.is_shutting_down()))
}
