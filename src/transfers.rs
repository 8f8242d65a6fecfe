//! Money transfers between bank accounts (the accounts of [`crate::bank`]),
//! coordinated by a process manager.
//!
//! A [`Transfer`] records the request and how it ended. The
//! [`TransferProcess`] withdraws from the source account, deposits into the
//! destination (a [`BankAccount`] here, or an [`ExternalAccount`] at another
//! bank, which answers later or never), and refunds the source when the
//! deposit is refused or no answer comes within [`DEPOSIT_TIMEOUT_SECS`].

use eventfold::prelude::*;

use eventfold::SnapshotStore;

use crate::bank::{AccountError, BankAccount, BankAccountCommand, MoneyDeposited, MoneyWithdrawn};

/// How long a deposit may go unanswered before the transfer is refunded.
pub const DEPOSIT_TIMEOUT_SECS: u64 = 30;

/// A transfer was asked for.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TransferRequested {
    /// The transfer's id (its stream is `Transfer-{id}`).
    pub transfer_id: String,
    /// The source account's id.
    pub from: String,
    /// The destination account's id.
    pub to: String,
    /// Whether the destination is an account at another bank.
    pub external: bool,
    /// The amount, in cents.
    pub amount: u64,
}

/// The money reached the destination.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TransferCompleted;

/// The money went back to the source account.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TransferRefunded {
    /// Why the deposit did not happen.
    pub reason: String,
}

/// Nothing moved (the withdrawal was refused).
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TransferFailed {
    /// Why.
    pub reason: String,
}

/// Why a command on a transfer was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    /// `request` on a transfer that exists.
    #[error("the transfer was requested already")]
    AlreadyRequested,
    /// An amount of zero, or the same account on both sides.
    #[error("invalid transfer: {0}")]
    Invalid(&'static str),
    /// `complete`, `refund` or `fail` on a transfer that is not in progress.
    #[error("the transfer is not in progress")]
    NotInProgress,
}

/// Where a transfer is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TransferStatus {
    /// Not requested.
    #[default]
    None,
    /// Requested, in progress.
    InProgress,
    /// The money reached the destination.
    Completed,
    /// The money went back.
    Refunded,
    /// Nothing moved.
    Failed,
}

/// One transfer.
#[derive(Aggregate, Default, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[aggregate(
    events(TransferRequested, TransferCompleted, TransferRefunded, TransferFailed),
    error = TransferError
)]
pub struct Transfer {
    /// Where it is.
    pub status: TransferStatus,
    /// The amount.
    pub amount: u64,
}

#[eventfold::handlers]
impl Transfer {
    fn in_progress(&self) -> Result<(), TransferError> {
        match self.status {
            TransferStatus::InProgress => Ok(()),
            _ => Err(TransferError::NotInProgress),
        }
    }

    /// Asks for a transfer.
    #[command]
    fn request(
        &self,
        transfer_id: String,
        from: String,
        to: String,
        external: bool,
        amount: u64,
    ) -> Result<TransferRequested, TransferError> {
        if self.status != TransferStatus::None {
            return Err(TransferError::AlreadyRequested);
        }
        if amount == 0 {
            return Err(TransferError::Invalid("the amount must be positive"));
        }
        if from == to && !external {
            return Err(TransferError::Invalid("the accounts must differ"));
        }
        Ok(TransferRequested {
            transfer_id,
            from,
            to,
            external,
            amount,
        })
    }

    /// Records that the money arrived.
    #[command]
    fn complete(&self) -> Result<TransferCompleted, TransferError> {
        self.in_progress()?;
        Ok(TransferCompleted)
    }

    /// Records that the money went back.
    #[command]
    fn refund(&self, reason: String) -> Result<TransferRefunded, TransferError> {
        self.in_progress()?;
        Ok(TransferRefunded { reason })
    }

    /// Records that nothing moved.
    #[command]
    fn fail(&self, reason: String) -> Result<TransferFailed, TransferError> {
        self.in_progress()?;
        Ok(TransferFailed { reason })
    }

    #[apply]
    fn requested(&mut self, e: &TransferRequested) {
        self.status = TransferStatus::InProgress;
        self.amount = e.amount;
    }

    #[apply]
    fn completed(&mut self, _: &TransferCompleted) {
        self.status = TransferStatus::Completed;
    }

    #[apply]
    fn refunded(&mut self, _: &TransferRefunded) {
        self.status = TransferStatus::Refunded;
    }

    #[apply]
    fn failed(&mut self, _: &TransferFailed) {
        self.status = TransferStatus::Failed;
    }
}

/// A credit to an account at another bank was sent.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CreditSent {
    /// The transfer it belongs to.
    pub transfer_id: String,
    /// The amount.
    pub amount: u64,
}

/// The other bank confirmed a credit.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CreditConfirmed {
    /// The transfer it belongs to.
    pub transfer_id: String,
}

/// Why the gateway to another bank refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExternalError {
    /// A confirmation for a credit never sent.
    #[error("no credit was sent for transfer `{0}`")]
    UnknownCredit(String),
}

/// An account at another bank, as seen through the gateway: credits go out,
/// confirmations come back (or not).
#[derive(Aggregate, Default, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[aggregate(events(CreditSent, CreditConfirmed), error = ExternalError)]
pub struct ExternalAccount {
    /// Credits sent and not yet confirmed, by transfer id.
    pub pending: Vec<String>,
    /// Money confirmed as arrived, in cents.
    pub confirmed: u64,
    /// Amount per pending transfer.
    pub amounts: Vec<u64>,
}

#[eventfold::handlers]
impl ExternalAccount {
    /// Sends a credit to the other bank.
    #[command]
    fn credit(&self, transfer_id: String, amount: u64) -> Result<CreditSent, ExternalError> {
        Ok(CreditSent {
            transfer_id,
            amount,
        })
    }

    /// The other bank's confirmation.
    #[command]
    fn confirm(&self, transfer_id: String) -> Result<CreditConfirmed, ExternalError> {
        if !self.pending.contains(&transfer_id) {
            return Err(ExternalError::UnknownCredit(transfer_id));
        }
        Ok(CreditConfirmed { transfer_id })
    }

    #[apply]
    fn sent(&mut self, e: &CreditSent) {
        self.pending.push(e.transfer_id.clone());
        self.amounts.push(e.amount);
    }

    #[apply]
    fn confirmed(&mut self, e: &CreditConfirmed) {
        if let Some(i) = self.pending.iter().position(|t| *t == e.transfer_id) {
            self.pending.remove(i);
            self.confirmed += self.amounts.remove(i);
        }
    }
}

/// The deadline of a deposit: refund if it has not arrived by then.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct DepositTimeout;

/// Where a transfer's workflow is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stage {
    /// Waiting for the withdrawal.
    #[default]
    Withdrawing,
    /// Withdrawn; waiting for the deposit.
    Depositing,
    /// The deposit failed; waiting for the refund.
    Refunding,
}

/// The process manager of transfers.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct TransferProcess {
    /// The transfer.
    pub transfer_id: String,
    /// The source account.
    pub from: String,
    /// The destination account.
    pub to: String,
    /// Whether the destination is at another bank.
    pub external: bool,
    /// The amount.
    pub amount: u64,
    /// Where it is.
    pub stage: Stage,
    /// Why it is refunding.
    pub refund_reason: String,
}

#[eventfold::process_manager(name = "transfers", sends(BankAccount, ExternalAccount, Transfer))]
impl TransferProcess {
    /// A transfer was asked for: withdraw from the source.
    #[start(key = transfer_id)]
    fn requested(&mut self, e: &TransferRequested, ctx: &mut ProcessContext<Self>) {
        self.transfer_id = e.transfer_id.clone();
        self.from = e.from.clone();
        self.to = e.to.clone();
        self.external = e.external;
        self.amount = e.amount;
        ctx.send::<BankAccount>(&e.from, BankAccountCommand::withdraw(e.amount));
    }

    /// Withdrawn: deposit into the destination, refund if it does not
    /// arrive in time.
    #[handle(correlated)]
    fn withdrawn(&mut self, _: &MoneyWithdrawn, ctx: &mut ProcessContext<Self>) {
        if self.stage != Stage::Withdrawing {
            return;
        }
        self.stage = Stage::Depositing;
        if self.external {
            ctx.send::<ExternalAccount>(
                &self.to,
                ExternalAccountCommand::credit(self.transfer_id.clone(), self.amount),
            );
        } else {
            ctx.send::<BankAccount>(&self.to, BankAccountCommand::deposit(self.amount));
        }
        ctx.schedule_in(
            std::time::Duration::from_secs(DEPOSIT_TIMEOUT_SECS),
            DepositTimeout,
        );
    }

    /// A deposit caused by this transfer: the destination's (done) or the
    /// refund's.
    #[handle(correlated)]
    fn deposited(&mut self, _: &MoneyDeposited, ctx: &mut ProcessContext<Self>) {
        match self.stage {
            Stage::Depositing => self.completed(ctx),
            Stage::Refunding => {
                ctx.send::<Transfer>(
                    &self.transfer_id,
                    TransferCommand::refund(self.refund_reason.clone()),
                );
                ctx.end();
            }
            Stage::Withdrawing => {}
        }
    }

    /// The other bank confirmed the credit.
    #[handle(key = transfer_id)]
    fn confirmed(&mut self, _: &CreditConfirmed, ctx: &mut ProcessContext<Self>) {
        if self.stage == Stage::Depositing {
            self.completed(ctx);
        }
    }

    fn completed(&mut self, ctx: &mut ProcessContext<Self>) {
        ctx.cancel::<DepositTimeout>();
        ctx.send::<Transfer>(&self.transfer_id, TransferCommand::complete());
        ctx.end();
    }

    fn refund(&mut self, reason: String, ctx: &mut ProcessContext<Self>) {
        self.stage = Stage::Refunding;
        self.refund_reason = reason;
        ctx.cancel::<DepositTimeout>();
        ctx.send::<BankAccount>(&self.from, BankAccountCommand::deposit(self.amount));
    }

    /// An account refused: the withdrawal (nothing moved), the deposit
    /// (refund), or the refund itself (recorded as failed, for a human).
    #[rejected]
    fn account_refused(&mut self, r: &Rejected<BankAccount>, ctx: &mut ProcessContext<Self>) {
        let reason = r.error.to_string();
        match self.stage {
            Stage::Withdrawing => {
                ctx.send::<Transfer>(&self.transfer_id, TransferCommand::fail(reason));
                ctx.end();
            }
            Stage::Depositing => self.refund(format!("deposit refused: {reason}"), ctx),
            Stage::Refunding => {
                let reason = format!("refund refused: {reason}");
                ctx.send::<Transfer>(&self.transfer_id, TransferCommand::fail(reason));
                ctx.end();
            }
        }
    }

    /// The gateway refused the credit: refund.
    #[rejected]
    fn external_refused(&mut self, r: &Rejected<ExternalAccount>, ctx: &mut ProcessContext<Self>) {
        if self.stage == Stage::Depositing {
            self.refund(format!("credit refused: {}", r.error), ctx);
        }
    }

    /// Recording the outcome on the transfer was refused: it is settled
    /// already (a human changed it); nothing more to do.
    #[rejected]
    fn transfer_refused(&mut self, _: &Rejected<Transfer>) {}

    /// No answer in time: refund.
    #[deadline]
    fn deposit_timeout(&mut self, _: &DepositTimeout, ctx: &mut ProcessContext<Self>) {
        if self.stage == Stage::Depositing {
            self.refund(format!("no answer within {DEPOSIT_TIMEOUT_SECS} s"), ctx);
        }
    }
}

/// The accounts, transfers and the gateway of one store, with the runner of
/// [`TransferProcess`]: what the example, the tests and the benchmark share.
pub struct Bank<S> {
    /// The store.
    pub store: S,
    /// Accounts of this bank.
    pub accounts: Repository<BankAccount, S>,
    /// Transfers.
    pub transfers: Repository<Transfer, S>,
    /// Accounts at other banks.
    pub external: Repository<ExternalAccount, S>,
}

impl<S> Bank<S>
where
    S: EventStore + SnapshotStore + Clone,
{
    /// The repositories of `store` (account snapshots on).
    pub fn new(store: S) -> Self {
        Self {
            accounts: Repository::with_snapshots(store.clone()),
            transfers: Repository::new(store.clone()),
            external: Repository::new(store.clone()),
            store,
        }
    }

    /// A runner of [`TransferProcess`] on this bank's store, with
    /// checkpoints in `checkpoints`.
    pub fn runner<K: eventfold::projection::CheckpointStore>(
        &self,
        checkpoints: K,
    ) -> ProcessRunner<TransferProcess, S, K> {
        ProcessRunner::new(self.store.clone(), checkpoints)
            .dispatch_to(Repository::<BankAccount, S>::with_snapshots(
                self.store.clone(),
            ))
            .dispatch_to(Repository::<Transfer, S>::new(self.store.clone()))
            .dispatch_to(Repository::<ExternalAccount, S>::new(self.store.clone()))
    }

    /// Opens account `id` with `balance` cents.
    pub async fn open(&self, id: &str, balance: u64) -> Result<(), RepositoryError<AccountError>> {
        let stream = self.accounts.stream_id(id).expect("a valid account id");
        self.accounts
            .execute(&stream, BankAccountCommand::open(id.to_owned(), balance))
            .await
            .map(drop)
    }

    /// Asks for a transfer of `amount` from `from` to `to` (an account of
    /// this bank, or of another when `external`).
    pub async fn request(
        &self,
        transfer_id: &str,
        from: &str,
        to: &str,
        external: bool,
        amount: u64,
    ) -> Result<(), RepositoryError<TransferError>> {
        let stream = self
            .transfers
            .stream_id(transfer_id)
            .expect("a valid transfer id");
        let command = TransferCommand::request(
            transfer_id.to_owned(),
            from.to_owned(),
            to.to_owned(),
            external,
            amount,
        );
        self.transfers.execute(&stream, command).await.map(drop)
    }

    /// The balance of account `id`, in cents.
    pub async fn balance(&self, id: &str) -> Result<u64, RepositoryError<AccountError>> {
        let stream = self.accounts.stream_id(id).expect("a valid account id");
        Ok(self.accounts.load(&stream).await?.state.balance)
    }

    /// The account `id` (its state and version).
    pub async fn account(&self, id: &str) -> Result<BankAccount, RepositoryError<AccountError>> {
        let stream = self.accounts.stream_id(id).expect("a valid account id");
        Ok(self.accounts.load(&stream).await?.state)
    }

    /// Where transfer `id` is.
    pub async fn status(&self, id: &str) -> Result<TransferStatus, RepositoryError<TransferError>> {
        let stream = self.transfers.stream_id(id).expect("a valid transfer id");
        Ok(self.transfers.load(&stream).await?.state.status)
    }
}
