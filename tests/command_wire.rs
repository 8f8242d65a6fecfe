//! The command enum's wire shape is the user's choice: `tag` names the JSON
//! key that carries the command, `rename_all` applies serde's rule to the
//! command names, and the generated command schema (what the HTTP service's
//! OpenAPI document shows) says exactly what serde reads.
#![allow(missing_docs)]

use eventfold::prelude::*;
use eventfold::schema::DescribeCommands;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AccountOpened {
    pub owner: String,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MoneyDeposited {
    pub amount: u64,
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum AccountError {
    #[error("the account is not open")]
    NotOpen,
}

#[derive(Aggregate, Default, Debug)]
#[aggregate(events(AccountOpened, MoneyDeposited), error = AccountError)]
pub struct Account {
    open: bool,
    balance: u64,
}

#[handlers(tag = "type", rename_all = "kebab-case")]
impl Account {
    #[command]
    fn open_account(&self, owner: String) -> AccountOpened {
        AccountOpened { owner }
    }

    #[command]
    fn deposit_money(&self, amount: u64) -> Result<MoneyDeposited, AccountError> {
        if !self.open {
            return Err(AccountError::NotOpen);
        }
        Ok(MoneyDeposited { amount })
    }

    #[apply]
    fn opened(&mut self, _: &AccountOpened) {
        self.open = true;
    }

    #[apply]
    fn deposited(&mut self, e: &MoneyDeposited) {
        self.balance += e.amount;
    }
}

#[test]
fn commands_read_and_write_the_chosen_shape() {
    let open: AccountCommand =
        serde_json::from_str(r#"{"type":"open-account","owner":"ada"}"#).unwrap();
    assert!(matches!(open, AccountCommand::OpenAccount { ref owner } if owner == "ada"));
    let deposit = AccountCommand::deposit_money(5);
    assert_eq!(
        serde_json::to_value(&deposit).unwrap(),
        serde_json::json!({"type": "deposit-money", "amount": 5})
    );
    // The default shape is not accepted any more: the choice is the contract.
    let err = serde_json::from_str::<AccountCommand>(r#"{"command":"OpenAccount","owner":"x"}"#)
        .unwrap_err();
    assert!(err.to_string().contains("type"), "{err}");
}

#[test]
fn the_command_schema_names_what_serde_reads() {
    let schema = <AccountCommand as DescribeCommands>::COMMANDS;
    assert_eq!(schema.tag, "type");
    let names: Vec<&str> = schema.variants.iter().map(|v| v.name).collect();
    assert_eq!(names, ["open-account", "deposit-money"]);
    for name in names {
        let json = format!(r#"{{"type":"{name}","owner":"o","amount":1}}"#);
        assert!(
            serde_json::from_str::<AccountCommand>(&json).is_ok(),
            "{name} must deserialize"
        );
    }
}

#[test]
fn the_default_shape_stays_as_documented() {
    let cmd: eventfold_suite::bank::BankAccountCommand =
        serde_json::from_str(r#"{"command":"Deposit","amount":7}"#).unwrap();
    assert!(matches!(
        cmd,
        eventfold_suite::bank::BankAccountCommand::Deposit { amount: 7 }
    ));
    let schema = <eventfold_suite::bank::BankAccountCommand as DescribeCommands>::COMMANDS;
    assert_eq!(schema.tag, "command");
    assert!(schema.variants.iter().any(|v| v.name == "Deposit"));
}

#[tokio::test]
async fn a_repository_runs_commands_of_either_shape() {
    let repo = Repository::<Account, _>::new(MemoryStore::new());
    let id = repo.stream_id("ada").unwrap();
    let open: AccountCommand =
        serde_json::from_str(r#"{"type":"open-account","owner":"ada"}"#).unwrap();
    repo.execute(&id, open).await.unwrap();
    let deposit: AccountCommand =
        serde_json::from_str(r#"{"type":"deposit-money","amount":3}"#).unwrap();
    assert_eq!(repo.execute(&id, deposit).await.unwrap().state.balance, 3);
}
