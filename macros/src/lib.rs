//! Procedural macros of [eventfold](https://docs.rs/eventfold). Use them
//! through the `eventfold` crate, which re-exports them and holds the runtime
//! items the generated code names (through `::eventfold::__private`, or
//! `<crate>::__private` with `crate = path`).
//!
//! Each macro lives in its own module and runs parse -> check -> expand:
//! `ast.rs` and `attr.rs` read the input, `check.rs` reports every problem
//! at the tokens at fault, `expand.rs` writes thin glue over runtime traits.
//! The attribute macros on impl blocks share one driver
//! (`common::impl_block`: marker table, inherent-impl and self-type checks,
//! parameter classification, fallback rule); every attribute key, marker
//! and context type is spelled once in `common::symbol`.
//!
//! The rule for errors: one mistake, one error, at the user's tokens, naming
//! the fix. When a macro reports an error it still emits a fallback (as
//! thiserror does) so that the rest of the program type-checks: the
//! aggregate derive stands in for what `#[eventfold::handlers]` relies on,
//! the handlers block for what the derive relies on, the event derive for
//! the `Event` impl.

mod aggregate;
mod common;
mod event;
mod handlers;
mod process;
mod projection;

#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Derives `eventfold::Event` for a struct: the event type name (the struct's
/// name, or `#[event(name = "...")]`) and its schema version
/// (`#[event(version = N, upcast_from = PreviousVersionType)]`).
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    event::derive(input.into()).into()
}

/// Derives `eventfold::Aggregate` for a struct (not generic):
/// `#[aggregate(events(A, B, ...), error = ErrorType)]`, with optional
/// `name = "..."`, `snapshot_every = N`, `schema_version = N` and
/// `crate = path`. Generates the `<Name>Event` enum and names the
/// `<Name>Command` enum of the `#[eventfold::handlers]` block.
#[proc_macro_derive(Aggregate, attributes(aggregate))]
pub fn derive_aggregate(input: TokenStream) -> TokenStream {
    let source_dir = proc_macro::Span::call_site().local_file().and_then(|file| {
        let file = if file.is_relative() {
            std::env::current_dir().ok()?.join(file)
        } else {
            file
        };
        file.parent().map(std::path::Path::to_path_buf)
    });
    aggregate::derive(input.into(), source_dir).into()
}

/// Marks an aggregate's impl block whose `#[command]` methods decide and
/// whose `#[apply]` methods evolve the state. Generates the `<Name>Command`
/// enum and the dispatch. Optional arguments: `crate = path`, `vis = ...`
/// (visibility of the command enum, default `pub`), and the command JSON's
/// shape: `tag = "type"` (the key naming the command, default `"command"`)
/// and `rename_all = "kebab-case"` (serde's rule for the command names,
/// default the variant names: `{"command":"OpenAccount",...}`; with both,
/// `{"type":"open-account",...}`). The generated command schema (and so the
/// HTTP service's OpenAPI document) follows the same choice.
///
/// The block names the aggregate by any type path (`impl BankAccount`,
/// `impl super::BankAccount`). The command enum is generated inside the
/// block's expansion and named by `#[derive(Aggregate)]`, next to the
/// aggregate and with its visibility (`BankAccountCommand`, an alias of
/// `<BankAccount as Handlers>::Command`), like `BankAccountEvent`. One block
/// per aggregate: a second one is a single error, "conflicting
/// implementations of trait `Handlers`", pointing at both blocks.
///
/// A `#[command]` takes `&self`, owned arguments (each becomes a field of
/// the command enum) and optionally `ctx: &CommandContext`. It returns the
/// events it decides: an event of the aggregate, the event enum, `Option`,
/// `Vec` or a tuple of them, directly when the command cannot fail
/// (`-> MoneyDeposited`), or inside `Result<_, E>` where the aggregate's
/// error type implements `From<E>`. An `#[apply]` method has the shape
/// `fn name(&mut self, event: &Event)`, optionally with `ctx: &ApplyContext`.
#[proc_macro_attribute]
pub fn handlers(args: TokenStream, item: TokenStream) -> TokenStream {
    handlers::attribute(args.into(), item.into()).into()
}

/// Marks a read model's impl block whose `#[handle]` methods (one per event
/// type, from any aggregate) update it. Generates the `Projection` impl: a
/// dispatch on the stored type name that decodes only handled events.
/// Optional arguments: `name = "..."` (checkpoint key, default the type's
/// name), `codec = Type`, `on_error = "stop" | "dead_letter"`, `crate = path`.
/// Read models kept in a transactional database mark their lifecycle methods
/// `#[checkpoint]`, `#[commit]`, `#[rollback]` and `#[reset]`.
#[proc_macro_attribute]
pub fn projection(args: TokenStream, item: TokenStream) -> TokenStream {
    projection::attribute(args.into(), item.into()).into()
}

/// Marks a process manager's impl block (a saga): `#[start(key = field)]`,
/// `#[handle(key = field | key = method() | correlated)]` and `#[end(..)]`
/// methods for events, `#[rejected]` methods taking `&Rejected<Aggregate>`,
/// `#[deadline]` methods taking a deadline payload. Generates the
/// `ProcessManager` impl. Arguments: `sends(Aggregate, ...)` (the aggregates
/// it sends commands to), `name = "..."` (default: the type's name),
/// `crate = path`.
#[proc_macro_attribute]
pub fn process_manager(args: TokenStream, item: TokenStream) -> TokenStream {
    process::attribute(args.into(), item.into()).into()
}
