//! Every Redis key a cluster uses, built in one place.
//!
//! All keys of one cluster start with `hats:{CLUSTER}:`. The braces are a
//! Redis Cluster hash tag: every key of a cluster hashes to the same slot, so
//! a Lua script that touches many threads of one cluster (a batched lease
//! renewal, a claim) is legal on Redis Cluster too. Several clusters can share
//! one Redis because their prefixes differ.
//!
//! No other module formats a key string; add a builder here instead.

/// The key builder of one cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyspace {
    /// `hats:{CLUSTER}:`, computed once.
    prefix: String,
    /// The cluster name, as given.
    cluster: String,
}

impl Keyspace {
    /// Builds the keyspace of `cluster`.
    ///
    /// A cluster name is used inside a hash tag, so it may not contain braces;
    /// [`crate::model::validate_name`] refuses such names before they reach
    /// this point.
    pub fn new(cluster: &str) -> Keyspace {
        Keyspace {
            prefix: format!("hats:{{{cluster}}}:"),
            cluster: cluster.to_string(),
        }
    }

    /// The cluster this keyspace belongs to.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// The prefix every key of this cluster starts with; `hatter purge` scans
    /// for it.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// SET of the names of every registered thread.
    pub fn threads(&self) -> String {
        format!("{}threads", self.prefix)
    }

    /// HASH: one thread's record (see [`crate::model::Thread`] for the fields).
    pub fn thread(&self, name: &str) -> String {
        format!("{}thread:{name}", self.prefix)
    }

    /// STREAM: a thread's capped `console.*` log.
    pub fn thread_log(&self, name: &str) -> String {
        format!("{}log:thread:{name}", self.prefix)
    }

    /// HASH: one cron job's record (see [`crate::jobs::Job`]), which also
    /// holds its claim state: the last tick handled and the marker of the run
    /// in progress. Claims write these fields and never a key per tick.
    pub fn job(&self, name: &str) -> String {
        format!("{}job:{name}", self.prefix)
    }

    /// STREAM: a job's capped `console.*` log.
    pub fn job_log(&self, name: &str) -> String {
        format!("{}log:job:{name}", self.prefix)
    }

    /// SET of the names of every registered cron job.
    pub fn jobs(&self) -> String {
        format!("{}jobs", self.prefix)
    }

    /// LIST: a job's run history, newest first, one JSON object per entry,
    /// capped (see [`crate::jobs::HISTORY_LENGTH`]).
    pub fn job_history(&self, name: &str) -> String {
        format!("{}job-history:{name}", self.prefix)
    }

    /// STRING: a counter raised by every change to a job's definition or
    /// status and by every `hatter jobs run`. Schedulers poll it and reload
    /// the job definitions only when it moved, so a quiet cluster costs one
    /// read per worker per poll, whatever the number of jobs.
    pub fn jobs_generation(&self) -> String {
        format!("{}jobs-generation", self.prefix)
    }

    /// ZSET of enabled threads, scored by lease expiry in Redis-clock
    /// milliseconds. A score of 0 means nobody holds the thread: it may be
    /// claimed at once. A score in the past means the holder stopped renewing:
    /// it may be taken over. Disabled threads are not members.
    pub fn leases(&self) -> String {
        format!("{}leases", self.prefix)
    }

    /// SET of the names of disabled threads. Every thread is in exactly one
    /// of this set and [`Keyspace::leases`]; renewals compare the counts to
    /// notice a damaged index cheaply.
    pub fn disabled(&self) -> String {
        format!("{}disabled", self.prefix)
    }

    /// The prefix of thread records, for Lua scripts that build thread keys
    /// from names.
    pub fn thread_prefix(&self) -> String {
        format!("{}thread:", self.prefix)
    }

    /// HASH: thread name to `WORKER EPOCH VERSION` of its current holder,
    /// with ` stop` appended when an operator asked the holder to end the
    /// run.
    ///
    /// Kept apart from the thread records so that one worker's renewal of all
    /// its leases reads one field list (`HMGET`) instead of one key per thread:
    /// the commands a renewal costs do not grow with the threads it holds.
    pub fn owners(&self) -> String {
        format!("{}owners", self.prefix)
    }

    /// STRING: the cluster-wide fencing counter. Every claim takes the next
    /// value, so epochs only grow, even across a thread that is removed and
    /// registered again.
    pub fn epoch(&self) -> String {
        format!("{}epoch", self.prefix)
    }

    /// ZSET of every live worker, scored by heartbeat expiry in Redis-clock
    /// milliseconds.
    pub fn workers(&self) -> String {
        format!("{}workers", self.prefix)
    }

    /// ZSET of the workers that currently accept work (healthy, enabled, not
    /// shutting down), scored like [`Keyspace::workers`]. Fair share divides
    /// the threads among these.
    pub fn eligible(&self) -> String {
        format!("{}eligible", self.prefix)
    }

    /// HASH: one worker's record (see [`crate::model::Worker`]).
    pub fn worker(&self, name: &str) -> String {
        format!("{}worker:{name}", self.prefix)
    }

    /// SET of the names of every known worker, live or not, so that `hatter
    /// workers list` can also show workers whose heartbeat has stopped.
    pub fn worker_names(&self) -> String {
        format!("{}worker-names", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_carries_the_cluster_hash_tag() {
        let ks = Keyspace::new("prod");
        let keys = [
            ks.threads(),
            ks.thread("hello"),
            ks.thread_log("hello"),
            ks.leases(),
            ks.owners(),
            ks.disabled(),
            ks.epoch(),
            ks.workers(),
            ks.eligible(),
            ks.worker("w1"),
            ks.worker_names(),
            ks.job("tick"),
            ks.job_log("tick"),
            ks.jobs(),
            ks.job_history("tick"),
            ks.jobs_generation(),
        ];
        for key in keys {
            assert!(key.starts_with("hats:{prod}:"), "{key}");
        }
        assert_eq!(ks.thread("hello"), "hats:{prod}:thread:hello");
    }

    #[test]
    fn clusters_do_not_share_keys() {
        assert_ne!(Keyspace::new("a").leases(), Keyspace::new("b").leases());
    }
}
