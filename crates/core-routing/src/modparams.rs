//! `modparam("module", "name", value)` for the modules siprouter implements: each value is
//! checked against the module's parameter table (name and type, as Kamailio's
//! `set_mod_param_regex` does) and the ones that change behaviour are applied to
//! [`ModSettings`]. A parameter siprouter knows but does not act on is accepted with a
//! warning that says so, never silently.

use cfg_parser::ast::{ModParam, Scalar};
use regex::RegexBuilder;

use crate::compile::CompileError;
use crate::value::Value;

/// The type a parameter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Str,
}

/// Whether siprouter acts on a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Applied,
    /// Accepted so that the config checks, with a warning naming what is absent.
    Ignored(&'static str),
}

use Effect::{Applied, Ignored};
use Kind::{Int, Str};

/// `(module, parameter, type, effect)` for the modules with script functions.
#[rustfmt::skip]
const PARAMS: &[(&str, &str, Kind, Effect)] = &[
    ("rr", "append_fromtag", Int, Applied),
    ("rr", "enable_double_rr", Int, Applied),
    ("rr", "enable_full_lr", Int, Applied),
    ("rr", "ignore_sips", Int, Applied),
    ("rr", "add_username", Int, Ignored("user parts in Record-Route")),
    ("rr", "enable_socket_mismatch_warning", Int, Ignored("sockets forced by Route")),
    ("rr", "custom_user_avp", Str, Ignored("user parts in Record-Route")),
    ("rr", "force_send_socket", Int, Ignored("sockets forced by Route")),
    ("rr", "sockname_mode", Int, Ignored("socket names in Record-Route")),
    ("rr", "loose_route_mode", Int, Applied),
    ("maxfwd", "max_limit", Int, Applied),
    ("sl", "default_code", Int, Ignored("sl's error-reply defaults")),
    ("sl", "default_reason", Str, Ignored("sl's error-reply defaults")),
    ("sl", "bind_tm", Int, Ignored("transactions")),
    ("sl", "rich_redirect", Int, Ignored("rich redirects")),
    ("sl", "event_callback_fl_ack", Str, Ignored("sl event routes")),
    ("sl", "event_callback_lres_sent", Str, Ignored("sl event routes")),
    ("siputils", "e164_max_len", Int, Applied),
    ("siputils", "options_accept", Str, Applied),
    ("siputils", "options_accept_encoding", Str, Applied),
    ("siputils", "options_accept_language", Str, Applied),
    ("siputils", "options_support", Str, Applied),
    ("siputils", "contact_flds_separator", Str, Ignored("contact encoding")),
    ("siputils", "rpid_prefix", Str, Ignored("Remote-Party-ID functions")),
    ("siputils", "rpid_suffix", Str, Ignored("Remote-Party-ID functions")),
    ("siputils", "rpid_avp", Str, Ignored("Remote-Party-ID functions")),
    ("xlog", "buf_size", Int, Ignored("a fixed log buffer (lines are not cut)")),
    ("xlog", "force_color", Int, Ignored("xlog colours")),
    ("xlog", "long_format", Int, Ignored("xlog's long format")),
    ("xlog", "prefix", Str, Ignored("xlog's line prefix")),
    ("xlog", "log_facility", Str, Ignored("a separate xlog facility")),
    ("xlog", "log_colors", Str, Ignored("xlog colours")),
    ("xlog", "methods_filter", Int, Ignored("xlog's method filter")),
    ("xlog", "prefix_mode", Int, Ignored("xlog's line prefix")),
    ("xlog", "auto_newline", Int, Ignored("(lines always end)")),
    ("pv", "shvset", Str, Applied),
    ("pv", "varset", Str, Applied),
    ("pv", "avp_aliases", Str, Ignored("AVP aliases")),
    ("sanity", "default_checks", Int, Ignored("a choice of checks (all run)")),
    ("sanity", "uri_checks", Int, Ignored("a choice of URI checks")),
    ("sanity", "autodrop", Int, Applied),
    ("sanity", "noreply", Int, Applied),
    ("sanity", "proxy_require", Str, Ignored("a Proxy-Require list (none is supported)")),
];

/// sanity's `size_*` parameters: integers, accepted (the parser's own limits apply).
const SANITY_SIZES: &[&str] = &[
    "size_checks",
    "size_message",
    "size_method",
    "size_ruri",
    "size_from_uri",
    "size_to_uri",
    "size_contact_uri",
    "size_route_uri",
    "size_path_uri",
    "size_pai_uri",
    "size_header",
    "size_headers",
    "size_body",
];

/// The module settings the script engine uses, with Kamailio's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModSettings {
    /// rr `append_fromtag` (default on): `;ftag=` in Record-Route.
    pub(crate) append_fromtag: bool,
    /// rr `enable_double_rr`: 0 never, 1 when the sockets differ (default), 2 always.
    pub(crate) double_rr: i64,
    /// rr `enable_full_lr`: `;lr=on` instead of `;lr`.
    pub(crate) full_lr: bool,
    /// rr `ignore_sips`: always `sip:` in Record-Route.
    pub(crate) ignore_sips: bool,
    /// rr `loose_route_mode`: 1 = no strict-router handling of the Request-URI.
    pub(crate) loose_only: bool,
    /// maxfwd `max_limit` (default 70): the highest Max-Forwards a request leaves with.
    pub(crate) max_limit: i64,
    /// siputils `e164_max_len` (default 15): the most digits `is_e164` accepts.
    pub(crate) e164_max_len: usize,
    /// sanity `autodrop` (default on): a failed check ends the script.
    pub(crate) sanity_autodrop: bool,
    /// sanity `noreply`: a failed check is not answered.
    pub(crate) sanity_noreply: bool,
    /// siputils `options_accept`, `options_accept_encoding`, `options_accept_language`,
    /// `options_support`: the headers of `options_reply()`'s 200.
    pub(crate) options: [String; 4],
    /// pv `shvset`: initial shared variables.
    pub(crate) shv: Vec<(String, Value)>,
    /// pv `varset`: initial script variables (for every message).
    pub(crate) var: Vec<(String, Value)>,
}

impl Default for ModSettings {
    fn default() -> Self {
        ModSettings {
            append_fromtag: true,
            double_rr: 1,
            full_lr: false,
            ignore_sips: false,
            loose_only: false,
            max_limit: 70,
            e164_max_len: 15,
            sanity_autodrop: true,
            sanity_noreply: false,
            options: ["*/*".into(), String::new(), "en".into(), String::new()],
            shv: Vec::new(),
            var: Vec::new(),
        }
    }
}

/// Checks one `modparam` against the loaded modules and applies it. `skip` are modules
/// whose parameters belong elsewhere (transport, management): a match there is accepted.
/// Returns the warnings for parameters that have no effect.
pub(crate) fn apply(
    p: &ModParam,
    loaded: &[String],
    skip: &[&str],
    settings: &mut ModSettings,
) -> Result<Vec<CompileError>, CompileError> {
    let err = |span, message: String| CompileError { message, span };
    let pattern = format!("^({})$", p.module.value);
    let re = RegexBuilder::new(&pattern)
        .case_insensitive(true)
        .build()
        .map_err(|e| err(p.module.span, format!("bad module name expression: {e}")))?;
    let matched: Vec<&String> = loaded.iter().filter(|m| re.is_match(m)).collect();
    if matched.is_empty() {
        return Err(err(
            p.module.span,
            format!(
                "modparam: no loaded module matches `{}` (loadmodule it first)",
                p.module.value
            ),
        ));
    }
    let name = p.param.value.as_str();
    let mut warnings = Vec::new();
    for module in matched {
        if skip.contains(&module.as_str()) {
            continue;
        }
        if module == "sanity" && SANITY_SIZES.contains(&name) {
            expect_kind(p, Int)?;
            continue;
        }
        let Some((_, _, kind, effect)) =
            PARAMS.iter().find(|(m, n, _, _)| m == module && *n == name)
        else {
            return Err(err(
                p.param.span,
                format!("module `{module}` has no parameter `{name}`"),
            ));
        };
        expect_kind(p, *kind)?;
        match effect {
            Ignored(what) => warnings.push(err(
                p.span,
                format!("modparam `{module}.{name}` accepted, but siprouter has no {what}; it has no effect"),
            )),
            Applied => set(module, name, &p.value.value, settings)
                .map_err(|m| err(p.value.span, format!("modparam `{module}.{name}`: {m}")))?,
        }
    }
    Ok(warnings)
}

fn expect_kind(p: &ModParam, kind: Kind) -> Result<(), CompileError> {
    let ok = matches!(
        (kind, &p.value.value),
        (Int, Scalar::Int(_)) | (Str, Scalar::Str(_)) | (_, Scalar::Pvar(_))
    );
    if ok {
        Ok(())
    } else {
        Err(CompileError {
            message: format!(
                "modparam `{}` takes {}",
                p.param.value,
                if kind == Int { "a number" } else { "a string" }
            ),
            span: p.value.span,
        })
    }
}

fn set(module: &str, name: &str, v: &Scalar, s: &mut ModSettings) -> Result<(), String> {
    let int = || match v {
        Scalar::Int(n) => Ok(*n),
        _ => Err("a number is expected".to_string()),
    };
    let text = || match v {
        Scalar::Str(t) => Ok(t.as_str()),
        _ => Err("a string is expected".to_string()),
    };
    match (module, name) {
        ("rr", "append_fromtag") => s.append_fromtag = int()? != 0,
        ("rr", "enable_double_rr") => {
            let n = int()?;
            if !(0..=2).contains(&n) {
                return Err(format!("{n} is not 0, 1 or 2"));
            }
            s.double_rr = n;
        }
        ("rr", "enable_full_lr") => s.full_lr = int()? != 0,
        ("rr", "ignore_sips") => s.ignore_sips = int()? != 0,
        ("rr", "loose_route_mode") => s.loose_only = int()? & 1 != 0,
        ("maxfwd", "max_limit") => {
            let n = int()?;
            if !(1..=255).contains(&n) {
                return Err(format!("{n} is out of range 1..255"));
            }
            s.max_limit = n;
        }
        ("siputils", "e164_max_len") => {
            let n = int()?;
            s.e164_max_len = usize::try_from(n)
                .ok()
                .filter(|n| (2..=32).contains(n))
                .ok_or_else(|| format!("{n} is out of range 2..32"))?;
        }
        ("siputils", "options_accept") => s.options[0] = header_text(text()?)?,
        ("siputils", "options_accept_encoding") => s.options[1] = header_text(text()?)?,
        ("siputils", "options_accept_language") => s.options[2] = header_text(text()?)?,
        ("siputils", "options_support") => s.options[3] = header_text(text()?)?,
        ("sanity", "autodrop") => s.sanity_autodrop = int()? != 0,
        ("sanity", "noreply") => s.sanity_noreply = int()? != 0,
        ("pv", "shvset") => s.shv.push(typed_assignment(text()?)?),
        ("pv", "varset") => s.var.push(typed_assignment(text()?)?),
        _ => return Err("not applied".into()),
    }
    Ok(())
}

/// A header value from the config: one line.
fn header_text(t: &str) -> Result<String, String> {
    if t.contains(['\r', '\n']) {
        Err("a header value cannot contain a line break".into())
    } else {
        Ok(t.to_string())
    }
}

/// pv's `name=type:value` (`i:` integer, `s:` string), as `shvset` and `varset` take it.
fn typed_assignment(s: &str) -> Result<(String, Value), String> {
    let (name, rest) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not name=i:value or name=s:value"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("`{s}` has no variable name"));
    }
    let value = match rest.split_once(':') {
        Some(("i" | "I", n)) => Value::Int(
            n.trim()
                .parse()
                .map_err(|_| format!("`{n}` is not an integer"))?,
        ),
        Some(("s" | "S", t)) => Value::Str(t.to_string()),
        _ => return Err(format!("`{rest}` must start with i: or s:")),
    };
    Ok((name.to_string(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_assignments() {
        assert_eq!(
            typed_assignment("debug=i:3"),
            Ok(("debug".into(), Value::Int(3)))
        );
        assert_eq!(
            typed_assignment("gw=s:10.0.0.1:5060"),
            Ok(("gw".into(), Value::Str("10.0.0.1:5060".into())))
        );
        assert!(typed_assignment("x=3").is_err());
        assert!(typed_assignment("=i:3").is_err());
        assert!(typed_assignment("x=i:three").is_err());
    }
}
