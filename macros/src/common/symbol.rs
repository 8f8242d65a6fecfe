//! Every attribute key, method marker and context type the macros know, in
//! one table (serde's `symbol.rs` habit): a key is spelled once, and the
//! "did you mean" lists come from the same table as the parsers.

use std::fmt;

/// A name the macros recognise in attributes or parameter types.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct Symbol(pub &'static str);

impl Symbol {
    /// The name as written.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl PartialEq<Symbol> for syn::Ident {
    fn eq(&self, word: &Symbol) -> bool {
        self == word.0
    }
}

impl PartialEq<Symbol> for &syn::Ident {
    fn eq(&self, word: &Symbol) -> bool {
        *self == word.0
    }
}

impl PartialEq<Symbol> for syn::Path {
    fn eq(&self, word: &Symbol) -> bool {
        self.is_ident(word.0)
    }
}

impl PartialEq<Symbol> for &syn::Path {
    fn eq(&self, word: &Symbol) -> bool {
        self.is_ident(word.0)
    }
}

// ---- keys shared by several attributes
/// `crate = path`: the runtime crate's path, when renamed.
pub const CRATE: Symbol = Symbol("crate");
/// `name = "..."`.
pub const NAME: Symbol = Symbol("name");

// ---- #[aggregate(...)]
/// `events(A, B)`.
pub const EVENTS: Symbol = Symbol("events");
/// `error = Type`.
pub const ERROR: Symbol = Symbol("error");
/// `snapshot_every = N`.
pub const SNAPSHOT_EVERY: Symbol = Symbol("snapshot_every");
/// `schema_version = N`.
pub const SCHEMA_VERSION: Symbol = Symbol("schema_version");
/// `schema_lock = "file"`.
pub const SCHEMA_LOCK: Symbol = Symbol("schema_lock");
/// `upcasters(...)`.
pub const UPCASTERS: Symbol = Symbol("upcasters");
/// `rename("Old" => Event)` in `upcasters(...)`.
pub const RENAME: Symbol = Symbol("rename");
/// `split(Legacy => function)` in `upcasters(...)`.
pub const SPLIT: Symbol = Symbol("split");
/// `retire("Name", ...)` in `upcasters(...)`.
pub const RETIRE: Symbol = Symbol("retire");

/// The keys of `#[aggregate(...)]`.
pub const AGGREGATE_KEYS: &[Symbol] = &[
    EVENTS,
    ERROR,
    NAME,
    SNAPSHOT_EVERY,
    SCHEMA_VERSION,
    SCHEMA_LOCK,
    UPCASTERS,
    CRATE,
];
/// The upcaster kinds of `upcasters(...)`.
pub const UPCASTER_KINDS: &[Symbol] = &[RENAME, SPLIT, RETIRE];

// ---- #[event(...)]
/// `version = N`.
pub const VERSION: Symbol = Symbol("version");
/// `upcast_from = Type`.
pub const UPCAST_FROM: Symbol = Symbol("upcast_from");

/// The keys of `#[event(...)]`.
pub const EVENT_KEYS: &[Symbol] = &[NAME, VERSION, UPCAST_FROM, CRATE];

// ---- #[eventfold::handlers(...)]
/// `vis = pub(crate)`.
pub const VIS: Symbol = Symbol("vis");
/// The arguments of `#[eventfold::handlers(...)]`.
/// `#[eventfold::handlers(tag = "type")]`: the JSON key naming a command.
pub const TAG: Symbol = Symbol("tag");
/// `#[eventfold::handlers(rename_all = "kebab-case")]`: serde's rule for
/// the command names.
pub const RENAME_ALL: Symbol = Symbol("rename_all");
/// The keys of `#[eventfold::handlers(...)]`.
pub const HANDLERS_KEYS: &[Symbol] = &[CRATE, VIS, TAG, RENAME_ALL];
/// `#[command]`.
pub const COMMAND: Symbol = Symbol("command");
/// `#[apply]`.
pub const APPLY: Symbol = Symbol("apply");

// ---- #[eventfold::projection(...)]
/// `codec = Type`.
pub const CODEC: Symbol = Symbol("codec");
/// `on_error = "stop" | "dead_letter"`.
pub const ON_ERROR: Symbol = Symbol("on_error");
/// The arguments of `#[eventfold::projection(...)]`.
pub const PROJECTION_KEYS: &[Symbol] = &[NAME, CODEC, ON_ERROR, CRATE];
/// `#[handle]`.
pub const HANDLE: Symbol = Symbol("handle");
/// `#[checkpoint]`.
pub const CHECKPOINT: Symbol = Symbol("checkpoint");
/// `#[commit]`.
pub const COMMIT: Symbol = Symbol("commit");
/// `#[rollback]`.
pub const ROLLBACK: Symbol = Symbol("rollback");
/// `#[reset]`.
pub const RESET: Symbol = Symbol("reset");

// ---- #[eventfold::process_manager(...)]
/// `sends(A, B)`.
pub const SENDS: Symbol = Symbol("sends");
/// The arguments of `#[eventfold::process_manager(...)]`.
pub const PROCESS_KEYS: &[Symbol] = &[NAME, SENDS, CRATE];
/// `#[start(...)]`: an event that starts an instance.
pub const START: Symbol = Symbol("start");
/// `#[end(...)]`: an event that ends an instance.
pub const END: Symbol = Symbol("end");
/// `#[rejected]`: a command's rejection.
pub const REJECTED: Symbol = Symbol("rejected");
/// `#[deadline]`: a deadline firing.
pub const DEADLINE: Symbol = Symbol("deadline");
/// `key = field` or `key = method()` in an association rule.
pub const KEY: Symbol = Symbol("key");
/// `correlated` in an association rule.
pub const CORRELATED: Symbol = Symbol("correlated");
/// The association rules of `#[start(...)]`, `#[handle(...)]`, `#[end(...)]`.
pub const ASSOCIATION_KEYS: &[Symbol] = &[KEY, CORRELATED];

// ---- parameter types the impl-block macros recognise by name
/// `&CommandContext` of a `#[command]`.
pub const COMMAND_CONTEXT: Symbol = Symbol("CommandContext");
/// `&ApplyContext` of an `#[apply]` handler.
pub const APPLY_CONTEXT: Symbol = Symbol("ApplyContext");
/// `&EventMeta` of a projection's `#[handle]` method.
pub const EVENT_META: Symbol = Symbol("EventMeta");
/// `&mut ProcessContext<Self>` of a process manager's handlers.
pub const PROCESS_CONTEXT: Symbol = Symbol("ProcessContext");
/// Every context type: a parameter of one of these types is never a command
/// argument or an event, whatever its method.
pub const CONTEXTS: &[Symbol] = &[COMMAND_CONTEXT, APPLY_CONTEXT, EVENT_META, PROCESS_CONTEXT];
