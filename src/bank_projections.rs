//! Read models of the bank domain, built with `#[eventfold::projection]`:
//! account balances, transaction history, a daily summary, and store
//! statistics (a hand-written projection over every event type).
//!
//! They are in-memory read models. [`AccountBalances`] also shows the
//! at-least-once idempotency story: it remembers the last stream version it
//! applied per account and ignores anything at or below it, so a batch
//! replayed after a crash is not counted twice.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use eventfold::RecordedEvent;
use eventfold::projection::{EventMeta, HandleError, Projection};

use crate::bank::{AccountClosed, AccountOpened, MoneyDeposited, MoneyWithdrawn};

/// One account as the balances read model sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountBalance {
    /// The owner.
    pub owner: String,
    /// The balance, in cents.
    pub balance: u64,
    /// Whether the account was closed.
    pub closed: bool,
    /// The last stream version applied (for idempotency).
    pub version: u64,
}

/// The balance of every account, keyed by stream id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountBalances {
    /// Accounts by stream id.
    pub accounts: BTreeMap<String, AccountBalance>,
}

impl AccountBalances {
    /// The account at `meta`'s stream if `meta` is newer than what was
    /// applied to it: `None` for an event seen before (a replay).
    fn fresh(&mut self, meta: &EventMeta<'_>) -> Option<&mut AccountBalance> {
        let account = self.accounts.entry(meta.stream_id.to_string()).or_default();
        if meta.stream_version <= account.version {
            return None;
        }
        account.version = meta.stream_version;
        Some(account)
    }

    /// The sum of all balances.
    pub fn total(&self) -> u64 {
        self.accounts.values().map(|a| a.balance).sum()
    }
}

#[eventfold::projection]
impl AccountBalances {
    #[handle]
    fn opened(&mut self, e: &AccountOpened, meta: &EventMeta) {
        if let Some(a) = self.fresh(meta) {
            a.owner = e.owner.clone();
            a.balance = e.initial_balance;
        }
    }

    #[handle]
    fn deposited(&mut self, e: &MoneyDeposited, meta: &EventMeta) {
        if let Some(a) = self.fresh(meta) {
            a.balance += e.amount;
        }
    }

    #[handle]
    fn withdrawn(&mut self, e: &MoneyWithdrawn, meta: &EventMeta) -> Result<(), BalanceError> {
        let stream = meta.stream_id.to_string();
        let account = self.accounts.entry(stream.clone()).or_default();
        if meta.stream_version <= account.version {
            return Ok(());
        }
        account.balance = account
            .balance
            .checked_sub(e.amount)
            .ok_or(BalanceError::Negative {
                stream,
                amount: e.amount,
            })?;
        account.version = meta.stream_version;
        Ok(())
    }

    #[handle]
    fn closed(&mut self, _: &AccountClosed, meta: &EventMeta) {
        if let Some(a) = self.fresh(meta) {
            a.closed = true;
        }
    }
}

/// A stored history the balances read model cannot explain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BalanceError {
    /// A withdrawal larger than the balance the read model holds.
    #[error("account `{stream}`: withdrawal of {amount} exceeds the balance")]
    Negative {
        /// The account's stream.
        stream: String,
        /// The amount withdrawn.
        amount: u64,
    },
}

/// What happened in one transaction of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionKind {
    /// The account was opened with this initial balance.
    Opened,
    /// Money paid in.
    Deposit,
    /// Money taken out.
    Withdrawal,
    /// The account was closed.
    Closed,
}

/// One line of an account's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// The event's global position.
    pub position: u64,
    /// Its version in the account's stream.
    pub version: u64,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: TransactionKind,
    /// The amount, in cents (0 for a closing).
    pub amount: u64,
}

/// Every account's transactions, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionHistory {
    /// Transactions by account stream id.
    pub accounts: BTreeMap<String, Vec<Transaction>>,
}

impl TransactionHistory {
    fn push(&mut self, meta: &EventMeta<'_>, kind: TransactionKind, amount: u64) {
        let lines = self.accounts.entry(meta.stream_id.to_string()).or_default();
        // Idempotent: a replayed event is already the last line or older.
        if lines
            .last()
            .is_some_and(|l| l.version >= meta.stream_version)
        {
            return;
        }
        lines.push(Transaction {
            position: meta.global_position,
            version: meta.stream_version,
            at: meta.recorded_at,
            kind,
            amount,
        });
    }
}

#[eventfold::projection(name = "bank.transaction_history")]
impl TransactionHistory {
    #[handle]
    fn opened(&mut self, e: &AccountOpened, meta: &EventMeta) {
        self.push(meta, TransactionKind::Opened, e.initial_balance);
    }

    #[handle]
    fn deposited(&mut self, e: &MoneyDeposited, meta: &EventMeta) {
        self.push(meta, TransactionKind::Deposit, e.amount);
    }

    #[handle]
    fn withdrawn(&mut self, e: &MoneyWithdrawn, meta: &EventMeta) {
        self.push(meta, TransactionKind::Withdrawal, e.amount);
    }

    #[handle]
    fn closed(&mut self, _: &AccountClosed, meta: &EventMeta) {
        self.push(meta, TransactionKind::Closed, 0);
    }
}

/// The money moved on one day (UTC).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayTotals {
    /// Sum of deposits, in cents.
    pub deposits: u64,
    /// Sum of withdrawals, in cents.
    pub withdrawals: u64,
    /// Deposits minus withdrawals.
    pub net_change: i64,
    /// How many deposits and withdrawals.
    pub transactions: u64,
}

/// Deposits, withdrawals and net change per day (by recording time, UTC).
/// Not idempotent by itself: feed it exactly once (rebuild it, or keep it in
/// a transactional store with its checkpoint).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DailySummary {
    /// Totals by day.
    pub days: BTreeMap<NaiveDate, DayTotals>,
}

#[eventfold::projection(name = "bank.daily_summary")]
impl DailySummary {
    #[handle]
    fn deposited(&mut self, e: &MoneyDeposited, meta: &EventMeta) {
        let day = self.days.entry(meta.recorded_at.date_naive()).or_default();
        day.deposits += e.amount;
        day.net_change += e.amount as i64;
        day.transactions += 1;
    }

    #[handle]
    fn withdrawn(&mut self, e: &MoneyWithdrawn, meta: &EventMeta) {
        let day = self.days.entry(meta.recorded_at.date_naive()).or_default();
        day.withdrawals += e.amount;
        day.net_change -= e.amount as i64;
        day.transactions += 1;
    }
}

/// Counts over the whole store: total events, events per type, the version
/// of every stream. Handles every event type without decoding any payload,
/// so it is written by hand rather than with `#[eventfold::projection]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStatistics {
    /// Every event seen.
    pub total_events: u64,
    /// Events per type name.
    pub per_event_type: BTreeMap<String, u64>,
    /// The highest version seen per stream (aggregate instance).
    pub stream_versions: HashMap<String, u64>,
    /// The last global position seen.
    pub last_position: u64,
}

impl Projection for StoreStatistics {
    fn name(&self) -> &str {
        "bank.store_statistics"
    }

    fn event_types(&self) -> &[&str] {
        &[]
    }

    fn handle(&mut self, event: &RecordedEvent) -> Result<(), HandleError> {
        if event.global_position <= self.last_position {
            return Ok(()); // a replay: already counted
        }
        self.last_position = event.global_position;
        self.total_events += 1;
        match self.per_event_type.get_mut(event.event_type.as_str()) {
            Some(n) => *n += 1,
            None => {
                self.per_event_type.insert(event.event_type.clone(), 1);
            }
        }
        let v = self
            .stream_versions
            .entry(event.stream_id.to_string())
            .or_default();
        *v = (*v).max(event.stream_version);
        Ok(())
    }
}
