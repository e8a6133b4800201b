//! The JavaScript side: one boa `Context` per run, with the script API.
//!
//! # Layout
//!
//! - this file: [`WorkerShared`] (what every script of a worker shares),
//!   [`ScriptHost`] (what one run's bindings need), [`Script`] (a loaded
//!   context and calls into it) and the helpers every binding uses.
//! - [`console`], [`env`], [`worker_api`], [`thread_api`], [`redis_api`],
//!   [`http_api`], [`sql_api`]: one module per global object, each with a
//!   `register(ctx)` function. Adding an API group is adding a module and
//!   one line in [`Script::load`].
//! - [`convert`]: JS values to and from Redis values and display text.
//! - [`scope`]: how a source is evaluated so its top-level state is fast.
//! - [`nesting`]: sources nested too deep for the parser's stack are
//!   refused before it sees them (the script's own, `eval`, `Function`).
//! - [`lexer`]: the small source scanner `scope` and `nesting` share.
//!
//! # How bindings reach their state
//!
//! The run's [`ScriptHost`] sits in the realm's host-defined slot;
//! [`host`] fetches it. Native functions are plain function pointers, so no
//! closure captures anything that the garbage collector would need to trace.
//!
//! # Containment
//!
//! Every API call first asks [`ScriptHost::guard`], which fails once the run
//! was stopped, disabled, taken over or fenced. That failure is an engine
//! error, which JavaScript's `try`/`catch` cannot intercept, so a script
//! looping on API calls inside `try` still ends. A wait on Redis is cut short
//! the same way (see [`ScriptHost::wait`]). A loop that makes no API call is
//! bounded by the engine's loop iteration budget instead.

pub mod console;
pub mod convert;
pub mod env;
pub mod http_api;
pub mod lexer;
pub mod nesting;
pub mod redis_api;
pub mod scope;
pub mod sql_api;
pub mod thread_api;
pub mod worker_api;

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use boa_engine::error::PanicError;
use boa_engine::object::builtins::JsFunction;
use boa_engine::object::FunctionObjectBuilder;
use boa_engine::property::Attribute;
use boa_engine::{
    Context, Finalize, JsData, JsError, JsNativeError, JsObject, JsResult, JsString, JsValue,
    NativeFunction, Source, Trace,
};
use redis::aio::MultiplexedConnection;
use shared::config::RedisSettings;
use shared::Keyspace;
use tokio::sync::Mutex as AsyncMutex;

use crate::run::RunControl;

/// Engine budgets for one script. Exceeding either raises an error that
/// JavaScript cannot catch, so the run ends with it (a crash of that thread
/// only).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most loop iterations one call of a function may run: boa counts the
    /// iterations of every loop in a call frame together, from zero at each
    /// call, so each `main()` call has the whole budget, and a loop that
    /// calls a function per iteration spends only one iteration of its own
    /// frame per call.
    pub loop_iterations: u64,
    /// Deepest call nesting, native calls back into JavaScript (getters,
    /// `toString`) included.
    pub recursion: usize,
}

/// What every script of one worker shares. Lives as long as the worker.
pub struct WorkerShared {
    /// This worker's name.
    pub name: String,
    /// Its cluster's keys.
    pub keys: Keyspace,
    /// Set once the worker begins to shut down; `worker.ShuttingDown`.
    pub shutting_down: AtomicBool,
    /// Whether this worker takes work now: healthy, enabled by the operator,
    /// not shutting down, and its last renewal reached Redis. Written by the
    /// control loop after every renewal; read by everything that takes
    /// work (the cron scheduler too).
    pub eligible: AtomicBool,
    /// `env.Set`/`env.Unset` overlay: `Some` value set, `None` unset. The
    /// process environment itself is never changed, since changing it is not
    /// safe while other threads read it.
    pub env: RwLock<HashMap<String, Option<String>>>,
    /// The worker's async runtime, on which script threads wait for I/O.
    pub rt: tokio::runtime::Handle,
    /// Where Redis is, for the connections scripts open.
    pub redis: RedisSettings,
    /// Time-out and body cap of scripts' HTTP calls.
    pub http_limits: http_api::HttpLimits,
    /// The HTTP client every script of this worker shares (a connection
    /// pool), built on first use.
    http: std::sync::OnceLock<reqwest::Client>,
    /// A connection for the API's own reads and writes (`thread.State()`, the
    /// log streams), apart from the worker's control connection so scripts
    /// never delay renewals. Opened on first use, reopened after a failure.
    api: AsyncMutex<Option<MultiplexedConnection>>,
    /// The queue of `console.*` lines on their way to the log streams; its
    /// one writer task is started on first use (see [`console`]).
    pub(crate) logs: std::sync::OnceLock<tokio::sync::mpsc::Sender<console::Entry>>,
}

/// How long one API round trip to Redis may take.
pub const API_TIMEOUT: Duration = Duration::from_secs(5);

impl WorkerShared {
    /// State for the scripts of worker `name`.
    pub fn new(
        name: &str,
        keys: Keyspace,
        redis: RedisSettings,
        rt: tokio::runtime::Handle,
    ) -> WorkerShared {
        WorkerShared {
            name: name.to_string(),
            keys,
            shutting_down: AtomicBool::new(false),
            eligible: AtomicBool::new(false),
            env: RwLock::new(HashMap::new()),
            rt,
            redis,
            http_limits: http_api::HttpLimits::default(),
            http: std::sync::OnceLock::new(),
            api: AsyncMutex::new(None),
            logs: std::sync::OnceLock::new(),
        }
    }

    /// The same, with these limits for scripts' HTTP calls.
    pub fn with_http_limits(mut self, limits: http_api::HttpLimits) -> WorkerShared {
        self.http_limits = limits;
        self
    }

    /// The shared HTTP client.
    pub fn http_client(&self) -> reqwest::Client {
        self.http
            .get_or_init(|| http_api::client(&self.http_limits))
            .clone()
    }

    /// Whether the worker is shutting down.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// The shared API connection, opened when needed.
    pub async fn api_conn(&self) -> Result<MultiplexedConnection, String> {
        let mut slot = self.api.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let name = format!("hats-worker:{}:api", self.name);
        let conn = shared::conn::connect(&self.redis, &name, Some(API_TIMEOUT))
            .await
            .map_err(|e| e.message)?;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// Forgets the shared API connection after a connection error.
    pub async fn drop_api_conn(&self) {
        *self.api.lock().await = None;
    }
}

/// What kind of work a script is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A long-running thread.
    Thread,
    /// One run of a cron job.
    Job,
}

impl Kind {
    /// The word used in logs and error messages.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Thread => "thread",
            Kind::Job => "job",
        }
    }
}

/// What one run's bindings need. Lives on the script thread.
pub struct ScriptHost {
    /// The worker's shared state.
    pub shared: Arc<WorkerShared>,
    /// The run's control block.
    pub run: Arc<RunControl>,
    /// Thread or job.
    pub kind: Kind,
    /// The thread's or job's name.
    pub name: String,
    /// `redis.Do`'s connection, private to this run so that a blocking
    /// command or a connection-state command affects nobody else.
    pub private_redis: RefCell<Option<MultiplexedConnection>>,
}

impl ScriptHost {
    /// The host of a run of a thread or a job.
    pub fn new(
        shared: Arc<WorkerShared>,
        run: Arc<RunControl>,
        kind: Kind,
        name: &str,
    ) -> Rc<ScriptHost> {
        Rc::new(ScriptHost {
            shared,
            run,
            kind,
            name: name.to_string(),
            private_redis: RefCell::new(None),
        })
    }

    /// The Redis key of this script's record (thread or job hash).
    pub fn record_key(&self) -> String {
        match self.kind {
            Kind::Thread => self.shared.keys.thread(&self.name),
            Kind::Job => self.shared.keys.job(&self.name),
        }
    }

    /// The Redis key of this script's log stream.
    pub fn log_key(&self) -> String {
        match self.kind {
            Kind::Thread => self.shared.keys.thread_log(&self.name),
            Kind::Job => self.shared.keys.job_log(&self.name),
        }
    }

    /// Fails with an uncatchable error once the run may no longer act.
    pub fn guard(&self) -> JsResult<()> {
        if self.run.may_act() {
            Ok(())
        } else {
            Err(uncatchable(self.run.refusal()))
        }
    }

    /// Runs `fut` on the worker's runtime and waits for it, but gives up with
    /// an uncatchable error as soon as the run may no longer act (checked on
    /// every stop request and at least every 100 ms).
    pub fn wait<F: Future>(&self, fut: F) -> JsResult<F::Output> {
        self.guard()?;
        let run = self.run.clone();
        let out = self.shared.rt.block_on(async move {
            tokio::pin!(fut);
            loop {
                let notified = run.notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if !run.may_act() {
                    return None;
                }
                tokio::select! {
                    out = &mut fut => return Some(out),
                    _ = notified => {}
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        });
        out.ok_or_else(|| uncatchable(self.run.refusal()))
    }
}

/// The run's host in the realm's host-defined slot.
#[derive(Trace, Finalize, JsData)]
struct HostSlot {
    #[unsafe_ignore_trace]
    host: Rc<ScriptHost>,
}

/// The host of the run this context belongs to.
pub fn host(ctx: &Context) -> JsResult<Rc<ScriptHost>> {
    ctx.realm()
        .host_defined()
        .get::<HostSlot>()
        .map(|slot| slot.host.clone())
        .ok_or_else(|| {
            JsNativeError::typ()
                .with_message("the HATS API is not available here")
                .into()
        })
}

/// An error that JavaScript cannot catch; it ends the script.
pub fn uncatchable(message: impl Into<String>) -> JsError {
    JsError::from(PanicError::new(message.into()))
}

/// A `TypeError` naming the function that got bad arguments.
pub fn type_error(function: &str, message: &str) -> JsError {
    JsNativeError::typ()
        .with_message(format!("{function}: {message}"))
        .into()
}

/// Builds a function object from a native function pointer.
pub fn function(
    ctx: &mut Context,
    name: &str,
    length: usize,
    f: fn(&JsValue, &[JsValue], &mut Context) -> JsResult<JsValue>,
) -> JsFunction {
    FunctionObjectBuilder::new(ctx.realm(), NativeFunction::from_fn_ptr(f))
        .name(JsString::from(name))
        .length(length)
        .build()
}

/// The attributes of the API's properties: visible, not writable.
pub const READ_ONLY: Attribute = Attribute::ENUMERABLE.union(Attribute::CONFIGURABLE);

/// Reads argument `i` as a string, or throws a `TypeError` naming `function`.
pub fn string_arg(
    function: &str,
    args: &[JsValue],
    i: usize,
    ctx: &mut Context,
) -> JsResult<String> {
    match args.get(i) {
        None => Err(type_error(
            function,
            &format!("argument {} is missing", i + 1),
        )),
        Some(v) if v.is_undefined() => Err(type_error(
            function,
            &format!("argument {} is missing", i + 1),
        )),
        Some(v) => Ok(v.to_string(ctx)?.to_std_string_lossy()),
    }
}

/// A loaded script: its context with the API registered and the source
/// evaluated.
pub struct Script {
    ctx: Context,
    /// Finds the lifecycle functions in the script's scope when the source
    /// was evaluated as a function body (see [`scope`]).
    lookup: Option<JsObject>,
}

impl Script {
    /// Builds a context for `host`, registers the API and evaluates `source`.
    pub fn load(host: Rc<ScriptHost>, source: &str, limits: &Limits) -> JsResult<Script> {
        // Refused before the parser sees it: see `nesting`.
        nesting::check(source, "the script")?;
        let mut ctx = Context::builder()
            .host_hooks(Rc::new(nesting::Hooks))
            .build()?;
        let rl = ctx.runtime_limits_mut();
        rl.set_loop_iteration_limit(limits.loop_iterations);
        rl.set_recursion_limit(limits.recursion);
        rl.set_stack_size_limit(limits.recursion.saturating_mul(64).max(10 * 1024));
        // Errors name the thread or job: `hello.js:4:7`.
        let path = std::path::PathBuf::from(format!("{}.js", host.name));
        ctx.realm().host_defined_mut().insert(HostSlot { host });

        console::register(&mut ctx)?;
        env::register(&mut ctx)?;
        worker_api::register(&mut ctx)?;
        thread_api::register(&mut ctx)?;
        redis_api::register(&mut ctx)?;
        http_api::register(&mut ctx)?;
        sql_api::register(&mut ctx)?;

        // Parsed as the plain script it is first, so that syntax errors are
        // reported exactly as for a script (see `scope`).
        boa_engine::Script::parse(Source::from_bytes(source), None, &mut ctx)?;
        let lookup = if scope::can_wrap(source) {
            let wrapped = scope::wrap(source);
            let body = ctx.eval(Source::from_bytes(&wrapped).with_path(&path))?;
            let body = body.as_callable().ok_or_else(|| {
                JsNativeError::typ().with_message("the wrapped source is not a function")
            })?;
            let this = JsValue::from(ctx.global_object());
            body.call(&this, &[], &mut ctx)?.as_callable()
        } else {
            ctx.eval(Source::from_bytes(source).with_path(&path))?;
            None
        };
        ctx.run_jobs()?;
        Ok(Script { ctx, lookup })
    }

    /// The lifecycle function `name` (`init`, `main`, `cleanup`), if the
    /// script defines one: in its own scope when it was wrapped, else on the
    /// global object.
    pub fn function(&mut self, name: &str) -> Option<JsObject> {
        if let Some(lookup) = &self.lookup {
            let arg = JsValue::from(JsString::from(name));
            if let Ok(v) = lookup.call(&JsValue::undefined(), &[arg], &mut self.ctx) {
                if let Some(f) = v.as_callable() {
                    return Some(f);
                }
            }
        }
        let global = self.ctx.global_object();
        let value = global.get(JsString::from(name), &mut self.ctx).ok()?;
        value.as_callable()
    }

    /// Calls `f` with no arguments, then runs the promise jobs it queued.
    pub fn call(&mut self, f: &JsObject) -> JsResult<JsValue> {
        let out = f.call(&JsValue::undefined(), &[], &mut self.ctx)?;
        self.ctx.run_jobs()?;
        Ok(out)
    }
}

/// The text recorded for an uncaught error: the message, with a hint when
/// the error is an engine budget.
pub fn describe_error(err: &JsError) -> String {
    if let Some(engine) = err.as_engine() {
        let text = engine.to_string();
        if text.contains("iteration loops") {
            return format!(
                "{text} (the loops of one function call ran more iterations together than \
                 the worker's --loop-limit; raise it if they are meant to)"
            );
        }
        if text.contains("recursive calls") || text.contains("stack size") {
            return format!(
                "{text} (calls nested past the worker's --recursion-limit; raise it if that is meant to be)"
            );
        }
        return text;
    }
    if let Some(value) = err.as_opaque() {
        // A thrown Error object shows as `Error: message`; anything else as
        // its display form.
        return value.display().to_string();
    }
    err.to_string()
}
