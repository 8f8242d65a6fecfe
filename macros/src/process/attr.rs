//! Attributes of `#[eventfold::process_manager(...)]` (`name`, `sends`,
//! `crate`) and its method markers: `#[start]`, `#[handle]`, `#[end]` (with
//! their association rule), `#[rejected]`, `#[deadline]`.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::{Ident, LitStr, Path};

use crate::common::Ctxt;
use crate::common::attr::{Attr, unknown_key};

const KEYS: &[&str] = &["name", "sends", "crate"];
const ASSOCIATION_KEYS: &[&str] = &["key", "correlated"];

/// The parsed `#[eventfold::process_manager(...)]` arguments.
pub struct ProcessAttrs {
    /// `name = "..."`: the manager's name (default: the type's name).
    pub name: Option<LitStr>,
    /// `sends(A, B)`: the aggregates it sends commands to.
    pub sends: Vec<Path>,
    /// `crate = path`.
    pub krate: Option<Path>,
}

impl ProcessAttrs {
    /// Parses the attribute's arguments.
    pub fn parse(cx: &Ctxt, args: TokenStream) -> Self {
        let mut name = Attr::none("name");
        let mut sends = Attr::none("sends");
        let mut krate = Attr::none("crate");
        let parser = syn::meta::parser(|meta: ParseNestedMeta<'_>| {
            let span = meta
                .path
                .get_ident()
                .map_or_else(Span::call_site, |i| i.span());
            if meta.path.is_ident("name") {
                let lit: LitStr = meta.value()?.parse()?;
                if lit.value().trim().is_empty() {
                    cx.error_spanned_by(
                        &lit,
                        "the process manager's name cannot be empty: it keys its checkpoint and streams",
                    );
                }
                name.set(cx, span, lit);
            } else if meta.path.is_ident("sends") {
                let mut list = Vec::new();
                meta.parse_nested_meta(|inner| {
                    list.push(inner.path);
                    Ok(())
                })?;
                sends.set(cx, span, list);
            } else if meta.path.is_ident("crate") {
                krate.set(cx, span, meta.value()?.parse::<Path>()?);
            } else {
                return unknown_key(cx, &meta, "eventfold::process_manager", KEYS);
            }
            Ok(())
        });
        if let Err(err) = syn::parse::Parser::parse2(parser, args) {
            cx.syn_error(err);
        }
        Self {
            name: name.get(),
            sends: sends.get().unwrap_or_default(),
            krate: krate.get(),
        }
    }
}

/// How an event finds its instance, as written.
#[derive(Clone)]
pub enum Association {
    /// `key = field`.
    Field(Ident),
    /// `key = method()`.
    Method(Ident),
    /// `correlated`.
    Correlated(Span),
}

/// What an event handler does to its instance.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lifecycle {
    /// `#[start]`.
    Start,
    /// `#[handle]`.
    Continue,
    /// `#[end]`.
    End,
}

/// The marker a method carries.
#[derive(Clone)]
pub enum Marker {
    /// `#[start(..)]`, `#[handle(..)]`, `#[end(..)]`, with the rule given
    /// (`None`: none, an error reported by the checks).
    Event {
        /// Which of the three.
        lifecycle: Lifecycle,
        /// The association rule.
        association: Option<Association>,
        /// The marker attribute.
        attr: Box<syn::Attribute>,
    },
    /// `#[rejected]`.
    Rejected,
    /// `#[deadline]`.
    Deadline,
}

const MARKERS: &[&str] = &["start", "handle", "end", "rejected", "deadline"];

impl Lifecycle {
    /// The attribute as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Start => "#[start]",
            Lifecycle::Continue => "#[handle]",
            Lifecycle::End => "#[end]",
        }
    }
}

fn marker_name(marker: &Marker) -> &'static str {
    match marker {
        Marker::Event { lifecycle, .. } => lifecycle.as_str(),
        Marker::Rejected => "#[rejected]",
        Marker::Deadline => "#[deadline]",
    }
}

/// Parses `key = field`, `key = method()` or `correlated`.
fn association(cx: &Ctxt, attr: &syn::Attribute, what: &str) -> Option<Association> {
    if matches!(attr.meta, syn::Meta::Path(_)) {
        return None;
    }
    let mut rule: Attr<Association> = Attr::none("association rule");
    let result = attr.parse_nested_meta(|meta| {
        let span = meta
            .path
            .get_ident()
            .map_or_else(Span::call_site, |i| i.span());
        if meta.path.is_ident("key") {
            let expr: syn::Expr = meta.value()?.parse()?;
            match &expr {
                syn::Expr::Path(p) if p.path.get_ident().is_some() && p.qself.is_none() => {
                    let ident = p.path.get_ident().cloned().expect("checked");
                    rule.set(cx, span, Association::Field(ident));
                }
                syn::Expr::Call(call)
                    if call.args.is_empty()
                        && matches!(&*call.func, syn::Expr::Path(p) if p.path.get_ident().is_some()) =>
                {
                    let syn::Expr::Path(p) = &*call.func else {
                        unreachable!("matched above")
                    };
                    let ident = p.path.get_ident().cloned().expect("checked");
                    rule.set(cx, span, Association::Method(ident));
                }
                other => cx.error_spanned_by(
                    other,
                    format!("{what}: the key is a field of the event (`key = transfer_id`) or a method of it without arguments (`key = transfer_key()`)"),
                ),
            }
        } else if meta.path.is_ident("correlated") {
            rule.set(cx, span, Association::Correlated(span));
        } else {
            return unknown_key(cx, &meta, &what[2..what.len() - 1], ASSOCIATION_KEYS);
        }
        Ok(())
    });
    if let Err(err) = result {
        cx.syn_error(err);
    }
    rule.get()
}

/// The marker a method carries, reporting misuse (arguments where none are
/// taken, two markers).
pub fn marker(cx: &Ctxt, attrs: &[syn::Attribute]) -> Option<Marker> {
    let mut found: Option<Marker> = None;
    for attr in attrs {
        let Some(name) = MARKERS.iter().find(|n| attr.path().is_ident(n)) else {
            continue;
        };
        let this = match *name {
            "start" | "handle" | "end" => {
                let lifecycle = match *name {
                    "start" => Lifecycle::Start,
                    "handle" => Lifecycle::Continue,
                    _ => Lifecycle::End,
                };
                Marker::Event {
                    lifecycle,
                    association: association(cx, attr, lifecycle.as_str()),
                    attr: Box::new(attr.clone()),
                }
            }
            "rejected" => Marker::Rejected,
            _ => Marker::Deadline,
        };
        if matches!(this, Marker::Rejected | Marker::Deadline)
            && !matches!(attr.meta, syn::Meta::Path(_))
        {
            let why = match this {
                Marker::Rejected => {
                    ": the aggregate is the `A` of the first parameter, `&Rejected<A>`"
                }
                _ => ": the deadline type is the type of the first parameter",
            };
            cx.error_spanned_by(
                attr,
                format!("{} takes no arguments{why}", marker_name(&this)),
            );
        }
        match &found {
            Some(first) => cx.error_spanned_by(
                attr,
                format!(
                    "a method carries one marker; it already has {}",
                    marker_name(first)
                ),
            ),
            None => found = Some(this),
        }
    }
    found
}

/// Whether the attribute is one of the markers this macro consumes.
pub fn is_marker(attr: &syn::Attribute) -> bool {
    MARKERS.iter().any(|n| attr.path().is_ident(n))
}
