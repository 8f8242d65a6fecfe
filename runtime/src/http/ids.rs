//! Validation of what a request names before it reaches a store: aggregate
//! type names and aggregate ids from the path, projection names.
//!
//! * An **aggregate name** or **projection name** is 1 to 64 ASCII letters,
//!   digits, `_`, `-` or `.`.
//! * An **aggregate id** is 1 to [`MAX_ID_LEN`] ASCII letters, digits or
//!   `-_.:@~`, and not `.` or `..`. Ids outside that set (spaces, control
//!   characters, `/`, `%`, quotes, non-ASCII look-alikes) are refused with
//!   400 rather than stored: they are where injection and confusion start.

use super::Problem;

/// The longest aggregate id accepted, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// The longest aggregate or projection name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// Checks an aggregate type or projection name.
pub fn check_name(what: &str, name: &str) -> Result<(), Problem> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Problem::bad_request(
            "invalid-name",
            format!(
                "invalid {what} name {:?}: use 1 to {MAX_NAME_LEN} ASCII letters, digits, `_`, `-` or `.`",
                shorten(name)
            ),
        ))
    }
}

/// Checks an aggregate id.
pub fn check_id(id: &str) -> Result<(), Problem> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:@~".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Problem::bad_request(
            "invalid-id",
            format!(
                "invalid aggregate id {:?}: use 1 to {MAX_ID_LEN} ASCII letters, digits or `-_.:@~`",
                shorten(id)
            ),
        ))
    }
}

/// The first 80 characters of a hostile input, for an error message.
fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(80).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["acc-123", "a", "user@example.com", "x:y~z_1.2"] {
            assert!(check_id(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(MAX_ID_LEN + 1);
        for bad in [
            "", ".", "..", "a b", "a/b", "a\0b", "ä", "<script>", "a%2F", &long,
        ] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names() {
        assert!(check_name("aggregate", "BankAccount").is_ok());
        assert!(check_name("projection", "bank.daily_summary").is_ok());
        assert!(check_name("aggregate", "Bank Account").is_err());
        assert!(check_name("aggregate", "").is_err());
    }
}
