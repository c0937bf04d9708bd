//! The aggregation lease: at most one aggregation pass at a time on a database, whatever runs
//! it (`abacus aggregate --once` from cron, `--every` daemons on several hosts).
//!
//! ClickHouse has no compare-and-set on rows (18.16 has no transactions, no `KeeperMap`), so
//! inserting a lease row and reading it back cannot decide between two aggregators that claim
//! at the same moment. What ClickHouse does decide atomically is a table's name: `CREATE TABLE`
//! of a name that exists fails (code 57), on every version. A lease is therefore a numbered
//! table, `aggregation_lease_<epoch>`, holding the rows of its holder:
//!
//! - **take**: read the newest epoch `E`; if its holder released it, or its newest expiry is
//!   past (server clock), `CREATE TABLE aggregation_lease_<E+1>`: of every aggregator that
//!   tries, exactly one creates it and holds the lease; the others are told who holds it. The
//!   winner writes its row (holder, expiry = server now + `aggregate.lease_secs`) and drops the
//!   older epochs.
//! - **renew**: every third of the lease time during a pass the holder adds a row with a new
//!   expiry, then checks that no newer epoch exists. If it cannot renew before its lease runs
//!   out (measured on its own monotonic clock from the start of its last successful renewal,
//!   which is never later than the server's expiry), it stops the pass with an error.
//! - **release**: after the pass the holder adds a row with `released = 1`; the next aggregator
//!   does not wait for the expiry.
//! - **own lease**: a lease still held under this process's holder name (a failed pass could
//!   not release it, e.g. while ClickHouse was unreachable) is free for its next pass.
//! - **expiry**: a holder that crashed (or hangs) stops renewing; once the newest expiry is
//!   past, the next aggregator takes epoch `E+1`. A table that has no row yet (its creator died
//!   between `CREATE` and `INSERT`) counts as expired `lease_secs` after its creation.
//!
//! This is why the lease is not a migration's table: rows cannot exclude, table names can. Run
//! ids alone would only avoid collisions, not overlapping passes (two incremental passes that
//! start from the same watermark each save their state).
//!
//! Limit: there is no fencing on ClickHouse. A holder stalled longer than the lease (SIGSTOP,
//! a paused VM) notices it at its next renewal and stops, but a statement it had already sent
//! may still complete on the server. With a cluster, every aggregator must reach the same
//! server (the lease table is local to the server it is created on).

use std::future::Future;
use std::time::{Duration, Instant};

use abacus_schema::ClickHouse;
use clickhouse::Row;
use serde::Deserialize;

use crate::AggregateError;

/// Prefix of the lease tables.
pub const TABLE_PREFIX: &str = "aggregation_lease_";

/// The columns of a lease table.
pub const COLUMNS: &str =
    "(holder String, acquired_at DateTime, expires_at DateTime, released UInt8)";

/// Lists the epochs (lease tables) of the current database, with their creation time.
pub const LIST_EPOCHS: &str = "SELECT toUInt64OrZero(substring(name, 19)) AS epoch, \
     toUInt32(metadata_modification_time) AS created \
     FROM system.tables \
     WHERE database = currentDatabase() AND substring(name, 1, 18) = 'aggregation_lease_' \
     ORDER BY epoch";

/// `CREATE TABLE` of the lease table of `epoch` (fails when it exists: that is the claim).
pub fn create_sql(epoch: u64) -> String {
    format!("CREATE TABLE {TABLE_PREFIX}{epoch} {COLUMNS} ENGINE = Log")
}

/// The newest state of the lease of `epoch`, with the server's clock.
pub fn state_sql(epoch: u64) -> String {
    format!(
        "SELECT argMax(holder, expires_at) AS last_holder, toUInt32(max(expires_at)) AS expiry, \
         max(released) AS is_released, count() AS row_count, toUInt32(now()) AS server_now \
         FROM {TABLE_PREFIX}{epoch}"
    )
}

/// A row of the lease of `epoch`: holder, then the lease time in seconds, then `released`.
pub fn write_sql(epoch: u64) -> String {
    format!(
        "INSERT INTO {TABLE_PREFIX}{epoch} (holder, acquired_at, expires_at, released) \
         SELECT ?, now(), now() + ?, ?"
    )
}

/// Drops the lease table of an older `epoch`.
pub fn drop_sql(epoch: u64) -> String {
    format!("DROP TABLE IF EXISTS {TABLE_PREFIX}{epoch}")
}

/// Who takes the lease and for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseSettings {
    /// Names the holder in the lease rows and in other aggregators' logs (host, process).
    pub holder: String,
    /// How long a lease lasts without renewal (`aggregate.lease_secs`).
    pub ttl: Duration,
}

/// Another aggregator's lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// Epoch of the lease.
    pub epoch: u64,
    /// Its holder (empty while it is being written).
    pub holder: String,
    /// Seconds until it expires unless renewed.
    pub expires_in_secs: u64,
}

/// The outcome of [`try_take`].
#[derive(Debug)]
pub enum Attempt {
    /// The lease is ours.
    Taken(Lease),
    /// Another aggregator holds it.
    Busy(Holder),
}

/// A lease held by this process.
#[derive(Debug)]
pub struct Lease {
    epoch: u64,
    settings: LeaseSettings,
    /// Start of the last successful renewal (or of the take).
    renewed: Instant,
    /// The previous holder's lease expired (it did not release it).
    took_over: Option<String>,
}

#[derive(Row, Deserialize)]
struct Epoch {
    epoch: u64,
    created: u32,
}

#[derive(Row, Deserialize)]
struct State {
    last_holder: String,
    expiry: u32,
    is_released: u8,
    row_count: u64,
    server_now: u32,
}

fn err(context: &str, e: &clickhouse::error::Error) -> AggregateError {
    AggregateError::query(context, e)
}

async fn epochs(ch: &ClickHouse) -> Result<Vec<Epoch>, AggregateError> {
    let mut out = ch
        .client()
        .query(LIST_EPOCHS)
        .fetch_all::<Epoch>()
        .await
        .map_err(|e| err("list the aggregation lease tables", &e))?;
    out.retain(|e| e.epoch > 0);
    Ok(out)
}

async fn write(
    ch: &ClickHouse,
    epoch: u64,
    settings: &LeaseSettings,
    released: bool,
) -> Result<(), AggregateError> {
    ch.client()
        .query(&write_sql(epoch))
        .bind(&settings.holder)
        .bind(settings.ttl.as_secs())
        .bind(u8::from(released))
        .execute()
        .await
        .map_err(|e| err("write the aggregation lease", &e))
}

/// Whether `e` says that the table exists already (the claim was lost).
fn already_exists(e: &clickhouse::error::Error) -> bool {
    let text = e.to_string();
    text.contains("Code: 57")
        || text.contains("TABLE_ALREADY_EXISTS")
        || text.contains("already exists")
}

/// One attempt to take the lease.
pub async fn try_take(
    ch: &ClickHouse,
    settings: &LeaseSettings,
) -> Result<Attempt, AggregateError> {
    let ttl = settings.ttl.as_secs();
    let newest = epochs(ch).await?.pop();
    let mut took_over = None;
    if let Some(current) = &newest {
        let state = ch
            .client()
            .query(&state_sql(current.epoch))
            .fetch_one::<State>()
            .await;
        match state {
            // Our own lease, left by a pass of this process that failed before releasing it
            // (ClickHouse was unreachable): one process runs one pass at a time, so it is free.
            Ok(s) if s.is_released == 0 && s.last_holder == settings.holder => {}
            Ok(s) if s.is_released == 0 => {
                // Without a row yet, the lease runs from the table's creation.
                let expires = if s.row_count == 0 {
                    u64::from(current.created) + ttl
                } else {
                    u64::from(s.expiry)
                };
                if expires > u64::from(s.server_now) {
                    return Ok(Attempt::Busy(Holder {
                        epoch: current.epoch,
                        holder: s.last_holder,
                        expires_in_secs: expires - u64::from(s.server_now),
                    }));
                }
                took_over = Some(if s.last_holder.is_empty() {
                    format!("epoch {} (no holder row)", current.epoch)
                } else {
                    s.last_holder
                });
            }
            Ok(_) => {}
            // Dropped by the next holder between the listing and the read: it is gone.
            Err(e) if e.to_string().contains("doesn't exist") => {
                return Ok(Attempt::Busy(Holder {
                    epoch: current.epoch + 1,
                    holder: String::new(),
                    expires_in_secs: ttl,
                }))
            }
            Err(e) => return Err(err("read the aggregation lease", &e)),
        }
    }
    let epoch = newest.map_or(1, |e| e.epoch + 1);
    let started = Instant::now();
    if let Err(e) = ch.client().query(&create_sql(epoch)).execute().await {
        if already_exists(&e) {
            return Ok(Attempt::Busy(Holder {
                epoch,
                holder: String::new(),
                expires_in_secs: ttl,
            }));
        }
        return Err(err("create the aggregation lease table", &e));
    }
    write(ch, epoch, settings, false).await?;
    for old in epochs(ch).await?.iter().filter(|e| e.epoch < epoch) {
        if let Err(e) = ch.client().query(&drop_sql(old.epoch)).execute().await {
            tracing::debug!(epoch = old.epoch, error = %e, "could not drop an old lease table");
        }
    }
    Ok(Attempt::Taken(Lease {
        epoch,
        settings: settings.clone(),
        renewed: started,
        took_over,
    }))
}

impl Lease {
    /// The epoch of this lease.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The holder whose expired lease this one replaced, if it was not released.
    pub fn took_over(&self) -> Option<&str> {
        self.took_over.as_deref()
    }

    fn lost(&self, why: String) -> AggregateError {
        AggregateError::LeaseLost {
            epoch: self.epoch,
            reason: why,
        }
    }

    /// Extends the lease by its lease time; fails when it was taken over or ran out.
    pub async fn renew(&mut self, ch: &ClickHouse) -> Result<(), AggregateError> {
        let started = Instant::now();
        let left = self.settings.ttl.saturating_sub(self.renewed.elapsed());
        if left.is_zero() {
            return Err(self.lost(format!(
                "not renewed within {} s (aggregate.lease_secs)",
                self.settings.ttl.as_secs()
            )));
        }
        let renewal = async {
            write(ch, self.epoch, &self.settings, false).await?;
            epochs(ch).await
        };
        let newest = match tokio::time::timeout(left, renewal).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(self.lost(format!(
                    "ClickHouse did not answer the renewal within the {} s left",
                    left.as_secs()
                )))
            }
        };
        match newest.last() {
            Some(e) if e.epoch > self.epoch => Err(self.lost(format!(
                "another aggregator took epoch {} after this lease expired",
                e.epoch
            ))),
            None => Err(self.lost("the lease table was dropped".to_owned())),
            Some(_) => {
                self.renewed = started;
                Ok(())
            }
        }
    }

    /// Runs `work` while renewing the lease every third of its time; stops `work` with
    /// [`AggregateError::LeaseLost`] when the lease cannot be kept.
    pub async fn hold<T>(
        &mut self,
        ch: &ClickHouse,
        work: impl Future<Output = Result<T, AggregateError>>,
    ) -> Result<T, AggregateError> {
        tokio::pin!(work);
        let every = (self.settings.ttl / 3).max(Duration::from_millis(500));
        loop {
            tokio::select! {
                out = &mut work => return out,
                () = tokio::time::sleep(every) => match self.renew(ch).await {
                    Ok(()) => {}
                    Err(e @ AggregateError::LeaseLost { .. }) => return Err(e),
                    // A failed renewal is retried at the next tick while time is left.
                    Err(e) => tracing::warn!(epoch = self.epoch, error = %e, "could not renew the aggregation lease; retrying"),
                },
            }
        }
    }

    /// Gives the lease up, so that the next aggregator need not wait for its expiry.
    pub async fn release(self, ch: &ClickHouse) -> Result<(), AggregateError> {
        write(ch, self.epoch, &self.settings, true).await
    }
}

/// What an aggregator does when another one holds the lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenBusy {
    /// Wait until it is released or expires (`abacus aggregate --once`).
    Wait,
    /// Skip this pass (a daemon's tick: the holder is doing the work).
    Skip,
}

/// How often a waiting aggregator looks at the lease again.
pub const WAIT_POLL: Duration = Duration::from_millis(500);

/// Runs `work` under the lease: takes it (waiting or skipping when busy, as `when_busy` says,
/// with a log line naming the holder), renews it while `work` runs and releases it after.
/// `Ok(None)` when the pass was skipped.
pub async fn exclusive<T, Fut>(
    ch: &ClickHouse,
    settings: &LeaseSettings,
    when_busy: WhenBusy,
    work: impl FnOnce() -> Fut,
) -> Result<Option<T>, AggregateError>
where
    Fut: Future<Output = Result<T, AggregateError>>,
{
    let mut logged: Option<(u64, String)> = None;
    let mut lease = loop {
        match try_take(ch, settings).await? {
            Attempt::Taken(lease) => break lease,
            Attempt::Busy(other) => {
                let holder = if other.holder.is_empty() {
                    "another aggregator (taking it now)".to_owned()
                } else {
                    other.holder.clone()
                };
                if when_busy == WhenBusy::Skip {
                    tracing::info!(
                        holder = %holder,
                        epoch = other.epoch,
                        expires_in_s = other.expires_in_secs,
                        "pass skipped: another aggregator holds the aggregation lease"
                    );
                    return Ok(None);
                }
                if logged.as_ref() != Some(&(other.epoch, other.holder.clone())) {
                    tracing::info!(
                        holder = %holder,
                        epoch = other.epoch,
                        expires_in_s = other.expires_in_secs,
                        "waiting for the aggregation lease"
                    );
                    logged = Some((other.epoch, other.holder));
                }
                tokio::time::sleep(WAIT_POLL).await;
            }
        }
    };
    if let Some(previous) = lease.took_over() {
        tracing::warn!(
            previous = %previous,
            epoch = lease.epoch(),
            "the previous aggregation lease expired without release (its holder crashed or hung); taking over"
        );
    }
    tracing::info!(
        epoch = lease.epoch(),
        holder = %settings.holder,
        lease_s = settings.ttl.as_secs(),
        "aggregation lease taken"
    );
    let out = lease.hold(ch, work()).await;
    let epoch = lease.epoch();
    if matches!(out, Err(AggregateError::LeaseLost { .. })) {
        return out.map(Some);
    }
    match lease.release(ch).await {
        Ok(()) => tracing::info!(epoch, "aggregation lease released"),
        Err(e) => tracing::warn!(
            epoch,
            error = %e,
            "could not release the aggregation lease; it expires by itself"
        ),
    }
    out.map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_name_the_epoch() {
        assert_eq!(
            create_sql(12),
            "CREATE TABLE aggregation_lease_12 (holder String, acquired_at DateTime, expires_at DateTime, released UInt8) ENGINE = Log"
        );
        assert!(state_sql(3).ends_with("FROM aggregation_lease_3"));
        assert_eq!(drop_sql(2), "DROP TABLE IF EXISTS aggregation_lease_2");
        // substring(name, 19) starts right after the prefix.
        assert_eq!(TABLE_PREFIX.len(), 18);
    }

    #[test]
    fn a_lost_claim_is_recognised() {
        let e = clickhouse::error::Error::BadResponse(
            "Code: 57, e.displayText() = DB::Exception: Table db.aggregation_lease_3 already exists."
                .into(),
        );
        assert!(already_exists(&e));
        let other = clickhouse::error::Error::BadResponse("Code: 497, ACCESS_DENIED".into());
        assert!(!already_exists(&other));
    }
}
