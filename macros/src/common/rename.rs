//! serde's `rename_all` rules, shared by the macros that must know the
//! names serde puts on the wire: the schema lock (field names of events) and
//! the command enum (variant names of commands, and their schema).

/// The rules serde accepts, in the order its docs list them.
pub const RULES: &[&str] = &[
    "lowercase",
    "UPPERCASE",
    "PascalCase",
    "camelCase",
    "snake_case",
    "SCREAMING_SNAKE_CASE",
    "kebab-case",
    "SCREAMING-KEBAB-CASE",
];

fn capitalize(part: &str) -> String {
    let mut chars = part.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_uppercase().chain(chars).collect::<String>()
    })
}

fn camel(snake: &str) -> String {
    let pascal: String = snake.split('_').map(capitalize).collect();
    let mut chars = pascal.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_lowercase().chain(chars).collect::<String>()
    })
}

/// A field name (written in snake_case) under `rule`, as serde renames
/// struct fields. An unknown rule (serde reports it) leaves the name as is.
pub fn field(rule: &str, name: &str) -> String {
    match rule {
        "lowercase" | "snake_case" => name.to_owned(),
        "UPPERCASE" | "SCREAMING_SNAKE_CASE" => name.to_ascii_uppercase(),
        "PascalCase" => name.split('_').map(capitalize).collect(),
        "camelCase" => camel(name),
        "kebab-case" => name.replace('_', "-"),
        "SCREAMING-KEBAB-CASE" => name.replace('_', "-").to_ascii_uppercase(),
        _ => name.to_owned(),
    }
}

/// The variant made from a snake_case method name (`open_account` ->
/// `OpenAccount`) under `rule`, as serde renames enum variants
/// (`lowercase`: `openaccount`; `snake_case`: `open_account`). `None`: the
/// variant as it is.
pub fn variant(rule: Option<&str>, method: &str) -> String {
    let pascal: String = method.split('_').map(capitalize).collect();
    match rule {
        None | Some("PascalCase") => pascal,
        Some("lowercase") => pascal.to_lowercase(),
        Some("UPPERCASE") => pascal.to_uppercase(),
        Some("camelCase") => camel(method),
        Some("snake_case") => method.to_owned(),
        Some("SCREAMING_SNAKE_CASE") => method.to_ascii_uppercase(),
        Some("kebab-case") => method.replace('_', "-"),
        Some("SCREAMING-KEBAB-CASE") => method.replace('_', "-").to_ascii_uppercase(),
        Some(_) => pascal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_follow_serde() {
        let cases = [
            (None, "OpenAccount"),
            (Some("lowercase"), "openaccount"),
            (Some("UPPERCASE"), "OPENACCOUNT"),
            (Some("PascalCase"), "OpenAccount"),
            (Some("camelCase"), "openAccount"),
            (Some("snake_case"), "open_account"),
            (Some("SCREAMING_SNAKE_CASE"), "OPEN_ACCOUNT"),
            (Some("kebab-case"), "open-account"),
            (Some("SCREAMING-KEBAB-CASE"), "OPEN-ACCOUNT"),
        ];
        for (rule, want) in cases {
            assert_eq!(variant(rule, "open_account"), want, "{rule:?}");
        }
    }

    #[test]
    fn fields_follow_serde() {
        assert_eq!(field("camelCase", "initial_balance"), "initialBalance");
        assert_eq!(field("PascalCase", "initial_balance"), "InitialBalance");
        assert_eq!(field("kebab-case", "initial_balance"), "initial-balance");
        assert_eq!(field("nonsense", "initial_balance"), "initial_balance");
    }
}
