//! What an `#[apply]` handler reads of its `ApplyContext`: whether it may
//! read the event's metadata. When no handler of a block may, loads ask the
//! store for the events without it (`Aggregate::APPLY_READS_METADATA`).
//!
//! The answer errs on the side of "may": a handler reads no metadata only
//! when it takes no context, binds it to `_`, or names its binding nowhere
//! but in `ctx.stream_id`, `ctx.stream_version` and `ctx.recorded_at` (not in
//! a string literal either, where a format string could capture it).

use proc_macro2::{Ident, TokenStream, TokenTree};
use syn::Pat;

use super::Marker;
use crate::common::impl_block::Method;

/// The context's fields that are not the metadata.
const FIELDS_WITHOUT_METADATA: [&str; 3] = ["stream_id", "stream_version", "recorded_at"];

/// Whether the `#[apply]` handler `m` may read its context's metadata.
pub fn may_read_metadata(m: &Method<'_, Marker>) -> bool {
    let Some(ctx) = m.params.get(1) else {
        return false;
    };
    match &*ctx.param().pat {
        Pat::Wild(_) => false,
        Pat::Ident(p) if p.subpat.is_none() => {
            let body = &m.item.block;
            names_beyond_known_fields(quote::quote!(#body), &p.ident)
        }
        _ => true,
    }
}

/// Whether `tokens` name `ctx` other than as `ctx.<a field without
/// metadata>`.
fn names_beyond_known_fields(tokens: TokenStream, ctx: &Ident) -> bool {
    let name = ctx.to_string();
    let mut tokens = tokens.into_iter().peekable();
    while let Some(tree) = tokens.next() {
        match tree {
            TokenTree::Group(g) if names_beyond_known_fields(g.stream(), ctx) => return true,
            TokenTree::Literal(l) if l.to_string().contains(&name) => return true,
            TokenTree::Ident(i) if i == *ctx => {
                let dot = matches!(tokens.next(), Some(TokenTree::Punct(p)) if p.as_char() == '.');
                let field = match tokens.next() {
                    Some(TokenTree::Ident(f)) => f.to_string(),
                    _ => String::new(),
                };
                if !dot || !FIELDS_WITHOUT_METADATA.contains(&field.as_str()) {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn reads(body: TokenStream) -> bool {
        names_beyond_known_fields(body, &Ident::new("ctx", proc_macro2::Span::call_site()))
    }

    #[test]
    fn fields_without_metadata_are_not_metadata() {
        assert!(!reads(quote!({
            self.version = ctx.stream_version;
        })));
        assert!(!reads(quote!({
            self.at = Some(ctx.recorded_at);
            self.id = ctx.stream_id.to_owned();
        })));
        assert!(!reads(quote!({
            self.total += e.n;
        })));
    }

    #[test]
    fn anything_else_may_be_metadata() {
        assert!(reads(quote!({
            self.actor = ctx.metadata.actor.clone();
        })));
        assert!(reads(quote!({
            helper(ctx);
        })));
        assert!(reads(quote!({
            let c = ctx;
        })));
        assert!(reads(quote!({
            tracing::info!("{ctx:?}");
        })));
        assert!(reads(quote!({
            if true {
                log(&ctx)
            }
        })));
        assert!(reads(quote!({
            let ApplyContext { metadata, .. } = *ctx;
        })));
    }
}
