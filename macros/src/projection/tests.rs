//! Expansion snapshots of `#[eventfold::projection]`. Refresh with
//! `INSTA_UPDATE=always cargo test -p eventfold-macros`, then read the diff.

use proc_macro2::TokenStream;
use quote::quote;

fn pretty(tokens: TokenStream) -> String {
    match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(_) => tokens.to_string(),
    }
}

#[test]
fn projection_handlers_across_aggregates() {
    insta::assert_snapshot!(pretty(super::attribute(
        quote!(),
        quote! {
            impl Balances {
                #[handle]
                fn opened(&mut self, e: &AccountOpened, meta: &EventMeta) {
                    self.0.insert(meta.stream_id.to_string(), e.initial_balance);
                }
                #[handle]
                fn shipped(&mut self, _: &orders::OrderShipped) -> Result<(), Oops> { Ok(()) }
                fn helper(&self) {}
            }
        }
    )));
}

#[test]
fn projection_with_options_and_hooks() {
    insta::assert_snapshot!(pretty(super::attribute(
        quote!(
            name = "bank.balances",
            codec = MyCodec,
            on_error = "dead_letter",
            crate = ::my_eventfold
        ),
        quote! {
            impl SqlBalances {
                #[handle]
                fn deposited(&mut self, e: &MoneyDeposited) {}
                #[checkpoint]
                fn load(&mut self) -> Result<Option<u64>, DbError> { Ok(None) }
                #[commit]
                fn commit(&mut self, position: u64) -> Result<(), DbError> { Ok(()) }
                #[rollback]
                fn rollback(&mut self) -> bool { true }
                #[reset]
                fn reset(&mut self) {}
            }
        }
    )));
}

#[test]
fn projection_error_keeps_the_block_and_adds_a_fallback() {
    insta::assert_snapshot!(pretty(super::attribute(
        quote!(),
        quote! {
            impl Balances {
                #[handle]
                fn opened(&self, e: AccountOpened) {}
            }
        }
    )));
}
