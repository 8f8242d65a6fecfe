//! The macro forms of scenarios: [`scenario!`](crate::scenario),
//! [`scenarios!`](crate::scenarios), [`pattern!`](crate::pattern),
//! [`projection_scenario!`](crate::projection_scenario) and
//! [`projection_scenarios!`](crate::projection_scenarios).

/// A [`Pattern`](crate::testing::Pattern) from a pattern (and an optional
/// `if` guard), for
/// [`Scenario::then_error_matches`](crate::testing::Scenario::then_error_matches).
/// The pattern's text is kept for the failure message. (For the produced
/// events, use the `then_events_match:` step of [`scenario!`](crate::scenario)
/// or [`Scenario::then_events_where`](crate::testing::Scenario::then_events_where).)
///
/// ```
/// # use eventfold::pattern;
/// #[derive(Debug)]
/// enum AccountError { InsufficientFunds { requested: u64 } }
/// let p = pattern!(AccountError::InsufficientFunds { requested } if *requested > 10);
/// assert!(p.matches(&AccountError::InsufficientFunds { requested: 11 }));
/// assert!(!p.matches(&AccountError::InsufficientFunds { requested: 3 }));
/// assert_eq!(p.text(), "AccountError::InsufficientFunds { requested } if *requested > 10");
/// ```
#[macro_export]
macro_rules! pattern {
    ($pattern:pat $(if $guard:expr)? $(,)?) => {
        $crate::testing::Pattern::new(
            ::core::concat!(
                ::core::stringify!($pattern)
                $(, " if ", ::core::stringify!($guard))?
            ),
            |error| ::core::matches!(error, $pattern $(if $guard)?),
        )
    };
}

/// A given-when-then scenario of one aggregate, as a statement.
///
/// The first item names the aggregate; then come steps, in order, each
/// becoming one call on a [`Scenario`](crate::testing::Scenario):
///
/// | step | meaning |
/// |------|---------|
/// | `codec: expr` | use this codec for the round trips |
/// | `stream: "Account-7"` | the stream id |
/// | `at: "2026-01-01T09:00:00Z"` | set the clock |
/// | `advance: duration` | move the clock |
/// | `given: [e1, e2 => metadata, ...]` | past events (any event struct of the aggregate), optionally with metadata |
/// | `when: command` or `when: command => metadata` | run a command |
/// | `then: [e1, e2]` | exactly these events; `then: []` for none |
/// | `then_error: value` | rejected with an error equal to `value` |
/// | `then_events_match: [Event::A(..), ..] if guard` | the events match a slice pattern |
/// | `then_error_matches: Pattern { .. } if guard` | rejected with an error matching the pattern |
/// | `then_state: \|s\| predicate` | the state satisfies the predicate |
/// | `then_state_eq: value` | the state equals `value` |
/// | `restart` | rebuild from the recorded events; must equal the live state |
///
/// ```
/// use eventfold::prelude::*;
/// use eventfold::scenario;
///
/// #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
/// pub struct Opened { pub owner: String }
/// #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
/// pub struct Deposited { pub amount: u64 }
///
/// #[derive(Debug, PartialEq, thiserror::Error)]
/// pub enum WalletError {
///     #[error("amount must be positive")] Zero,
///     #[error("too much: {amount}")] TooMuch { amount: u64 },
/// }
///
/// #[derive(Aggregate, Default, Debug, PartialEq)]
/// #[aggregate(events(Opened, Deposited), error = WalletError)]
/// pub struct Wallet { balance: u64 }
///
/// #[eventfold::handlers]
/// impl Wallet {
///     #[command]
///     fn deposit(&self, amount: u64) -> Result<Deposited, WalletError> {
///         match amount {
///             0 => Err(WalletError::Zero),
///             1..=1000 => Ok(Deposited { amount }),
///             _ => Err(WalletError::TooMuch { amount }),
///         }
///     }
///     #[apply]
///     fn opened(&mut self, _: &Opened) {}
///     #[apply]
///     fn deposited(&mut self, e: &Deposited) { self.balance += e.amount }
/// }
///
/// scenario! {
///     Wallet,
///     given: [
///         Opened { owner: "ada".into() } => Metadata::default().with_actor("clerk"),
///         Deposited { amount: 5 },
///     ],
///     when: WalletCommand::deposit(7),
///     then: [Deposited { amount: 7 }],
///     then_state: |w| w.balance == 12,
///     when: WalletCommand::deposit(5000),
///     then_error_matches: WalletError::TooMuch { amount } if *amount > 1000,
///     when: WalletCommand::deposit(0),
///     then_error: WalletError::Zero,
///     restart,
/// }
/// ```
///
/// A misspelled step is a compile error naming the known steps:
///
/// ```compile_fail
/// # use eventfold::prelude::*;
/// # #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
/// # pub struct Deposited { pub amount: u64 }
/// # #[derive(Debug, PartialEq, thiserror::Error)]
/// # #[error("never")] pub struct Never;
/// # #[derive(Aggregate, Default, Debug, PartialEq)]
/// # #[aggregate(events(Deposited), error = Never)]
/// # pub struct Wallet { balance: u64 }
/// # #[eventfold::handlers]
/// # impl Wallet {
/// #     #[apply]
/// #     fn deposited(&mut self, e: &Deposited) { self.balance += e.amount }
/// # }
/// eventfold::scenario! {
///     Wallet,
///     gvien: [Deposited { amount: 5 }], // error: unknown step `gvien`
///     then_state: |w| w.balance == 5,
/// }
/// ```
#[macro_export]
macro_rules! scenario {
    ($aggregate:ty, $($steps:tt)*) => {
        $crate::scenario!(
            @steps $aggregate;
            [$crate::testing::Scenario::<$aggregate>::new()]
            $($steps)*
        )
    };

    // ----- the end -----
    (@steps $a:ty; [$($acc:tt)*] $(,)?) => {
        { let _ = $($acc)*; }
    };

    // ----- set-up -----
    (@steps $a:ty; [$($acc:tt)*] codec: $codec:expr $(, $($rest:tt)*)?) => {
        $crate::scenario!(@steps $a; [$($acc)*.codec($codec)] $($($rest)*)?)
    };
    (@steps $a:ty; [$($acc:tt)*] stream: $stream:expr $(, $($rest:tt)*)?) => {
        $crate::scenario!(@steps $a; [$($acc)*.stream($stream)] $($($rest)*)?)
    };
    (@steps $a:ty; [$($acc:tt)*] at: $time:expr $(, $($rest:tt)*)?) => {
        $crate::scenario!(@steps $a; [$($acc)*.at($time)] $($($rest)*)?)
    };
    (@steps $a:ty; [$($acc:tt)*] advance: $by:expr $(, $($rest:tt)*)?) => {
        $crate::scenario!(@steps $a; [$($acc)*.advance($by)] $($($rest)*)?)
    };

    // ----- given -----
    (@steps $a:ty; [$($acc:tt)*]
        given: [$($event:expr $(=> $metadata:expr)?),* $(,)?] $(, $($rest:tt)*)?) => {
        $crate::scenario!(@steps $a; [$($acc)*
            $(.__given_one(
                $crate::testing::Scenario::<$a>::event($event),
                ::core::option::Option::None $(.or(::core::option::Option::Some($metadata)))?
            ))*
        ] $($($rest)*)?)
    };

    // ----- when -----
    (@steps $a:ty; [$($acc:tt)*] when: $command:expr => $metadata:expr $(, $($rest:tt)*)?) => {
        $crate::scenario!(@steps $a; [$($acc)*.when_with($command, $metadata)] $($($rest)*)?)
    };
    (@steps $a:ty; [$($acc:tt)*] when: $command:expr $(, $($rest:tt)*)?) => {
        $crate::scenario!(@steps $a; [$($acc)*.when($command)] $($($rest)*)?)
    };

    // ----- then -----
    (@steps $a:ty; [$($acc:tt)*] then: [$(,)?] $(, $($rest:tt)*)?) => {
        $crate::scenario!(@steps $a; [$($acc)*.then_no_events()] $($($rest)*)?)
    };
    (@steps $a:ty; [$($acc:tt)*] then: [$($event:expr),+ $(,)?] $(, $($rest:tt)*)?) => {
        $crate::scenario!(@steps $a; [$($acc)*.then_events({
            let events: ::std::vec::Vec<<$a as $crate::Aggregate>::Event> =
                ::std::vec![$($crate::testing::Scenario::<$a>::event($event)),+];
            events
        })] $($($rest)*)?)
    };
    (@steps $a:ty; [$($acc:tt)*] then: $other:expr $(, $($rest:tt)*)?) => {
        ::core::compile_error!(
            "scenario!: `then:` takes the expected events in brackets: `then: [Event { .. }]`, or `then: []` for none"
        )
    };
    (@steps $a:ty; [$($acc:tt)*] then_error: $error:expr $(, $($rest:tt)*)?) => {
        $crate::scenario!(@steps $a; [$($acc)*.then_error($error)] $($($rest)*)?)
    };
    (@steps $a:ty; [$($acc:tt)*]
        then_error_matches: $pattern:pat $(if $guard:expr)? $(, $($rest:tt)*)?) => {
        $crate::scenario!(@steps $a; [$($acc)*.then_error_matches(
            $crate::pattern!($pattern $(if $guard)?)
        )] $($($rest)*)?)
    };
    (@steps $a:ty; [$($acc:tt)*]
        then_events_match: $pattern:pat $(if $guard:expr)? $(, $($rest:tt)*)?) => {
        $crate::scenario!(@steps $a; [$($acc)*.__then_events_described(
            |events| ::core::matches!(events, $pattern $(if $guard)?),
            ::core::concat!(
                ::core::stringify!($pattern)
                $(, " if ", ::core::stringify!($guard))?
            ),
        )] $($($rest)*)?)
    };
    (@steps $a:ty; [$($acc:tt)*] then_state: $predicate:expr $(, $($rest:tt)*)?) => {
        $crate::scenario!(@steps $a; [$($acc)*.__then_state_described(
            $predicate,
            ::core::stringify!($predicate),
        )] $($($rest)*)?)
    };
    (@steps $a:ty; [$($acc:tt)*] then_state_eq: $state:expr $(, $($rest:tt)*)?) => {
        $crate::scenario!(@steps $a; [$($acc)*.then_state_eq($state)] $($($rest)*)?)
    };

    // ----- restart -----
    (@steps $a:ty; [$($acc:tt)*] restart $(, $($rest:tt)*)?) => {
        $crate::scenario!(@steps $a; [$($acc)*.restart()] $($($rest)*)?)
    };

    // ----- anything else -----
    (@steps $a:ty; [$($acc:tt)*] $key:ident $($rest:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "scenario!: unknown step `", ::core::stringify!($key),
            "`; the steps are codec, stream, at, advance, given, when, then, then_events_match, ",
            "then_error, then_error_matches, then_state, then_state_eq and restart"
        ))
    };
}

/// Many named `#[test]` scenarios of one aggregate in one block: each case
/// is `name { steps }` with the steps of [`scenario!`](crate::scenario),
/// optionally preceded by attributes (`#[should_panic]`, `#[ignore]`, doc
/// comments). Each case becomes `#[test] fn name() { scenario!(Aggregate, steps) }`,
/// so it runs under `cargo test` (and only there).
///
/// ```
/// # use eventfold::prelude::*;
/// # #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
/// # pub struct Deposited { pub amount: u64 }
/// # #[derive(Debug, PartialEq, thiserror::Error)]
/// # pub enum WalletError { #[error("amount must be positive")] Zero }
/// # #[derive(Aggregate, Default, Debug, PartialEq)]
/// # #[aggregate(events(Deposited), error = WalletError)]
/// # pub struct Wallet { balance: u64 }
/// # #[eventfold::handlers]
/// # impl Wallet {
/// #     #[command]
/// #     fn deposit(&self, amount: u64) -> Result<Deposited, WalletError> {
/// #         if amount == 0 { return Err(WalletError::Zero) }
/// #         Ok(Deposited { amount })
/// #     }
/// #     #[apply]
/// #     fn deposited(&mut self, e: &Deposited) { self.balance += e.amount }
/// # }
/// eventfold::scenarios! {
///     Wallet;
///
///     /// A deposit is recorded.
///     deposit_is_recorded {
///         given: [Deposited { amount: 5 }],
///         when: WalletCommand::deposit(7),
///         then: [Deposited { amount: 7 }],
///     }
///
///     zero_is_rejected {
///         when: WalletCommand::deposit(0),
///         then_error: WalletError::Zero,
///     }
/// }
/// ```
#[macro_export]
macro_rules! scenarios {
    ($aggregate:ty; $($(#[$attr:meta])* $name:ident { $($steps:tt)* })*) => {
        $(
            $(#[$attr])*
            #[test]
            fn $name() {
                $crate::scenario!($aggregate, $($steps)*);
            }
        )*
    };
}

/// A given-then scenario of a projection, as a statement.
///
/// The first item is the projection value (usually `Name::default()`); then
/// come steps, each one call on a
/// [`ProjectionScenario`](crate::testing::ProjectionScenario):
///
/// | step | meaning |
/// |------|---------|
/// | `codec: expr` | encode with this codec (the projection's) |
/// | `stream: "Account-7"` | the stream of the next given events |
/// | `at: time`, `advance: duration` | the clock (the events' `recorded_at`) |
/// | `given: [e1, e2 => metadata, ...]` | stored events, handed to the projection |
/// | `then_state: \|p\| predicate` | the read model satisfies the predicate |
/// | `then_state_eq: value` | the read model equals `value` |
/// | `then_query: \|p\| query => expected` | a query returns `expected` |
/// | `rebuild` | a rebuild from zero gives the same read model |
/// | `redeliver_last: n` | the last `n` events delivered again change nothing |
///
/// ```
/// use eventfold::prelude::*;
/// use eventfold::projection::EventMeta;
///
/// #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
/// pub struct Deposited { pub amount: u64 }
///
/// #[derive(Default, Debug, PartialEq)]
/// struct Audit { actors: Vec<String>, total: u64 }
///
/// #[eventfold::projection]
/// impl Audit {
///     #[handle]
///     fn deposited(&mut self, e: &Deposited, meta: &EventMeta) {
///         self.total += e.amount;
///         self.actors.extend(meta.metadata.actor.clone());
///     }
/// }
///
/// eventfold::projection_scenario! {
///     Audit::default(),
///     stream: "wallet-1",
///     given: [
///         Deposited { amount: 5 } => Metadata::default().with_actor("ada"),
///         Deposited { amount: 7 },
///     ],
///     then_query: |a| a.total => 12,
///     then_state: |a| a.actors == ["ada"],
///     rebuild,
/// }
/// ```
#[macro_export]
macro_rules! projection_scenario {
    ($projection:expr, $($steps:tt)*) => {
        $crate::projection_scenario!(
            @steps [$crate::testing::ProjectionScenario::new($projection)] $($steps)*
        )
    };

    (@steps [$($acc:tt)*] $(,)?) => {
        { let _ = $($acc)*; }
    };
    (@steps [$($acc:tt)*] codec: $codec:expr $(, $($rest:tt)*)?) => {
        $crate::projection_scenario!(@steps [$($acc)*.codec($codec)] $($($rest)*)?)
    };
    (@steps [$($acc:tt)*] stream: $stream:expr $(, $($rest:tt)*)?) => {
        $crate::projection_scenario!(@steps [$($acc)*.stream($stream)] $($($rest)*)?)
    };
    (@steps [$($acc:tt)*] at: $time:expr $(, $($rest:tt)*)?) => {
        $crate::projection_scenario!(@steps [$($acc)*.at($time)] $($($rest)*)?)
    };
    (@steps [$($acc:tt)*] advance: $by:expr $(, $($rest:tt)*)?) => {
        $crate::projection_scenario!(@steps [$($acc)*.advance($by)] $($($rest)*)?)
    };
    (@steps [$($acc:tt)*]
        given: [$($event:expr $(=> $metadata:expr)?),* $(,)?] $(, $($rest:tt)*)?) => {
        $crate::projection_scenario!(@steps [$($acc)*
            $(.__given_one(
                $event,
                ::core::option::Option::None $(.or(::core::option::Option::Some($metadata)))?
            ))*
        ] $($($rest)*)?)
    };
    (@steps [$($acc:tt)*] then_state: $predicate:expr $(, $($rest:tt)*)?) => {
        $crate::projection_scenario!(@steps [$($acc)*.__then_state_described(
            $predicate,
            ::core::stringify!($predicate),
        )] $($($rest)*)?)
    };
    (@steps [$($acc:tt)*] then_state_eq: $state:expr $(, $($rest:tt)*)?) => {
        $crate::projection_scenario!(@steps [$($acc)*.then_state_eq($state)] $($($rest)*)?)
    };
    (@steps [$($acc:tt)*] then_query: $query:expr => $expected:expr $(, $($rest:tt)*)?) => {
        $crate::projection_scenario!(@steps [$($acc)*.__then_query_described(
            $query,
            $expected,
            ::core::stringify!($query),
        )] $($($rest)*)?)
    };
    (@steps [$($acc:tt)*] redeliver_last: $n:expr $(, $($rest:tt)*)?) => {
        $crate::projection_scenario!(@steps [$($acc)*.redeliver_last($n)] $($($rest)*)?)
    };
    (@steps [$($acc:tt)*] rebuild $(, $($rest:tt)*)?) => {
        $crate::projection_scenario!(@steps [$($acc)*.rebuild()] $($($rest)*)?)
    };
    (@steps [$($acc:tt)*] $key:ident $($rest:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "projection_scenario!: unknown step `", ::core::stringify!($key),
            "`; the steps are codec, stream, at, advance, given, then_state, then_state_eq, ",
            "then_query, rebuild and redeliver_last"
        ))
    };
}

/// Many named `#[test]` scenarios of one projection in one block: the first
/// item is the expression that makes a fresh projection, then each case is
/// `name { steps }` with the steps of
/// [`projection_scenario!`](crate::projection_scenario).
///
/// ```
/// # use eventfold::prelude::*;
/// # #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
/// # pub struct Deposited { pub amount: u64 }
/// # #[derive(Default, Debug, PartialEq)]
/// # struct Total(u64);
/// # #[eventfold::projection]
/// # impl Total {
/// #     #[handle]
/// #     fn deposited(&mut self, e: &Deposited) { self.0 += e.amount }
/// # }
/// eventfold::projection_scenarios! {
///     Total::default();
///
///     deposits_add_up {
///         given: [Deposited { amount: 1 }, Deposited { amount: 2 }],
///         then_state_eq: Total(3),
///     }
/// }
/// ```
#[macro_export]
macro_rules! projection_scenarios {
    ($projection:expr; $($(#[$attr:meta])* $name:ident { $($steps:tt)* })*) => {
        $(
            $(#[$attr])*
            #[test]
            fn $name() {
                $crate::projection_scenario!($projection, $($steps)*);
            }
        )*
    };
}
