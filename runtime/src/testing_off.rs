//! Without the `testing` feature, the given-when-then macros still exist,
//! to say what is missing instead of "cannot find macro".

/// Stands in for the given-when-then macros without the `testing` feature.
#[doc(hidden)]
#[macro_export]
macro_rules! __eventfold_testing_needed {
    ($name:literal) => {
        ::core::compile_error!(::core::concat!(
            "`eventfold::",
            $name,
            "!` needs eventfold's `testing` feature: add `eventfold = { version = \"...\", features = [\"testing\"] }` under `[dev-dependencies]`"
        ))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! scenario {
    ($($_:tt)*) => {
        $crate::__eventfold_testing_needed!("scenario")
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! scenarios {
    ($($_:tt)*) => {
        $crate::__eventfold_testing_needed!("scenarios")
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! pattern {
    ($($_:tt)*) => {
        $crate::__eventfold_testing_needed!("pattern")
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! projection_scenario {
    ($($_:tt)*) => {
        $crate::__eventfold_testing_needed!("projection_scenario")
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! projection_scenarios {
    ($($_:tt)*) => {
        $crate::__eventfold_testing_needed!("projection_scenarios")
    };
}
