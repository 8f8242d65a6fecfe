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

#[test]
fn type_text_ignores_spacing() {
    let t = |s: &str| crate::event::type_text_for_tests(&syn::parse_str(s).unwrap());
    assert_eq!(t("Vec < Option < u64 > >"), "Vec<Option<u64>>");
    assert_eq!(
        t("std :: collections :: HashMap<String,u64>"),
        "std::collections::HashMap<String, u64>"
    );
    assert_eq!(t("& 'static  str"), "&'static str");
    assert_eq!(t("[u8;4]"), "[u8; 4]");
    assert_eq!(t("(u8,String,)"), "(u8, String,)");
    assert_eq!(
        t("Box<dyn Fn(u8)->u8+Send>"),
        "Box<dyn Fn(u8) -> u8 + Send>"
    );
    assert_eq!(t("<T as Trait>::Out"), "<T as Trait>::Out");
}

#[test]
fn schema_sees_the_wire_format() {
    let (fields, wire) = crate::event::wire_for_tests(quote! {
        #[serde(rename_all = "camelCase", tag = "type", deny_unknown_fields)]
        pub struct MoneyDeposited {
            pub account_id: String,
            #[serde(rename = "amt")]
            pub amount_cents: u64,
            #[serde(skip_serializing_if = "Option::is_none", default)]
            pub note_text: Option<String>,
            #[serde(skip)]
            pub cache: u8,
        }
    });
    assert_eq!(
        fields,
        vec![
            ("accountId".to_owned(), "String".to_owned()),
            ("amt".to_owned(), "u64".to_owned()),
            ("noteText".to_owned(), "Option<String>".to_owned()),
        ]
    );
    assert_eq!(
        wire,
        r#"rename_all = "camelCase", tag = "type", deny_unknown_fields, noteText: skip_serializing_if = "Option::is_none" default"#
    );

    let (fields, wire) = crate::event::wire_for_tests(quote! {
        #[serde(transparent)]
        pub struct Amount(u64);
    });
    assert_eq!(fields, vec![("0".to_owned(), "u64".to_owned())]);
    assert_eq!(wire, "transparent");

    for (rule, name) in [
        ("PascalCase", "AccountId"),
        ("SCREAMING_SNAKE_CASE", "ACCOUNT_ID"),
        ("kebab-case", "account-id"),
        ("SCREAMING-KEBAB-CASE", "ACCOUNT-ID"),
        ("lowercase", "account_id"),
    ] {
        let (fields, _) = crate::event::wire_for_tests(quote! {
            #[serde(rename_all = #rule)]
            pub struct E { account_id: String }
        });
        assert_eq!(fields[0].0, name, "{rule}");
    }

    // Events without serde attributes keep the lock line they always had.
    let (_, wire) = crate::event::wire_for_tests(quote! {
        #[serde(crate = "serde")]
        pub struct Plain { amount: u64 }
    });
    assert_eq!(wire, "");
}

#[test]
fn aggregate_fallback_without_error_type() {
    // `error = ...` missing: one error, the event enum, and parts that accept
    // any command output and any applied event, so the handlers block adds
    // no error.
    insta::assert_snapshot!(pretty(crate::aggregate::derive(
        quote! {
            #[aggregate(events(AccountOpened))]
            pub struct Account { open: bool }
        },
        None
    )));
}

#[test]
fn handlers_on_a_type_path() {
    insta::assert_snapshot!(pretty(crate::handlers::attribute(
        quote!(),
        quote! {
            impl super::Account {
                #[command]
                fn open(&self, owner: String) -> AccountOpened { AccountOpened { owner } }
                #[apply]
                fn opened(&mut self, _: &AccountOpened, ctx: &ApplyContext) {}
            }
        },
    )));
}

#[test]
fn handlers_with_a_command_tag_and_renaming_rule() {
    insta::assert_snapshot!(pretty(crate::handlers::attribute(
        quote!(tag = "type", rename_all = "kebab-case"),
        quote! {
            impl Account {
                #[command]
                fn open_account(&self, owner: String) -> AccountOpened { AccountOpened { owner } }
                #[command]
                fn close(&self) -> Option<AccountClosed> { None }
                #[apply]
                fn opened(&mut self, _: &AccountOpened) {}
            }
        },
    )));
}

#[test]
fn handlers_on_a_generic_block_are_left_alone() {
    // The aggregate derive reports that aggregates cannot be generic; the
    // block is emitted unchanged (markers stripped), with no second error.
    let out = crate::handlers::attribute(
        quote!(),
        quote! {
            impl<T> Account<T> {
                #[command]
                fn open(&self) -> Opened { Opened }
            }
        },
    );
    let text = out.to_string();
    assert!(!text.contains("compile_error"), "{text}");
    assert!(!text.contains("# [command]"), "{text}");
}

#[test]
fn symbol_tables_have_no_duplicates() {
    use crate::common::symbol::*;
    for table in [
        AGGREGATE_KEYS,
        EVENT_KEYS,
        HANDLERS_KEYS,
        PROJECTION_KEYS,
        PROCESS_KEYS,
        ASSOCIATION_KEYS,
        UPCASTER_KINDS,
        CONTEXTS,
    ] {
        let mut names: Vec<&str> = table.iter().map(|s| s.as_str()).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "{names:?}");
    }
}
