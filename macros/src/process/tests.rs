//! Expansion snapshots of `#[eventfold::process_manager]`. Refresh with
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
fn process_manager_routes_rejections_and_deadlines() {
    insta::assert_snapshot!(pretty(super::attribute(
        quote!(name = "transfers", sends(BankAccount, bank::Ledger)),
        quote! {
            impl Transfer {
                #[start(key = transfer_id)]
                fn requested(&mut self, e: &TransferRequested, ctx: &mut ProcessContext<Self>) {
                    ctx.send::<BankAccount>(&e.from, BankAccountCommand::withdraw(e.amount));
                    ctx.schedule_in(std::time::Duration::from_secs(30), DepositTimeout);
                }
                #[handle(correlated)]
                fn withdrawn(&mut self, e: &MoneyWithdrawn, meta: &EventMeta, ctx: &mut ProcessContext<Self>) {}
                #[end(key = transfer_key())]
                fn cancelled(&mut self, e: &TransferCancelled) -> Result<(), Oops> { Ok(()) }
                #[rejected]
                fn refused(&mut self, r: &Rejected<BankAccount>, ctx: &mut ProcessContext<Self>) {}
                #[deadline]
                fn timeout(&mut self, d: &DepositTimeout, ctx: &mut ProcessContext<Self>) {}
                fn helper(&self) {}
            }
        }
    )));
}

#[test]
fn process_manager_error_keeps_the_block_and_adds_a_fallback() {
    insta::assert_snapshot!(pretty(super::attribute(
        quote!(sends(BankAccount)),
        quote! {
            impl Transfer {
                #[start]
                fn requested(&mut self, e: &TransferRequested) {}
                #[deadline]
                fn timeout(&mut self, d: &DepositTimeout) {}
            }
        }
    )));
}
