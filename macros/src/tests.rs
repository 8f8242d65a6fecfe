//! Expansion snapshots: every change to generated code is reviewed as a
//! diff. Refresh with `INSTA_UPDATE=always cargo test -p eventfold-macros`
//! (or `cargo insta review`), then read the diff.

use proc_macro2::TokenStream;
use quote::quote;

fn pretty(tokens: TokenStream) -> String {
    match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(_) => tokens.to_string(),
    }
}

#[test]
fn event_default_name_and_version() {
    insta::assert_snapshot!(pretty(crate::event::derive(quote! {
        pub struct AccountOpened { pub owner: String }
    })));
}

#[test]
fn event_renamed_versioned_with_upcaster() {
    insta::assert_snapshot!(pretty(crate::event::derive(quote! {
        #[event(name = "MoneyDeposited", version = 2, upcast_from = MoneyDepositedV1)]
        pub struct MoneyDeposited { pub amount: u64, pub currency: String }
    })));
}

#[test]
fn aggregate_with_options() {
    insta::assert_snapshot!(pretty(crate::aggregate::derive(
        quote! {
            #[aggregate(
                events(AccountOpened, events::MoneyDeposited),
                error = AccountError,
                name = "account",
                snapshot_every = 100,
                schema_version = 2
            )]
            pub struct BankAccount { balance: u64 }
        },
        None
    )));
}

#[test]
fn aggregate_with_renamed_crate() {
    insta::assert_snapshot!(pretty(crate::aggregate::derive(
        quote! {
            #[aggregate(events(Ticked), error = Never, crate = ::my_eventfold)]
            struct Counter;
        },
        None
    )));
}

#[test]
fn handlers_commands_and_applies() {
    insta::assert_snapshot!(pretty(crate::handlers::attribute(
        quote!(),
        quote! {
            impl BankAccount {
                /// Opens the account.
                #[command]
                fn open(&self, owner: String, initial_balance: u64) -> Result<AccountOpened, AccountError> {
                    Ok(AccountOpened { owner, initial_balance })
                }

                #[command]
                fn close(&self, ctx: &CommandContext) -> Result<Option<AccountClosed>, AccountError> {
                    Ok(None)
                }

                fn helper(&self) {}

                #[apply]
                fn opened(&mut self, e: &AccountOpened) {}

                #[apply]
                fn closed(&mut self, e: &AccountClosed, ctx: &ApplyContext) {}
            }
        },
    )));
}

#[test]
fn handlers_error_keeps_the_block_and_adds_a_fallback() {
    insta::assert_snapshot!(pretty(crate::handlers::attribute(
        quote!(crate = ::ef, vis = pub(crate)),
        quote! {
            impl Counter {
                #[command]
                fn bump(self) -> Result<Ticked, Never> { Ok(Ticked) }
            }
        },
    )));
}

#[test]
fn aggregate_with_payload_upcasters_and_schema_lock() {
    insta::assert_snapshot!(pretty(crate::aggregate::derive(
        quote! {
            #[aggregate(
                events(FundsAdded, FundsRemoved),
                error = LedgerError,
                upcasters(
                    rename("CashDeposited" => FundsAdded),
                    split(TransferRecorded => split_transfer),
                    retire("AuditPinged", "Heartbeat"),
                ),
                schema_lock = "ledger.lock"
            )]
            pub struct Ledger { cents: u64 }
        },
        None,
    )));
}

#[test]
fn type_text_is_compact_and_stable() {
    let t = |s: &str| crate::event::type_text_for_tests(&syn::parse_str(s).unwrap());
    assert_eq!(t("Vec<Option<u64>>"), "Vec<Option<u64>>");
    assert_eq!(
        t("std::collections::HashMap<String, u64>"),
        "std::collections::HashMap<String, u64>"
    );
    assert_eq!(t("&'static str"), "&'static str");
    assert_eq!(t("[u8; 4]"), "[u8; 4]");
    assert_eq!(t("(u8, String)"), "(u8, String)");
}
