//! Health: the machine's CPU and memory, the critical flag they drive, and
//! the `/health` and `/metrics` HTTP server.
//!
//! Every `health-interval` the worker reads the machine's CPU and memory use.
//! A reading above either threshold makes the worker critical at once: it
//! stops its threads, releases them for healthy workers and claims nothing.
//! It recovers only after both readings stayed below their thresholds for a
//! whole interval, that is two readings in a row, so that a load hovering at
//! the threshold does not make threads bounce between workers.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sysinfo::System;
use warp::Filter;

/// The worker's health readings and verdict.
pub struct Health {
    cpu_threshold: f64,
    mem_threshold: f64,
    /// Last CPU and memory percent.
    readings: Mutex<(f64, f64)>,
    /// Whether the worker is critical now.
    critical: AtomicBool,
    /// Readings below both thresholds in a row while critical.
    calm: AtomicU64,
    /// Threads running, for /metrics; written by the control loop.
    pub running: AtomicU64,
}

impl Health {
    /// A verdict for these thresholds, healthy until the first reading.
    pub fn new(cpu_threshold: f64, mem_threshold: f64) -> Health {
        Health {
            cpu_threshold,
            mem_threshold,
            readings: Mutex::new((0.0, 0.0)),
            critical: AtomicBool::new(false),
            calm: AtomicU64::new(0),
            running: AtomicU64::new(0),
        }
    }

    /// Whether the worker is critical.
    pub fn critical(&self) -> bool {
        self.critical.load(Ordering::SeqCst)
    }

    /// The last CPU and memory percent.
    pub fn readings(&self) -> (f64, f64) {
        *self.readings.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one reading into account.
    pub fn record(&self, cpu: f64, mem: f64) {
        *self.readings.lock().unwrap_or_else(|e| e.into_inner()) = (cpu, mem);
        let over = cpu > self.cpu_threshold || mem > self.mem_threshold;
        if over {
            self.calm.store(0, Ordering::SeqCst);
            if !self.critical.swap(true, Ordering::SeqCst) {
                tracing::warn!(cpu, mem, "worker is critical: releasing its threads");
            }
        } else if self.critical() && self.calm.fetch_add(1, Ordering::SeqCst) + 1 >= 2 {
            self.critical.store(false, Ordering::SeqCst);
            self.calm.store(0, Ordering::SeqCst);
            tracing::info!(cpu, mem, "worker is healthy again: taking work");
        }
    }

    /// Measures every `interval`, forever.
    pub async fn measure(self: Arc<Self>, interval: Duration) {
        let mut system = System::new();
        system.refresh_cpu_usage();
        // CPU use is measured between two refreshes; the first reading comes
        // a second after start so listings do not show zeros for a whole
        // interval.
        tokio::time::sleep(Duration::from_secs(1).min(interval)).await;
        let mut ticker = tokio::time::interval(interval);
        loop {
            ticker.tick().await;
            system.refresh_cpu_usage();
            system.refresh_memory();
            let cpu = system.global_cpu_usage() as f64;
            let total = system.total_memory().max(1) as f64;
            let mem = system.used_memory() as f64 * 100.0 / total;
            self.record(cpu, mem);
        }
    }

    /// Serves `/health` and `/metrics` on `port` of every interface.
    pub async fn serve(self: Arc<Self>, port: u16, worker: String) -> std::io::Result<()> {
        let addr = SocketAddr::from(([0, 0, 0, 0], port));
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let h = self.clone();
        let health = warp::path!("health").map(move || {
            if h.critical() {
                warp::reply::with_status("critical\n", warp::http::StatusCode::SERVICE_UNAVAILABLE)
            } else {
                warp::reply::with_status("ok\n", warp::http::StatusCode::OK)
            }
        });
        let h = self.clone();
        let metrics = warp::path!("metrics").map(move || h.metrics(&worker));
        let routes = warp::get().and(health.or(metrics));
        // Accept errors (a client that hung up early) are skipped, not
        // fatal.
        let incoming = futures_util::stream::unfold(listener, |listener| async move {
            loop {
                if let Ok((stream, _)) = listener.accept().await {
                    return Some((Ok::<_, Infallible>(stream), listener));
                }
            }
        });
        warp::serve(routes).run_incoming(incoming).await;
        Ok(())
    }

    /// The Prometheus text of the worker's gauges.
    fn metrics(&self, worker: &str) -> String {
        let (cpu, mem) = self.readings();
        format!(
            "# HELP hats_worker_cpu_percent Machine CPU use at the last health check.\n\
             # TYPE hats_worker_cpu_percent gauge\n\
             hats_worker_cpu_percent{{worker=\"{worker}\"}} {cpu:.1}\n\
             # HELP hats_worker_mem_percent Machine memory use at the last health check.\n\
             # TYPE hats_worker_mem_percent gauge\n\
             hats_worker_mem_percent{{worker=\"{worker}\"}} {mem:.1}\n\
             # HELP hats_worker_critical 1 while the worker is over a health threshold.\n\
             # TYPE hats_worker_critical gauge\n\
             hats_worker_critical{{worker=\"{worker}\"}} {}\n\
             # HELP hats_worker_threads Threads this worker runs.\n\
             # TYPE hats_worker_threads gauge\n\
             hats_worker_threads{{worker=\"{worker}\"}} {}\n",
            u8::from(self.critical()),
            self.running.load(Ordering::SeqCst),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn critical_at_once_healthy_after_a_calm_interval() {
        let h = Health::new(90.0, 90.0);
        h.record(10.0, 10.0);
        assert!(!h.critical());
        h.record(95.0, 10.0);
        assert!(h.critical());
        h.record(10.0, 10.0);
        assert!(h.critical(), "one calm reading is not a full interval");
        h.record(10.0, 95.0);
        assert!(h.critical());
        h.record(10.0, 10.0);
        h.record(10.0, 10.0);
        assert!(!h.critical());
    }
}
