//! One run of a thread: the script's own OS thread and the handle the
//! worker's control loop keeps on it.
//!
//! The JS engine cannot be interrupted from outside, so each run gets an OS
//! thread of its own: a script stuck in a loop holds up nothing but itself.
//! The control loop and the script thread share a [`RunControl`]: the control
//! loop asks the run to end (and says why) and moves its self-fencing
//! deadline forward after each renewal; the script thread reads both before
//! every `main()` call and in every API call.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use boa_engine::JsError;
use tokio::sync::{mpsc, Notify};

use crate::runtime::{self, console, Limits, ScriptHost, WorkerShared};

/// Why a run was asked to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum StopReason {
    /// Not asked to end.
    None = 0,
    /// `thread.Stop()` or an operator's stop or disable: finish, clean up.
    Stop = 1,
    /// `thread.Disable()`: finish, clean up, and disable the thread.
    Disable = 2,
    /// The source changed: clean up, then start again with the new source.
    Restart = 3,
    /// The worker is shutting down or draining: finish, clean up, release.
    Shutdown = 4,
    /// The lease is gone (taken over, fenced, record deleted): end at once;
    /// no `cleanup()`, since another worker may already run the thread.
    Lost = 5,
}

impl StopReason {
    fn from_u8(v: u8) -> StopReason {
        match v {
            1 => StopReason::Stop,
            2 => StopReason::Disable,
            3 => StopReason::Restart,
            4 => StopReason::Shutdown,
            5 => StopReason::Lost,
            _ => StopReason::None,
        }
    }
}

/// The process-wide base of the monotonic deadlines kept in atomics.
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// Nanoseconds of `t` since [`base`].
fn mono_ns(t: Instant) -> u64 {
    t.saturating_duration_since(base()).as_nanos() as u64
}

/// What the control loop and a script thread share about one run.
///
/// Every field is written by one side and read by the other without locks,
/// except the wake-up pair, which only serves to cut a `hang` sleep short.
pub struct RunControl {
    /// The thread's name.
    pub name: String,
    /// The epoch of the claim this run belongs to.
    pub epoch: u64,
    /// Why the run should end; written by either side, first reason wins,
    /// except that [`StopReason::Lost`] overrides any other.
    reason: AtomicU8,
    /// Monotonic deadline (ns since [`base`]) after which the lease may have
    /// run out on the Redis side: past it the script must not act. Moved
    /// forward by the control loop after each successful renewal.
    fence_ns: AtomicU64,
    /// Set while `cleanup()` runs, when API calls are allowed again after a
    /// stop (but never after a loss).
    in_cleanup: AtomicBool,
    /// Wakes a script thread sleeping between two `main()` calls.
    wake: (Mutex<()>, Condvar),
    /// Wakes API calls waiting on Redis or HTTP when the run must end.
    pub notify: Notify,
}

impl RunControl {
    /// A new run whose lease is good until `fence_at`.
    pub fn new(name: &str, epoch: u64, fence_at: Instant) -> RunControl {
        RunControl {
            name: name.to_string(),
            epoch,
            reason: AtomicU8::new(StopReason::None as u8),
            fence_ns: AtomicU64::new(mono_ns(fence_at)),
            in_cleanup: AtomicBool::new(false),
            wake: (Mutex::new(()), Condvar::new()),
            notify: Notify::new(),
        }
    }

    /// Asks the run to end for `reason`.
    pub fn stop(&self, reason: StopReason) {
        let new = reason as u8;
        let _ = self
            .reason
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |cur| {
                if cur == StopReason::None as u8 || reason == StopReason::Lost {
                    Some(new)
                } else {
                    None
                }
            });
        let _guard = self.wake.0.lock().unwrap_or_else(|e| e.into_inner());
        self.wake.1.notify_all();
        self.notify.notify_waiters();
    }

    /// Why the run should end, if it should.
    pub fn reason(&self) -> StopReason {
        StopReason::from_u8(self.reason.load(Ordering::SeqCst))
    }

    /// Whether the run was asked to end.
    pub fn stopped(&self) -> bool {
        self.reason() != StopReason::None
    }

    /// Moves the self-fencing deadline to `at`.
    pub fn extend(&self, at: Instant) {
        self.fence_ns.fetch_max(mono_ns(at), Ordering::SeqCst);
    }

    /// The self-fencing deadline.
    pub fn fence_at(&self) -> Instant {
        base() + Duration::from_nanos(self.fence_ns.load(Ordering::SeqCst))
    }

    /// Whether the deadline has passed: the lease may be gone.
    pub fn fenced(&self) -> bool {
        mono_ns(Instant::now()) >= self.fence_ns.load(Ordering::SeqCst)
    }

    /// Whether the script may still call the API.
    ///
    /// Never after a loss or past the fence. After an operator's stop or
    /// disable only inside `cleanup()`, so a script looping on API calls
    /// ends. On a shutdown or a source change the current `main()` may
    /// finish: the worker still holds the lease and hands it over only once
    /// the run has ended.
    pub fn may_act(&self) -> bool {
        match self.reason() {
            StopReason::Lost => false,
            _ if self.fenced() => false,
            // The worker still holds the lease and only wants the run to end
            // gracefully: the current main() may finish what it does.
            StopReason::None | StopReason::Shutdown | StopReason::Restart => true,
            StopReason::Stop | StopReason::Disable => self.in_cleanup.load(Ordering::SeqCst),
        }
    }

    /// Whether another `main()` call may start.
    pub fn may_continue(&self) -> bool {
        !self.stopped() && !self.fenced()
    }

    /// Why the script may not act, for the error it gets.
    pub fn refusal(&self) -> String {
        let why = match self.reason() {
            StopReason::Lost => "its lease was lost to another worker",
            _ if self.fenced() => "this worker could not renew its lease in time",
            StopReason::Stop => "it was stopped",
            StopReason::Disable => "it was disabled",
            StopReason::Restart => "its source changed",
            StopReason::Shutdown => "the worker is shutting down",
            StopReason::None => "it is not running",
        };
        format!("thread `{}` can no longer act: {why}", self.name)
    }

    /// Sleeps up to `d`, or until the run is asked to end or fenced.
    fn sleep(&self, d: Duration) {
        let until = Instant::now() + d;
        let mut guard = self.wake.0.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if self.stopped() {
                return;
            }
            let now = Instant::now();
            let end = until.min(self.fence_at());
            if now >= end {
                return;
            }
            guard = self
                .wake
                .1
                .wait_timeout(guard, end - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// How a run ended, as the script thread reports it.
#[derive(Debug)]
pub enum Ending {
    /// It ended for this reason (never `None`).
    Stopped(StopReason),
    /// An uncaught error: the thread is crashed and disabled.
    Crashed(String),
}

/// What a script thread sends the control loop when its run is over.
#[derive(Debug)]
pub struct Finished {
    /// The thread.
    pub name: String,
    /// The epoch of the run.
    pub epoch: u64,
    /// How it ended.
    pub ending: Ending,
}

/// What a run needs to start.
pub struct RunSpec {
    /// The thread's name.
    pub name: String,
    /// The source to run.
    pub source: String,
    /// Pause between `main()` calls.
    pub hang: Duration,
    /// Engine budgets.
    pub limits: Limits,
}

/// Stack of a script thread. The engine recurses on the native stack for some
/// constructs, so this is sized for [`Limits::recursion`]; untouched stack
/// pages cost no memory.
///
/// Some of the engine's built-ins (`String()` or `JSON.stringify` of data
/// nested tens of thousands deep) recurse on the native stack without a
/// limit of their own; a stack overflow aborts the whole process, so the
/// stack is generous. Data nested deeper than it allows still takes the
/// worker down; that limitation is listed in the README.
const SCRIPT_STACK: usize = 256 * 1024 * 1024;

/// Starts a run on its own OS thread; the end is sent on `done`.
pub fn spawn(
    spec: RunSpec,
    control: Arc<RunControl>,
    shared: Arc<WorkerShared>,
    done: mpsc::UnboundedSender<Finished>,
) -> std::io::Result<()> {
    let name = spec.name.clone();
    std::thread::Builder::new()
        .name(format!("js:{}", spec.name))
        .stack_size(SCRIPT_STACK)
        .spawn(move || {
            let epoch = control.epoch;
            // A panic in the engine or a binding ends this run as a crash
            // instead of leaving the thread `running` with nobody running
            // it.
            let ending = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run(spec, &control, shared)
            }))
            .unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown cause".to_string());
                tracing::error!(thread = %name, panic = %what, "the script engine panicked");
                Ending::Crashed(format!("the script engine failed on this script: {what}"))
            });
            let _ = done.send(Finished {
                name,
                epoch,
                ending,
            });
        })
        .map(|_| ())
}

/// The whole lifecycle of one run, on the script thread.
fn run(spec: RunSpec, control: &Arc<RunControl>, shared: Arc<WorkerShared>) -> Ending {
    let host = ScriptHost::new(shared, control.clone(), runtime::Kind::Thread, &spec.name);
    let mut script = None;
    let result = phases(&spec, host.clone(), control, &mut script);

    // An error is a crash unless the run was being ended: an API call
    // refused after a stop surfaces as an error out of main(). The crash is
    // also written to the thread's own log, where `hatter threads logs`
    // shows it next to what the script printed.
    if let Err((phase, e)) = &result {
        if !control.stopped() && !control.fenced() {
            let error = format!("{phase}: {}", runtime::describe_error(e));
            console::write_line(&host, console::Level::Warn, format!("crashed: {error}"));
            return Ending::Crashed(error);
        }
    }

    let reason = match control.reason() {
        // Nobody asked the run to end: the fence passed.
        StopReason::None => StopReason::Lost,
        r => r,
    };
    if reason != StopReason::Lost && !control.fenced() {
        if let Some(script) = script.as_mut() {
            if let Some(cleanup) = script.function("cleanup") {
                control.in_cleanup.store(true, Ordering::SeqCst);
                if let Err(e) = script.call(&cleanup) {
                    let error = runtime::describe_error(&e);
                    console::write_line(
                        &host,
                        console::Level::Warn,
                        format!("cleanup() failed: {error}"),
                    );
                }
            }
        }
    }
    Ending::Stopped(reason)
}

/// Top-level code, `init()` and the `main()` loop; the failing phase and
/// its error, if one failed. The loaded script is left in `slot` for
/// `cleanup()`.
fn phases(
    spec: &RunSpec,
    host: std::rc::Rc<ScriptHost>,
    control: &RunControl,
    slot: &mut Option<runtime::Script>,
) -> Result<(), (&'static str, JsError)> {
    let script = slot.insert(
        runtime::Script::load(host, &spec.source, &spec.limits)
            .map_err(|e| ("top-level code", e))?,
    );
    if let Some(init) = script.function("init") {
        script.call(&init).map_err(|e| ("init()", e))?;
    }
    match script.function("main") {
        Some(main) => main_loop(script, &main, control, spec.hang).map_err(|e| ("main()", e)),
        // A thread without main() keeps its lease and stays running, idle,
        // until it is stopped: its top-level code and init() ran once, and
        // cleanup() runs when it ends, as for any other thread.
        None => {
            while control.may_continue() {
                control.sleep(Duration::from_secs(1));
            }
            Ok(())
        }
    }
}

/// Calls `main` every `hang` until the run is asked to end or fenced; the error of
/// the call that threw, if one did.
///
/// This is the whole per-call cost the worker adds to a script's `main()`:
/// one check of the run's flags and deadline, the call, the promise jobs, and
/// the wait (which returns at once for a zero `hang`).
pub fn main_loop(
    script: &mut runtime::Script,
    main: &boa_engine::JsObject,
    control: &RunControl,
    hang: Duration,
) -> Result<(), JsError> {
    while control.may_continue() {
        script.call(main)?;
        if !hang.is_zero() {
            control.sleep(hang);
        }
    }
    Ok(())
}
