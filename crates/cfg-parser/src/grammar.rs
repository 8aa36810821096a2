//! The chumsky grammar over cfg-lexer tokens.
//!
//! chumsky sees the token kinds with their token *index* as span; [`Cx`] turns index spans
//! back into source spans (file and byte range) when AST nodes are built.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chumsky::input::ValueInput;
use chumsky::prelude::*;

use cfg_lexer::{Keyword, Punct, SourceMap, Span, SubstKind, Token, TokenKind};

use crate::ast::Spanned;
use crate::ast::*;
use crate::exact::Exact;
use crate::params::{self, ParamType};

/// The parser's view of a token: borrowed and `Copy`, because chumsky copies the token for
/// every alternative it tries (an owned `String` per attempt made parsing ten times slower).
#[derive(Debug, Clone, Copy, Eq)]
pub(crate) enum Tok<'a> {
    Ident(&'a str),
    NumIdent(&'a str),
    Keyword(Keyword),
    Number(i64),
    Str(&'a str),
    Ipv6(&'a str),
    Pvar(&'a str),
    AvpOrPvar(&'a str),
    Attr(&'a str),
    Select(&'a str),
    EventRouteName(&'a str),
    Punct(Punct),
    Subst(SubstKind),
}

/// Written out so that it inlines: `just(token)` compares every token it sees, and the
/// derived comparison was a call per attempt.
impl PartialEq for Tok<'_> {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Tok::Punct(a), Tok::Punct(b)) => a == b,
            (Tok::Keyword(a), Tok::Keyword(b)) => a == b,
            (Tok::Number(a), Tok::Number(b)) => a == b,
            (Tok::Subst(a), Tok::Subst(b)) => a == b,
            (Tok::Ident(a), Tok::Ident(b))
            | (Tok::NumIdent(a), Tok::NumIdent(b))
            | (Tok::Str(a), Tok::Str(b))
            | (Tok::Ipv6(a), Tok::Ipv6(b))
            | (Tok::Pvar(a), Tok::Pvar(b))
            | (Tok::AvpOrPvar(a), Tok::AvpOrPvar(b))
            | (Tok::Attr(a), Tok::Attr(b))
            | (Tok::Select(a), Tok::Select(b))
            | (Tok::EventRouteName(a), Tok::EventRouteName(b)) => a == b,
            _ => false,
        }
    }
}

impl<'a> From<&'a TokenKind> for Tok<'a> {
    fn from(t: &'a TokenKind) -> Self {
        match t {
            TokenKind::Ident(s) => Tok::Ident(s),
            TokenKind::NumIdent(s) => Tok::NumIdent(s),
            TokenKind::Keyword(k) => Tok::Keyword(*k),
            TokenKind::Number(n) => Tok::Number(*n),
            TokenKind::Str(s) => Tok::Str(s),
            TokenKind::Ipv6(s) => Tok::Ipv6(s),
            TokenKind::Pvar(s) => Tok::Pvar(s),
            TokenKind::AvpOrPvar(s) => Tok::AvpOrPvar(s),
            TokenKind::Attr(s) => Tok::Attr(s),
            TokenKind::Select(s) => Tok::Select(s),
            TokenKind::EventRouteName(s) => Tok::EventRouteName(s),
            TokenKind::Punct(p) => Tok::Punct(*p),
            TokenKind::Subst(k) => Tok::Subst(*k),
        }
    }
}

impl std::fmt::Display for Tok<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "identifier `{s}`"),
            Tok::NumIdent(s) => write!(f, "word `{s}`"),
            Tok::Keyword(k) => write!(f, "keyword `{}`", k.spelling()),
            Tok::Number(n) => write!(f, "number {n}"),
            Tok::Str(s) => write!(f, "string {s:?}"),
            Tok::Ipv6(s) => write!(f, "IPv6 address {s}"),
            Tok::Pvar(s) | Tok::AvpOrPvar(s) => write!(f, "variable `{s}`"),
            Tok::Attr(s) => write!(f, "attribute `{s}`"),
            Tok::Select(s) => write!(f, "select `{s}`"),
            Tok::EventRouteName(s) => write!(f, "event route name `{s}`"),
            Tok::Punct(p) => write!(f, "`{}`", p.text()),
            Tok::Subst(k) => write!(f, "`#!{}`", k.directive()),
        }
    }
}

/// chumsky's error type over our tokens, used for diagnostics.
pub(crate) type Err<'t> = Rich<'t, Tok<'t>, SimpleSpan>;

/// The error types the grammar is generic over: [`Err`] (rich messages, for diagnostics) and
/// chumsky's `EmptyErr`, which costs nothing. Building a rich error for every alternative
/// that does not match dominated the parse time, so a config is first parsed with `EmptyErr`
/// and parsed again with rich errors only when that fails.
pub(crate) trait GErr<'t, I: In<'t>>:
    chumsky::error::Error<'t, I> + chumsky::label::LabelError<'t, I, &'static str>
{
    /// Whether errors are thrown away (the first, fast parse): then statements and operands
    /// go straight to the one alternative their first token can start. The rich parse tries
    /// every alternative, as the messages list what each expected.
    const FAST: bool;

    /// An error with a message; the message is built only if the error type keeps it.
    fn msg(span: SimpleSpan, msg: impl FnOnce() -> String) -> Self;
}

impl<'t, I: In<'t>> GErr<'t, I> for Err<'t> {
    const FAST: bool = false;

    fn msg(span: SimpleSpan, msg: impl FnOnce() -> String) -> Self {
        Rich::custom(span, msg())
    }
}

impl<'t, I: In<'t>> GErr<'t, I> for chumsky::error::EmptyErr {
    const FAST: bool = true;

    fn msg(_: SimpleSpan, _: impl FnOnce() -> String) -> Self {
        Self::default()
    }
}

/// The failure of a fast-parse dispatch on a token no alternative starts with (its error is
/// thrown away, so it carries nothing).
fn nothing_starts_here<'t, I: In<'t>, Er: GErr<'t, I>>() -> Er {
    Er::msg(SimpleSpan::from(0..0), String::new)
}

/// The parser extras of the grammar: one of the two error types, no state, no context.
pub(crate) trait Ex<'t, I: In<'t>>:
    chumsky::extra::ParserExtra<'t, I, Error: GErr<'t, I>, State = (), Context = ()> + 't
{
}

impl<'t, I: In<'t>, T> Ex<'t, I> for T where
    T: chumsky::extra::ParserExtra<'t, I, Error: GErr<'t, I>, State = (), Context = ()> + 't
{
}

/// The input chumsky parses: token kinds with index spans.
pub(crate) trait In<'t>: ValueInput<'t, Token = Tok<'t>, Span = SimpleSpan> {}
impl<'t, T: ValueInput<'t, Token = Tok<'t>, Span = SimpleSpan>> In<'t> for T {}

/// The parser's view of the tokens `range` of `toks` (their spans are token indexes, see
/// [`Cx`]; a chunk's are shifted by its start with `map_span`).
pub(crate) fn input<'t>(toks: &'t [Token], range: std::ops::Range<usize>) -> Vec<Tok<'t>> {
    toks.get(range)
        .unwrap_or_default()
        .iter()
        .map(|t| Tok::from(&t.kind))
        .collect()
}

/// Maps token-index spans back to source spans.
#[derive(Clone, Copy)]
pub(crate) struct Cx<'a> {
    pub(crate) toks: &'a [Token],
    pub(crate) sources: &'a SourceMap,
    /// Whether the fast parse reads route bodies with [`crate::descent`] first (off only in
    /// the tests that compare the two).
    pub(crate) descent: bool,
}

impl<'a> Cx<'a> {
    /// The context of `toks`, with route bodies read by [`crate::descent`] in a fast parse.
    pub(crate) fn new(toks: &'a [Token], sources: &'a SourceMap) -> Self {
        Cx {
            toks,
            sources,
            descent: true,
        }
    }

    /// The source span covering tokens `s.start..s.end` (the first token's file wins when a
    /// construct spans an include boundary).
    pub(crate) fn span(&self, s: SimpleSpan) -> Span {
        let Some(first) = self.toks.get(s.start).or_else(|| self.toks.last()) else {
            return Span::new(cfg_lexer::FileId(0), 0, 0);
        };
        if s.end <= s.start + 1 || s.end > self.toks.len() {
            return first.span;
        }
        let last = &self.toks[s.end - 1];
        if last.span.file == first.span.file && last.span.start >= first.span.start {
            first.span.to(last.span)
        } else {
            first.span
        }
    }

    /// The source text of one token (for numbers used as host labels).
    fn text(&self, s: SimpleSpan) -> &'a str {
        self.toks
            .get(s.start)
            .map_or("", |t| self.sources.text(t.span))
    }
}

fn p<'t, I: In<'t>, E: Ex<'t, I>>(x: Punct) -> impl Parser<'t, I, (), E> + Clone {
    just(Tok::Punct(x)).ignored()
}

fn kw<'t, I: In<'t>, E: Ex<'t, I>>(c: &'static str) -> impl Parser<'t, I, (), E> + Clone {
    any()
        .filter(move |t: &Tok<'_>| matches!(t, Tok::Keyword(k) if k.is(c)))
        .ignored()
        .labelled(c)
}

fn string<'t, I: In<'t>, E: Ex<'t, I>>() -> impl Parser<'t, I, String, E> + Clone {
    select! { Tok::Str(s) => s.to_string() }.labelled("string")
}

fn number<'t, I: In<'t>, E: Ex<'t, I>>() -> impl Parser<'t, I, i64, E> + Clone {
    select! { Tok::Number(n) => n }.labelled("number")
}

fn ident<'t, I: In<'t>, E: Ex<'t, I>>() -> impl Parser<'t, I, String, E> + Clone {
    select! { Tok::Ident(s) => s.to_string() }.labelled("identifier")
}

fn spanned<'t, I: In<'t>, E: Ex<'t, I>, T, P>(
    cx: Cx<'t>,
    parser: P,
) -> impl Parser<'t, I, Spanned<T>, E> + Clone
where
    P: Parser<'t, I, T, E> + Clone,
{
    parser.map_with(move |v, e| Spanned::new(v, cx.span(e.span())))
}

// ------------------------------------------------------------------ hosts and addresses

/// A host as parsed: an IP, a name, or a single number/identifier (which parameters may
/// take as a plain value).
#[derive(Debug, Clone)]
enum HostParse {
    Ip(IpAddr),
    Name {
        text: String,
        single_number: Option<i64>,
        single_ident: bool,
    },
}

fn ipv6<'t, I: In<'t>, E: Ex<'t, I>>() -> impl Parser<'t, I, Ipv6Addr, E> + Clone {
    let bare = select! { Tok::Ipv6(s) => s.to_string() }.try_map(|s, span| {
        s.parse::<Ipv6Addr>()
            .map_err(|_| E::Error::msg(span, || format!("bad IPv6 address `{s}`")))
    });
    choice((
        bare,
        bare.delimited_by(p(Punct::LBracket), p(Punct::RBracket)),
    ))
    .labelled("IPv6 address")
}

/// `label { ("." | "-") label }` with labels ID, NUM_ID or NUMBER (numbers keep their text);
/// four numbers joined by dots are an IPv4 address.
fn host_or_ip<'t, I: In<'t>, E: Ex<'t, I>>(cx: Cx<'t>) -> impl Parser<'t, I, HostParse, E> + Clone {
    #[derive(Clone)]
    enum Label {
        Num(i64, String),
        Word(String, bool),
    }
    let label = choice((
        select! { Tok::Number(n) => n }
            .map_with(move |n, e| Label::Num(n, cx.text(e.span()).to_string())),
        select! { Tok::Ident(s) => Label::Word(s.to_string(), true) },
        select! { Tok::NumIdent(s) => Label::Word(s.to_string(), false) },
    ));
    let sep = choice((p(Punct::Dot).to('.'), p(Punct::Minus).to('-')));
    label
        .then(sep.then(label).repeated().collect::<Vec<_>>())
        .validate(|(first, rest), e, emitter| {
            let all: Vec<&Label> = std::iter::once(&first)
                .chain(rest.iter().map(|(_, l)| l))
                .collect();
            let dotted_numbers = all.len() == 4
                && rest.iter().all(|(s, _)| *s == '.')
                && all.iter().all(|l| matches!(l, Label::Num(..)));
            if dotted_numbers {
                let mut octets = [0u8; 4];
                for (o, l) in octets.iter_mut().zip(&all) {
                    if let Label::Num(n, _) = l {
                        *o = u8::try_from(*n).unwrap_or_else(|_| {
                            emitter.emit(E::Error::msg(e.span(), || {
                                format!("invalid IPv4 address: {n} is not in 0..255")
                            }));
                            0
                        });
                    }
                }
                return HostParse::Ip(IpAddr::V4(Ipv4Addr::from(octets)));
            }
            let mut text = String::new();
            let push = |t: &mut String, l: &Label| match l {
                Label::Num(_, s) | Label::Word(s, _) => t.push_str(s),
            };
            push(&mut text, &first);
            for (s, l) in &rest {
                text.push(*s);
                push(&mut text, l);
            }
            let (single_number, single_ident) = match (&first, rest.is_empty()) {
                (Label::Num(n, _), true) => (Some(*n), false),
                (Label::Word(_, is_id), true) => (None, *is_id),
                _ => (None, false),
            };
            HostParse::Name {
                text,
                single_number,
                single_ident,
            }
        })
}

/// `listen_id`: an IP literal, a string, or a host/interface name.
fn listen_id<'t, I: In<'t>, E: Ex<'t, I>>(
    cx: Cx<'t>,
) -> impl Parser<'t, I, Spanned<HostSpec>, E> + Clone {
    spanned(
        cx,
        choice((
            ipv6().map(|a| HostSpec::Ip(IpAddr::V6(a))),
            string().map(HostSpec::Quoted),
            host_or_ip(cx).map(|h| match h {
                HostParse::Ip(ip) => HostSpec::Ip(ip),
                HostParse::Name { text, .. } => HostSpec::Name(text),
            }),
        ))
        .labelled("ip address, interface name or hostname"),
    )
}

fn proto<'t, I: In<'t>, E: Ex<'t, I>>(with_ws: bool) -> impl Parser<'t, I, Proto, E> + Clone {
    select! {
        Tok::Punct(Punct::Star) => Proto::Any,
        Tok::Keyword(k) if k.is("udp") => Proto::Udp,
        Tok::Keyword(k) if k.is("tcp") => Proto::Tcp,
        Tok::Keyword(k) if k.is("tls") => Proto::Tls,
        Tok::Keyword(k) if k.is("sctp") => Proto::Sctp,
        Tok::Keyword(k) if with_ws && k.is("ws") => Proto::Ws,
        Tok::Keyword(k) if with_ws && k.is("wss") => Proto::Wss,
    }
    .labelled("protocol")
}

/// The protocol prefix of a listen or socket-block address: `proto:`.
///
/// Besides the Kamailio protocol keywords this accepts `quic:` (a siprouter extension).
/// `quic` is not a keyword, so `quic:5060` keeps its Kamailio meaning (host `quic`, port
/// 5060): `quic:` is a protocol only when the next token does not start a bare port number
/// (a number that is not the first octet of a dotted IPv4 address).
fn listen_proto_prefix<'t, I: In<'t>, E: Ex<'t, I>>(
    cx: Cx<'t>,
) -> impl Parser<'t, I, Spanned<Proto>, E> + Clone {
    let quic = select! { Tok::Ident(s) if s.eq_ignore_ascii_case("quic") => Proto::Quic };
    let not_a_port = choice((
        number().then(p(Punct::Dot)).ignored(),
        any()
            .filter(|t: &Tok<'_>| !matches!(t, Tok::Number(_)))
            .ignored(),
    ));
    choice((
        spanned(cx, proto(false)).then_ignore(p(Punct::Colon)),
        spanned(cx, quic)
            .then_ignore(p(Punct::Colon))
            .then_ignore(not_a_port.rewind()),
    ))
}

fn port_number<'t, I: In<'t>, E: Ex<'t, I>>() -> impl Parser<'t, I, u16, E> + Clone {
    number()
        .try_map(|n, span| {
            u16::try_from(n)
                .map_err(|_| E::Error::msg(span, || format!("port {n} is out of range (0..65535)")))
        })
        .labelled("port number")
}

fn port<'t, I: In<'t>, E: Ex<'t, I>>() -> impl Parser<'t, I, PortSpec, E> + Clone {
    choice((
        port_number().map(PortSpec::Number),
        p(Punct::Star).to(PortSpec::Default),
    ))
    .labelled("port number")
}

/// `[proto:] (listen_id | "(" listen_id {, listen_id} ")") [:port [-port]]`
fn listen_addr<'t, I: In<'t>, E: Ex<'t, I>>(
    cx: Cx<'t>,
    ranges: bool,
) -> impl Parser<'t, I, ListenAddr, E> + Clone {
    let hosts = choice((
        listen_id(cx)
            .separated_by(p(Punct::Comma))
            .at_least(1)
            .collect::<Vec<_>>()
            .delimited_by(p(Punct::LParen), p(Punct::RParen))
            .map(|h| (h, true)),
        listen_id(cx).map(|h| (vec![h], false)),
    ));
    let range_end = p(Punct::Minus).ignore_then(spanned(cx, port_number()));
    let range_end = range_end
        .or_not()
        .map(move |r| if ranges { r } else { None });
    listen_proto_prefix(cx)
        .or_not()
        .then(hosts)
        .then(p(Punct::Colon).ignore_then(spanned(cx, port())).or_not())
        .then(range_end)
        .map_with(
            move |(((proto, (hosts, multihomed)), port), port_end), e| ListenAddr {
                proto,
                hosts,
                multihomed,
                port,
                port_end,
                span: cx.span(e.span()),
            },
        )
}

fn advertise_clause<'t, I: In<'t>, E: Ex<'t, I>>(
    cx: Cx<'t>,
) -> impl Parser<'t, I, Advertise, E> + Clone {
    let with_proto = spanned(cx, proto(true))
        .then_ignore(p(Punct::Colon))
        .then(listen_id(cx))
        .then_ignore(p(Punct::Colon))
        .then(spanned(cx, port_number()))
        .map(|((proto, host), port)| (Some(proto), host, Some(port)));
    let plain = listen_id(cx)
        .then(
            p(Punct::Colon)
                .ignore_then(spanned(cx, port_number()))
                .or_not(),
        )
        .map(|(host, port)| (None, host, port));
    choice((with_proto, plain)).map_with(move |(proto, host, port), e| Advertise {
        proto,
        host,
        port,
        span: cx.span(e.span()),
    })
}

fn listen_stmt<'t, I: In<'t>, E: Ex<'t, I>>(cx: Cx<'t>) -> impl Parser<'t, I, Item, E> + Clone {
    kw("listen")
        .ignore_then(p(Punct::Assign))
        .ignore_then(
            listen_addr(cx, false)
                .repeated()
                .at_least(1)
                .collect::<Vec<_>>(),
        )
        .then(kw("advertise").ignore_then(advertise_clause(cx)).or_not())
        .then(kw("name").ignore_then(spanned(cx, string())).or_not())
        .then(kw("virtual").or_not().map(|v| v.is_some()))
        .map_with(move |(((addrs, advertise), name), is_virtual), e| {
            Item::Listen(Box::new(Listen {
                addrs,
                advertise,
                name,
                is_virtual,
                span: cx.span(e.span()),
            }))
        })
}

fn alias_stmt<'t, I: In<'t>, E: Ex<'t, I>>(cx: Cx<'t>) -> impl Parser<'t, I, Item, E> + Clone {
    choice((kw("alias"), kw("domain")))
        .ignore_then(p(Punct::Assign))
        .ignore_then(
            listen_addr(cx, false)
                .repeated()
                .at_least(1)
                .collect::<Vec<_>>(),
        )
        .map_with(move |addrs, e| {
            Item::Alias(Alias {
                addrs,
                span: cx.span(e.span()),
            })
        })
}

#[derive(Clone)]
enum SocketAttr {
    Bind(ListenAddr),
    Advertise(Advertise),
    Name(Spanned<String>),
    Agname(Spanned<String>),
    Virtual(Spanned<bool>),
    Vrf(Spanned<String>),
    Workers(Spanned<u32>),
    Sep,
}

fn socket_stmt<'t, I: In<'t>, E: Ex<'t, I>>(cx: Cx<'t>) -> impl Parser<'t, I, Item, E> + Clone {
    let eq = || p(Punct::Assign);
    let workers_word = any().filter(|t: &Tok<'_>| matches!(t, Tok::Ident(s) if *s == "workers"));
    let attr = choice((
        kw("bind")
            .ignore_then(eq())
            .ignore_then(listen_addr(cx, true))
            .map(SocketAttr::Bind),
        kw("advertise")
            .ignore_then(eq())
            .ignore_then(advertise_clause(cx))
            .map(SocketAttr::Advertise),
        kw("name")
            .ignore_then(eq())
            .ignore_then(spanned(cx, string()))
            .map(SocketAttr::Name),
        kw("agname")
            .ignore_then(eq())
            .ignore_then(spanned(cx, string()))
            .map(SocketAttr::Agname),
        kw("virtual")
            .ignore_then(eq())
            .ignore_then(spanned(cx, number().map(|n| n != 0)))
            .map(SocketAttr::Virtual),
        kw("vrf")
            .ignore_then(eq())
            .ignore_then(spanned(cx, string()))
            .map(SocketAttr::Vrf),
        workers_word
            .ignore_then(eq())
            .ignore_then(spanned(
                cx,
                number().try_map(|n, span| {
                    u32::try_from(n).map_err(|_| {
                        E::Error::msg(span, || "workers must be a non-negative number".to_string())
                    })
                }),
            ))
            .map(SocketAttr::Workers),
        p(Punct::Semi).to(SocketAttr::Sep),
    ));
    kw("socket")
        .ignore_then(eq())
        .ignore_then(
            attr.repeated()
                .collect::<Vec<_>>()
                .delimited_by(p(Punct::LBrace), p(Punct::RBrace)),
        )
        .validate(move |attrs, e, emitter| {
            let mut b = SocketBlock {
                bind: None,
                advertise: None,
                name: None,
                agname: None,
                is_virtual: None,
                vrf: None,
                workers: None,
                span: cx.span(e.span()),
            };
            for a in attrs {
                match a {
                    SocketAttr::Bind(x) => b.bind = Some(x),
                    SocketAttr::Advertise(x) => {
                        if x.port.is_none() {
                            emitter.emit(E::Error::msg(e.span(), || {
                                "`advertise` in a socket block needs a port".to_string()
                            }));
                        }
                        b.advertise = Some(x)
                    }
                    SocketAttr::Name(x) => b.name = Some(x),
                    SocketAttr::Agname(x) => b.agname = Some(x),
                    SocketAttr::Virtual(x) => b.is_virtual = Some(x),
                    SocketAttr::Vrf(x) => b.vrf = Some(x),
                    SocketAttr::Workers(x) => b.workers = Some(x),
                    SocketAttr::Sep => {}
                }
            }
            if b.bind.is_none() {
                emitter.emit(E::Error::msg(e.span(), || {
                    "socket block without `bind = …`".to_string()
                }));
            }
            Item::Socket(Box::new(b))
        })
}

// ------------------------------------------------------------------ global parameters

/// A parameter value before its type is checked.
#[derive(Debug, Clone)]
enum Raw {
    Neg(i64),
    Host(HostParse),
    Str(String),
    Proto(Proto),
    Word(String),
}

fn raw_value<'t, I: In<'t>, E: Ex<'t, I>>(cx: Cx<'t>) -> impl Parser<'t, I, Raw, E> + Clone {
    let tls_method = select! {
        Tok::Keyword(k) if matches!(k.canonical(), "SSLv23" | "SSLv2" | "SSLv3" | "TLSv1") => {
            Raw::Word(k.canonical().to_string())
        }
    };
    choice((
        p(Punct::Minus).ignore_then(number()).map(Raw::Neg),
        ipv6().map(|a| Raw::Host(HostParse::Ip(IpAddr::V6(a)))),
        string().map(Raw::Str),
        proto(true).map(Raw::Proto),
        tls_method,
        host_or_ip(cx).map(Raw::Host),
    ))
    .labelled("value")
}

/// Checks a raw value against a parameter type.
fn typed(ty: ParamType, raw: Raw) -> Option<Value> {
    use ParamType as T;
    let num = match &raw {
        Raw::Host(HostParse::Name { single_number, .. }) => *single_number,
        _ => None,
    };
    let ident = match &raw {
        Raw::Host(HostParse::Name {
            text,
            single_ident: true,
            ..
        }) => Some(text.clone()),
        _ => None,
    };
    Some(match (ty, raw) {
        (T::Num | T::Bool | T::NumOrIdent | T::NumOrStr, _) if num.is_some() => Value::Int(num?),
        (T::SignedNum, Raw::Neg(n)) => Value::Int(-n),
        (T::SignedNum, _) if num.is_some() => Value::Int(num?),
        (T::Str | T::IdentOrStr | T::NumOrStr | T::ListenId, Raw::Str(s)) => {
            if ty == T::ListenId {
                Value::Host(HostSpec::Quoted(s))
            } else {
                Value::Str(s)
            }
        }
        (T::Ident | T::IdentOrStr | T::NumOrIdent, _) if ident.is_some() => Value::Ident(ident?),
        (T::ListenId, Raw::Host(HostParse::Ip(ip))) => Value::Ip(ip),
        (T::ListenId, Raw::Host(HostParse::Name { text, .. })) => Value::Host(HostSpec::Name(text)),
        (T::Ipv4, Raw::Host(HostParse::Ip(ip @ IpAddr::V4(_)))) => Value::Ip(ip),
        (T::Ipv6, Raw::Host(HostParse::Ip(ip @ IpAddr::V6(_)))) => Value::Ip(ip),
        (T::Proto, Raw::Proto(pr)) if !matches!(pr, Proto::Ws | Proto::Wss) => Value::Proto(pr),
        (T::TlsMethod, Raw::Word(w)) => Value::Ident(w),
        _ => return None,
    })
}

fn param_stmt<'t, I: In<'t>, E: Ex<'t, I>>(cx: Cx<'t>) -> impl Parser<'t, I, Item, E> + Clone {
    let name = select! {
        Tok::Keyword(k) if params::lookup(k.spelling()).is_some() => k,
    }
    .map(|k| {
        let (canon, ty) = params::lookup(k.spelling()).unwrap_or(("", ParamType::Str));
        (k.spelling().to_string(), canon.to_string(), ty)
    })
    .labelled("core parameter");
    spanned(cx, name)
        .then_ignore(p(Punct::Assign))
        .then(spanned(cx, raw_value(cx).map_with(|r, e| (r, e.span()))))
        .validate(move |(name, raw), e, emitter| {
            let (spelling, canon, ty) = name.value;
            let ((raw_value, raw_at), raw_span) = (raw.value, raw.span);
            let raw = Spanned::new(raw_value, raw_span);
            let value = match typed(ty, raw.value) {
                Some(v) => v,
                None => {
                    emitter.emit(E::Error::msg(raw_at, || {
                        format!("wrong value type: `{spelling}` takes {}", ty.describe())
                    }));
                    Value::Str(String::new())
                }
            };
            Item::Param(Param {
                name: Spanned::new(canon, name.span),
                spelling,
                value: Spanned::new(value, raw.span),
                span: cx.span(e.span()),
            })
        })
}

/// `word = value` where `word` is no parameter: an error with a suggestion (and no item),
/// parsed so that the rest of the file is still checked.
fn unknown_param<'t, I: In<'t>, E: Ex<'t, I>>(
    cx: Cx<'t>,
) -> impl Parser<'t, I, Option<Item>, E> + Clone {
    let word = select! { Tok::Ident(s) => s.to_string(), Tok::NumIdent(s) => s.to_string() };
    word.then_ignore(p(Punct::Assign))
        .then_ignore(raw_value(cx))
        .validate(|w, e, emitter| {
            let hint = params::suggest(&w)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            emitter.emit(E::Error::msg(e.span(), || {
                format!("unknown core parameter `{w}`{hint}")
            }));
            None
        })
}

fn cfg_var<'t, I: In<'t>, E: Ex<'t, I>>(cx: Cx<'t>) -> impl Parser<'t, I, Item, E> + Clone {
    let name = choice((ident(), kw("default").to("default".to_string())));
    let value = choice((number().map(Scalar::Int), string().map(Scalar::Str)));
    spanned(cx, name.clone())
        .then(
            spanned(cx, number())
                .delimited_by(p(Punct::LBracket), p(Punct::RBracket))
                .or_not(),
        )
        .then_ignore(p(Punct::Dot))
        .then(spanned(cx, name))
        .then_ignore(p(Punct::Assign))
        .then(spanned(cx, value))
        .then(
            kw("description")
                .ignore_then(spanned(cx, string()))
                .or_not(),
        )
        .map_with(move |((((group, instance), var), value), descr), e| {
            Item::CfgVar(Box::new(CfgVar {
                group,
                instance,
                var,
                value,
                descr,
                span: cx.span(e.span()),
            }))
        })
}

fn module_stmts<'t, I: In<'t>, E: Ex<'t, I>>(cx: Cx<'t>) -> impl Parser<'t, I, Item, E> + Clone {
    let s = || spanned(cx, string());
    let loadmodule = choice((kw("loadmodule").to(false), kw("loadmodulex").to(true)))
        .then(choice((
            s().map(|a| (a, None)),
            s().then(p(Punct::Comma).ignore_then(s()).or_not())
                .delimited_by(p(Punct::LParen), p(Punct::RParen)),
        )))
        .map_with(move |(expand, (path, options)), e| {
            Item::LoadModule(LoadModule {
                path,
                options,
                expand,
                span: cx.span(e.span()),
            })
        });
    let loadpath = kw("loadpath")
        .ignore_then(p(Punct::Assign).or_not())
        .ignore_then(s())
        .map(Item::LoadPath);
    let cfgengine = kw("cfgengine")
        .ignore_then(p(Punct::Assign).or_not())
        .ignore_then(s())
        .map(Item::CfgEngine);
    let scalar = choice((
        string().map(Scalar::Str),
        p(Punct::Minus)
            .ignore_then(number())
            .map(|n| Scalar::Int(-n)),
        number().map(Scalar::Int),
        select! { Tok::Pvar(v) => Scalar::Pvar(v.to_string()), Tok::AvpOrPvar(v) => Scalar::Pvar(v.to_string()) },
    ))
    .labelled("string or number");
    let modparam = choice((kw("modparam").to(false), kw("modparamx").to(true)))
        .then(
            s().then_ignore(p(Punct::Comma))
                .then(s())
                .then_ignore(p(Punct::Comma))
                .then(spanned(cx, scalar))
                .delimited_by(p(Punct::LParen), p(Punct::RParen)),
        )
        .validate(move |(expand, ((module, param), value)), e, emitter| {
            if !expand && matches!(value.value, Scalar::Pvar(_)) {
                emitter.emit(E::Error::msg(e.span(), || {
                    "`modparam` takes a string or a number (use `modparamx` for variables)"
                        .to_string()
                }));
            }
            Item::ModParam(ModParam {
                module,
                param,
                value,
                expand,
                span: cx.span(e.span()),
            })
        });
    choice((loadmodule, loadpath, cfgengine, modparam))
}

fn flags_stmts<'t, I: In<'t>, E: Ex<'t, I>>(cx: Cx<'t>) -> impl Parser<'t, I, Item, E> + Clone {
    let fname = || spanned(cx, choice((string(), ident())));
    let spec = fname()
        .then(p(Punct::Colon).ignore_then(spanned(cx, number())).or_not())
        .map(|(name, position)| FlagDecl { name, position });
    let flags = kw("flags")
        .ignore_then(
            spec.separated_by(p(Punct::Comma))
                .at_least(1)
                .collect::<Vec<_>>(),
        )
        .map_with(move |flags, e| {
            Item::Flags(FlagsDecl {
                flags,
                span: cx.span(e.span()),
            })
        });
    let avpflags = kw("avpflags")
        .ignore_then(
            fname()
                .map(|name| FlagDecl {
                    name,
                    position: None,
                })
                .separated_by(p(Punct::Comma))
                .at_least(1)
                .collect::<Vec<_>>(),
        )
        .map_with(move |flags, e| {
            Item::AvpFlags(FlagsDecl {
                flags,
                span: cx.span(e.span()),
            })
        });
    choice((flags, avpflags))
}

fn misc_stmts<'t, I: In<'t>, E: Ex<'t, I>>(cx: Cx<'t>) -> impl Parser<'t, I, Item, E> + Clone {
    let kemi_key = spanned(
        cx,
        select! {
            Tok::Keyword(k) => k.spelling().to_string(),
            Tok::Ident(s) => s.to_string(),
        }
        .labelled("kemi callback name"),
    );
    let kemi = kw("kemi")
        .ignore_then(p(Punct::Dot))
        .ignore_then(kemi_key)
        .then_ignore(p(Punct::Assign))
        .then(spanned(cx, string()))
        .map_with(move |(key, value), e| {
            Item::Kemi(Kemi {
                key,
                value,
                span: cx.span(e.span()),
            })
        });
    let coreparam = kw("coreparam")
        .ignore_then(
            spanned(cx, choice((ident(), string())))
                .delimited_by(p(Punct::LBracket), p(Punct::RBracket)),
        )
        .then_ignore(p(Punct::Assign))
        .then(spanned(
            cx,
            choice((
                string().map(Scalar::Str),
                p(Punct::Minus)
                    .ignore_then(number())
                    .map(|n| Scalar::Int(-n)),
                number().map(Scalar::Int),
            )),
        ))
        .map_with(move |(name, value), e| {
            Item::CoreParam(CoreParam {
                name,
                value,
                span: cx.span(e.span()),
            })
        });
    let subst = select! { Tok::Subst(k) => k }
        .then(spanned(cx, string()))
        .map_with(move |(kind, rule), e| {
            Item::Subst(Subst {
                kind,
                rule,
                span: cx.span(e.span()),
            })
        });
    choice((kemi, coreparam, subst))
}

// ------------------------------------------------------------------ expressions

fn legacy_operand(canonical: &str) -> bool {
    matches!(
        canonical,
        "method"
            | "uri"
            | "from_uri"
            | "to_uri"
            | "src_ip"
            | "src_port"
            | "dst_ip"
            | "dst_port"
            | "snd_ip"
            | "snd_port"
            | "snd_proto"
            | "snd_af"
            | "to_af"
            | "to_ip"
            | "to_port"
            | "proto"
            | "af"
            | "msg:len"
            | "uri:host"
            | "uri:port"
    )
}

/// Action keywords that may be written without parentheses.
fn bare_action(canonical: &str) -> bool {
    matches!(
        canonical,
        "force_rport"
            | "add_local_rport"
            | "revert_uri"
            | "force_tcp_alias"
            | "set_forward_no_connect"
            | "set_reply_no_connect"
            | "set_forward_close"
            | "set_reply_close"
    )
}

/// The statement words (never call names) and the statement each starts.
fn statement_word(canonical: &str) -> Option<StmtWord> {
    Some(match canonical {
        "if" => StmtWord::If,
        "switch" => StmtWord::Switch,
        "while" => StmtWord::While,
        "return" | "exit" | "drop" => StmtWord::Return,
        "break" => StmtWord::Break,
        "else" | "case" | "default" => StmtWord::Other,
        _ => return None,
    })
}

fn binary_op(t: &Tok<'_>) -> Option<BinaryOp> {
    let Tok::Punct(p) = t else { return None };
    punct_op(*p)
}

/// The binary operator a punctuation token is, if any.
pub(crate) fn punct_op(p: Punct) -> Option<BinaryOp> {
    use BinaryOp::*;
    Some(match p {
        Punct::OrOr => Or,
        Punct::AndAnd => And,
        Punct::BitOr => BitOr,
        Punct::BitAnd => BitAnd,
        Punct::BitXor => BitXor,
        Punct::Shl => Shl,
        Punct::Shr => Shr,
        Punct::EqEq => Eq,
        Punct::NotEq => Ne,
        Punct::Match => Match,
        Punct::StrEq => StrEq,
        Punct::StrNe => StrNe,
        Punct::IntEq => IntEq,
        Punct::IntNe => IntNe,
        Punct::Gt => Gt,
        Punct::Lt => Lt,
        Punct::Ge => Ge,
        Punct::Le => Le,
        Punct::Plus => Add,
        Punct::Minus => Sub,
        Punct::Star => Mul,
        Punct::Slash => Div,
        Punct::Mod => Mod,
        _ => return None,
    })
}

/// The statement and expression parsers, built together (they are mutually recursive).
pub(crate) struct Grammar<'t, I: In<'t>, E: Ex<'t, I>> {
    /// `{ statements }` with recovery, for route bodies.
    pub(crate) block: chumsky::Boxed<'t, 't, I, Block, E>,
}

/// `{ statements }`, with recovery to the matching brace (in a parse with rich errors):
/// nested blocks and route bodies.
fn block_parser<'t, I: In<'t>, E: Ex<'t, I>, S>(
    cx: Cx<'t>,
    stmt: S,
) -> chumsky::Boxed<'t, 't, I, Block, E>
where
    S: Parser<'t, I, Stmt, E> + Clone + 't,
{
    let block = stmt
        .repeated()
        .collect::<Exact<_>>()
        .map(|l| l.0)
        .delimited_by(p(Punct::LBrace), p(Punct::RBrace))
        .map_with(move |stmts, e| Block {
            stmts,
            span: cx.span(e.span()),
        });
    if <E::Error as GErr<'t, I>>::FAST {
        // As for statements: a fast parse with an error is parsed again.
        return block.boxed();
    }
    block
        .recover_with(via_parser(nested_delimiters(
            Tok::Punct(Punct::LBrace),
            Tok::Punct(Punct::RBrace),
            [(Tok::Punct(Punct::LParen), Tok::Punct(Punct::RParen))],
            move |s| recovered_block(cx, s),
        )))
        .boxed()
}

/// A call with parenthesised arguments: `name(arg, …)`.
fn call_parser<'t, I: In<'t>, E: Ex<'t, I>, X>(
    cx: Cx<'t>,
    expr: X,
) -> impl Parser<'t, I, Call, E> + Clone
where
    X: Parser<'t, I, Expr, E> + Clone,
{
    call_name(cx)
        .then(call_args(cx, expr))
        .map_with(move |(name, args), e| Call {
            name,
            args,
            parens: true,
            span: cx.span(e.span()),
        })
}

fn call_args<'t, I: In<'t>, E: Ex<'t, I>, X>(
    cx: Cx<'t>,
    expr: X,
) -> impl Parser<'t, I, Vec<Arg>, E> + Clone
where
    X: Parser<'t, I, Expr, E> + Clone,
{
    let end = choice((p(Punct::Comma), p(Punct::RParen))).rewind();
    let arg = choice((
        expr.then_ignore(end.clone()).map(Arg::Expr),
        listen_addr(cx, false)
            .then_ignore(end)
            .map(|a| Arg::Address(Box::new(a))),
    ));
    arg.separated_by(p(Punct::Comma))
        .collect::<Exact<_>>()
        .map(|l| l.0)
        .delimited_by(p(Punct::LParen), p(Punct::RParen))
}

fn call_name<'t, I: In<'t>, E: Ex<'t, I>>(
    cx: Cx<'t>,
) -> impl Parser<'t, I, Spanned<Cow<'static, str>>, E> + Clone {
    spanned(
        cx,
        select! {
            Tok::Ident(s) => Cow::Owned(s.to_string()),
            Tok::Keyword(k) if call_keyword(k) => Cow::Borrowed(k.spelling()),
        },
    )
    .labelled("function name")
}

/// The statement a keyword starts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum StmtWord {
    If,
    Switch,
    While,
    Return,
    Break,
    /// `else`, `case`, `default`: they start no statement.
    Other,
}

/// What a keyword may be in the grammar, worked out once per keyword from its canonical
/// spelling: the grammar asks on every attempt, and comparing the spelling with the word
/// lists each time was a measurable share of the parse.
#[derive(Clone, Copy, Default)]
pub(crate) struct KeywordRole {
    /// May name a call.
    pub(crate) call: bool,
    /// An action written without parentheses.
    pub(crate) bare: bool,
    /// A legacy condition operand.
    pub(crate) legacy: bool,
    /// Stands for itself as a value.
    pub(crate) word: bool,
    /// A statement word: the statement it starts (`Other` for `else`, `case`, `default`).
    pub(crate) stmt: Option<StmtWord>,
}

/// [`KeywordRole`] of every keyword, by [`Keyword::index`].
static ROLES: std::sync::LazyLock<Vec<KeywordRole>> = std::sync::LazyLock::new(|| {
    Keyword::all()
        .map(|k| {
            let c = k.canonical();
            let stmt = statement_word(c);
            KeywordRole {
                call: stmt.is_none()
                    && !legacy_operand(c)
                    && !matches!(c, "max_len" | "statistics"),
                bare: bare_action(c),
                legacy: legacy_operand(c),
                word: matches!(c, "myself" | "udp" | "tcp" | "tls" | "sctp" | "ws" | "wss"),
                stmt,
            }
        })
        .collect()
});

/// What `k` may be in the grammar.
pub(crate) fn role(k: Keyword) -> KeywordRole {
    ROLES.get(k.index()).copied().unwrap_or_default()
}

/// Keywords that may name a call: core actions, not statement words, legacy operands or the
/// reserved words no rule uses.
fn call_keyword(k: Keyword) -> bool {
    role(k).call
}

/// Keywords that stand for themselves as a value (`myself`, protocol names).
fn word_keyword(k: Keyword) -> bool {
    role(k).word
}

/// IPv4 literal: four numbers joined by dots, each 0..255.
fn ipv4<'t, I: In<'t>, E: Ex<'t, I>>() -> impl Parser<'t, I, Ipv4Addr, E> + Clone {
    number()
        .then_ignore(p(Punct::Dot))
        .then(number())
        .then_ignore(p(Punct::Dot))
        .then(number())
        .then_ignore(p(Punct::Dot))
        .then(number())
        .validate(|(((a, b), c), d), e, emitter| {
            let mut octets = [0u8; 4];
            for (o, n) in octets.iter_mut().zip([a, b, c, d]) {
                *o = u8::try_from(n).unwrap_or_else(|_| {
                    emitter.emit(E::Error::msg(e.span(), || {
                        format!("invalid IPv4 address: {n} is not in 0..255")
                    }));
                    0
                });
            }
            Ipv4Addr::from(octets)
        })
}

impl<'t, I: In<'t>, E: Ex<'t, I>> Grammar<'t, I, E> {
    pub(crate) fn new(cx: Cx<'t>) -> Self {
        // `recursive` hands the closure a weak reference to the parser being defined, so the
        // grammar holds no reference cycle and is freed after each parse.
        let expr = recursive(|expr| {
            let call = call_parser(cx, expr.clone());
            // --- atoms
            let ip_net = {
                let v4 = ipv4().map(IpAddr::V4);
                let addr = choice((ipv6().map(IpAddr::V6), v4));
                let mask = choice((
                    number().try_map(|n, span| {
                        u8::try_from(n).ok().filter(|&b| b <= 128).ok_or_else(|| {
                            E::Error::msg(span, || "invalid bit number in netmask".to_string())
                        })
                    }),
                    addr.clone().map(|m| match m {
                        IpAddr::V4(a) => u32::from(a).count_ones() as u8,
                        IpAddr::V6(a) => u128::from(a).count_ones() as u8,
                    }),
                ));
                addr.then(p(Punct::Slash).ignore_then(mask).or_not())
                    .map_with(move |(addr, prefix), e| Expr::Net {
                        addr,
                        prefix,
                        span: cx.span(e.span()),
                    })
            };
            let word = {
                let label =
                    select! { Tok::Ident(s) => s.to_string(), Tok::NumIdent(s) => s.to_string() };
                let sep = choice((p(Punct::Dot).to('.'), p(Punct::Minus).to('-')));
                label
                    .then(sep.then(label).repeated().collect::<Vec<_>>())
                    .map_with(move |(first, rest), e| {
                        let mut w = first;
                        for (s, l) in rest {
                            w.push(s);
                            w.push_str(&l);
                        }
                        Expr::Word {
                            word: w.into(),
                            span: cx.span(e.span()),
                        }
                    })
            };
            let keyword_atom = select! {
                Tok::Keyword(k) if role(k).legacy => (true, k),
                Tok::Keyword(k) if word_keyword(k) => (false, k),
            }
            .map_with(move |(legacy, k), e| {
                let span = cx.span(e.span());
                if legacy {
                    Expr::Legacy {
                        operand: k.canonical(),
                        span,
                    }
                } else {
                    Expr::Word {
                        word: k.canonical().into(),
                        span,
                    }
                }
            });
            let simple = select! {
                Tok::Number(n) => n,
            }
            .map_with(move |value, e| Expr::Int {
                value,
                span: cx.span(e.span()),
            });
            // The value is copied once, at its exact length, so the box takes it as it is.
            let str_atom = string().map_with(move |value, e| Expr::Str {
                value: value.into_boxed_str(),
                span: cx.span(e.span()),
            });
            let var = select! {
                Tok::Pvar(v) => Box::<str>::from(v),
                Tok::AvpOrPvar(v) => Box::<str>::from(v),
                Tok::Attr(v) => Box::<str>::from(v),
            }
            .map_with(move |name, e| Expr::Var {
                name,
                span: cx.span(e.span()),
            });
            let select_atom =
                select! { Tok::Select(s) => Box::<str>::from(s) }.map_with(move |path, e| {
                    Expr::Select {
                        path,
                        span: cx.span(e.span()),
                    }
                });
            let paren = expr
                .clone()
                .delimited_by(p(Punct::LParen), p(Punct::RParen));
            let unary_fn = choice((
                kw("strlen").to(UnaryOp::Strlen),
                kw("strempty").to(UnaryOp::Strempty),
            ))
            .then(
                expr.clone()
                    .delimited_by(p(Punct::LParen), p(Punct::RParen)),
            )
            .map_with(move |(op, x), e| Expr::Unary {
                op,
                operand: Box::new(x),
                span: cx.span(e.span()),
            });
            let selval = kw("selval")
                .ignore_then(
                    expr.clone()
                        .then_ignore(p(Punct::Comma))
                        .then(expr.clone())
                        .then_ignore(p(Punct::Comma))
                        .then(expr.clone())
                        .delimited_by(p(Punct::LParen), p(Punct::RParen)),
                )
                .map_with(move |((cond, then), otherwise), e| {
                    Expr::Select3(Box::new(Select3 {
                        cond,
                        then,
                        otherwise,
                        span: cx.span(e.span()),
                    }))
                });
            // Most operands are variables and strings: they are tried first. Alternatives
            // that can start with the same token keep their order (an IP before a number,
            // `strlen(…)`/`selval(…)` before a call, a call before a keyword or a word).
            let call_atom = call.clone().map(|c| Expr::Call(Box::new(c)));
            let every_atom = choice((
                var,
                str_atom.clone(),
                ip_net.clone(),
                simple,
                select_atom,
                paren.clone(),
                unary_fn.clone(),
                selval.clone(),
                call_atom.clone(),
                keyword_atom,
                word.clone(),
            ))
            .labelled("expression");
            let atom = if <E::Error as GErr<'t, I>>::FAST {
                // The alternatives of `every_atom` a first token can start, in its order.
                let number = choice((ip_net.clone(), simple));
                let keyword = choice((unary_fn, selval, call_atom.clone(), keyword_atom));
                let ident = choice((call_atom, word.clone()));
                custom(move |inp| match inp.peek() {
                    Some(Tok::Pvar(_) | Tok::AvpOrPvar(_) | Tok::Attr(_)) => inp.parse(var),
                    Some(Tok::Str(_)) => inp.parse(&str_atom),
                    Some(Tok::Number(_)) => inp.parse(&number),
                    Some(Tok::Keyword(_)) => inp.parse(&keyword),
                    Some(Tok::Ident(_)) => inp.parse(&ident),
                    Some(Tok::NumIdent(_)) => inp.parse(&word),
                    Some(Tok::Select(_)) => inp.parse(select_atom),
                    Some(Tok::Punct(Punct::LParen)) => inp.parse(&paren),
                    Some(Tok::Ipv6(_) | Tok::Punct(Punct::LBracket)) => inp.parse(&ip_net),
                    // No operand starts with any other token (`return;`, `f()`).
                    _ => Err(nothing_starts_here()),
                })
                .boxed()
            } else {
                every_atom.boxed()
            };

            // One token test, where a choice of six parsers made six attempts per operand.
            let prefix = select! {
                Tok::Punct(Punct::Not) => UnaryOp::Not,
                Tok::Punct(Punct::Minus) => UnaryOp::Neg,
                Tok::Punct(Punct::BitNot) => UnaryOp::BitNot,
                Tok::Punct(Punct::IntCast) => UnaryOp::IntCast,
                Tok::Punct(Punct::StrCast) => UnaryOp::StrCast,
                Tok::Keyword(k) if k.is("defined") => UnaryOp::Defined,
            }
            .map_with(|op, e| (op, e.span()));
            let unary = prefix
                .repeated()
                .foldr_with(atom, move |(op, s): (UnaryOp, SimpleSpan), operand, e| {
                    let whole: SimpleSpan = e.span();
                    let span = cx.span(SimpleSpan::from(s.start..whole.end));
                    match (op, operand) {
                        (UnaryOp::Neg, Expr::Int { value, .. }) => Expr::Int {
                            value: -value,
                            span,
                        },
                        (op, operand) => Expr::Unary {
                            op,
                            operand: Box::new(operand),
                            span,
                        },
                    }
                })
                .boxed();

            // Binary operators: `operand (op operand)*`, folded by Kamailio's precedence table
            // as it is read (all levels left-associative, see `Chain`). One operator attempt
            // per position, where a parser per level would try eleven.
            let op = select! { t if binary_op(&t).is_some() => t }
                .map(|t| binary_op(&t).unwrap_or(BinaryOp::Or))
                .labelled("operator");
            let chain = unary
                .clone()
                .map(Chain::new)
                .foldl(op.then(unary).repeated(), |mut chain, (op, operand)| {
                    chain.push(op, operand);
                    chain
                })
                .map(|chain| chain.tree)
                .boxed();
            chain
        })
        .boxed();

        let stmt = recursive(|stmt| {
            let block = block_parser(cx, stmt.clone());
            let call = call_parser(cx, expr.clone());
        let semi = || p(Punct::Semi);
        let bare_call = select! {
            Tok::Keyword(k) if role(k).bare => Cow::Borrowed(k.spelling()),
        }
        .map_with(move |name, e| {
            let span = cx.span(e.span());
            Call {
                name: Spanned::new(name, span),
                args: Vec::new(),
                parens: false,
                span,
            }
        });
        let call_stmt = choice((call.clone(), bare_call))
            .then_ignore(semi().labelled("`;` after the call"))
            .map(Stmt::Call);
        let assign = spanned(
            cx,
            select! { Tok::Pvar(v) => v.to_string(), Tok::AvpOrPvar(v) => v.to_string(), Tok::Attr(v) => v.to_string() },
        )
        .then_ignore(p(Punct::Assign))
        .then(expr.clone())
        .then_ignore(semi())
        .map_with(move |(target, value), e| Stmt::Assign {
            target,
            value,
            span: cx.span(e.span()),
        });
        let if_stmt = kw("if")
            .ignore_then(expr.clone())
            .then(stmt.clone())
            .then(kw("else").ignore_then(stmt.clone()).or_not())
            .map_with(move |((cond, then), otherwise), e| Stmt::If {
                cond,
                then: Box::new(then),
                otherwise: otherwise.map(Box::new),
                span: cx.span(e.span()),
            });
        let while_stmt = kw("while")
            .ignore_then(expr.clone())
            .then(stmt.clone())
            .map_with(move |(cond, body), e| Stmt::While {
                cond,
                body: Box::new(body),
                span: cx.span(e.span()),
            });
        let case = choice((
            kw("case")
                .ignore_then(p(Punct::Slash).or_not().map(|s| s.is_some()))
                .then(expr.clone())
                .map(|(regex, label)| (Some(label), regex)),
            kw("default").to((None, false)),
        ))
        .then_ignore(p(Punct::Colon))
        .then(stmt.clone().repeated().collect::<Exact<_>>().map(|l| l.0))
        .map_with(move |((label, regex), body), e| Case {
            label,
            regex,
            body,
            span: cx.span(e.span()),
        });
        let switch_stmt = kw("switch")
            .ignore_then(expr.clone())
            .then(
                case.repeated()
                    .collect::<Vec<_>>()
                    .delimited_by(p(Punct::LBrace), p(Punct::RBrace)),
            )
            .map_with(move |(value, cases), e| Stmt::Switch {
                value,
                cases,
                span: cx.span(e.span()),
            });
        let ret_kind = choice((
            kw("return").to(ReturnKind::Return),
            kw("exit").to(ReturnKind::Exit),
            kw("drop").to(ReturnKind::Drop),
        ));
        let ret = ret_kind
            .then(
                choice((
                    p(Punct::LParen).then(p(Punct::RParen)).to(None),
                    expr.clone().map(Some),
                ))
                .or_not()
                .map(Option::flatten),
            )
            .then_ignore(semi())
            .map_with(move |(kind, value), e| Stmt::Return {
                kind,
                value,
                span: cx.span(e.span()),
            });
        let brk = kw("break")
            .then_ignore(semi())
            .map_with(move |_, e| Stmt::Break {
                span: cx.span(e.span()),
            });
        let empty = semi().map_with(move |_, e| Stmt::Empty {
            span: cx.span(e.span()),
        });
        // A broken statement: report it, skip to its `;`, go on with the next one.
        // It never starts at a `case`/`default` label or a brace, so that it cannot swallow
        // the next case of a switch or the end of a block.
        let skip_stmt = any()
            .and_is(
                choice((
                    semi(),
                    p(Punct::RBrace),
                    p(Punct::LBrace),
                    kw("case"),
                    kw("default"),
                ))
                .not(),
            )
            .repeated()
            .at_least(1)
            .then(semi())
            .map_with(move |_, e| Stmt::Empty {
                span: cx.span(e.span()),
            });
            // Every alternative starts with a token of its own, so the most common statements
            // (assignments and calls) are tried first.
            let block_stmt = block.clone().map(Stmt::Block);
            let every_stmt = choice((
                assign.clone(),
                call_stmt.clone(),
                if_stmt.clone(),
                switch_stmt.clone(),
                while_stmt.clone(),
                ret.clone(),
                brk.clone(),
                block_stmt.clone(),
                empty.clone(),
            ));
            let one_stmt = if <E::Error as GErr<'t, I>>::FAST {
                // The alternative of `every_stmt` a first token can start.
                custom(move |inp| match inp.peek() {
                    Some(Tok::Pvar(_) | Tok::AvpOrPvar(_) | Tok::Attr(_)) => inp.parse(&assign),
                    Some(Tok::Ident(_)) => inp.parse(&call_stmt),
                    Some(Tok::Keyword(k)) => match role(k).stmt {
                        Some(StmtWord::If) => inp.parse(&if_stmt),
                        Some(StmtWord::Switch) => inp.parse(&switch_stmt),
                        Some(StmtWord::While) => inp.parse(&while_stmt),
                        Some(StmtWord::Return) => inp.parse(&ret),
                        Some(StmtWord::Break) => inp.parse(&brk),
                        // `case`/`default` end a case's statements; `else` starts none.
                        Some(StmtWord::Other) => {
                            Err(nothing_starts_here())
                        }
                        // Only a call starts with any other keyword.
                        None => inp.parse(&call_stmt),
                    },
                    Some(Tok::Punct(Punct::LBrace)) => inp.parse(&block_stmt),
                    Some(Tok::Punct(Punct::Semi)) => inp.parse(&empty),
                    // The end of every block: no statement starts with `}`.
                    Some(Tok::Punct(Punct::RBrace)) => {
                        Err(nothing_starts_here())
                    }
                    _ => inp.parse(&every_stmt),
                })
                .boxed()
            } else {
                every_stmt.boxed()
            };
            if <E::Error as GErr<'t, I>>::FAST {
                // A fast parse keeps no errors: one makes the file parse again with rich
                // errors, so going on after it would only cost.
                one_stmt
            } else {
                one_stmt.recover_with(via_parser(skip_stmt)).boxed()
            }
        })
        .boxed();
        let block = block_parser(cx, stmt);
        Grammar { block }
    }
}

/// The block a broken block is replaced by: one empty statement, so that the "empty block"
/// check does not fire on top of the syntax error.
fn recovered_block(cx: Cx<'_>, s: SimpleSpan) -> Block {
    let span = cx.span(s);
    Block {
        stmts: vec![Stmt::Empty { span }],
        span,
    }
}

/// A chain `operand (op operand)*` folded into a tree by operator precedence as it is read,
/// left-associative at every level: each operator goes down the right edge of the tree built
/// so far, past the operators of this chain that bind less tightly, and takes the subtree it
/// finds there as its left operand. No stacks: the chain costs nothing but its nodes.
pub(crate) struct Chain {
    /// The tree built so far.
    pub(crate) tree: Expr,
    /// How many nodes at the top of the tree's right edge this chain built (a parenthesised
    /// operand is a binary node too, but no operator may go into it).
    edge: usize,
}

impl Chain {
    /// A chain of one operand.
    pub(crate) fn new(first: Expr) -> Self {
        Chain {
            tree: first,
            edge: 0,
        }
    }

    /// Adds `op operand` to the chain.
    pub(crate) fn push(&mut self, op: BinaryOp, operand: Expr) {
        let end = operand.span();
        let mut node = &mut self.tree;
        let mut depth = 0;
        loop {
            let looser =
                |e: &Expr| matches!(e, Expr::Binary(b) if b.op.precedence() < op.precedence());
            if depth == self.edge || !looser(node) {
                break;
            }
            let Expr::Binary(b) = node else {
                break;
            };
            // The new operand ends every node on the way down.
            b.span = b.span.to(end);
            node = &mut b.right;
            depth += 1;
        }
        let span = node.span().to(end);
        let left = std::mem::replace(node, Expr::Int { value: 0, span });
        *node = Expr::Binary(Box::new(Binary {
            op,
            left,
            right: operand,
            span,
        }));
        self.edge = depth + 1;
    }
}

/// The route block type a keyword starts, if any.
pub(crate) fn route_kind(k: Keyword) -> Option<RouteKind> {
    Some(match k.canonical() {
        "route" | "request_route" => RouteKind::Request,
        "failure_route" => RouteKind::Failure,
        "onreply_route" | "reply_route" => RouteKind::Reply,
        "branch_route" => RouteKind::Branch,
        "onsend_route" => RouteKind::Send,
        "event_route" => RouteKind::Event,
        _ => return None,
    })
}

/// Whether a keyword starts a route block (the parser's cut points, see `split`).
pub(crate) fn starts_route(k: Keyword) -> bool {
    route_kind(k).is_some()
}

fn route_name<'t, I: In<'t>, E: Ex<'t, I>>(
    cx: Cx<'t>,
) -> impl Parser<'t, I, Spanned<String>, E> + Clone {
    spanned(
        cx,
        choice((
            number().map(|n| n.to_string()),
            ident(),
            string(),
            select! { Tok::Keyword(k) => k }.validate(|k, e, emitter| {
                emitter.emit(E::Error::msg(e.span(), || format!(
                        "`{0}` is a reserved word and cannot be a route name (Kamailio rejects it too); quote it: [\"{0}\"]",
                        k.spelling()
                    )));
                k.spelling().to_string()
            }),
        ))
        .labelled("route name"),
    )
    .delimited_by(p(Punct::LBracket), p(Punct::RBracket))
}

/// An `event_route` without a name: an error (the hand-written reader leaves it to the
/// grammar, which reports it).
pub(crate) fn lacks_event_name(kind: RouteKind, named: bool) -> bool {
    kind == RouteKind::Event && !named
}

/// A route keyword, as spelled, that takes no name: `request_route[X]` is an error.
pub(crate) fn takes_no_name(keyword: &str) -> bool {
    matches!(keyword, "request_route" | "reply_route")
}

/// A route block's name as the AST keeps it: `route[0]` is the default block of its type.
pub(crate) fn block_name(
    kind: RouteKind,
    name: Option<Spanned<String>>,
) -> Option<Spanned<String>> {
    name.filter(|n| !(n.value == "0" && kind != RouteKind::Event))
}

fn route_stmt<'t, I: In<'t>, E: Ex<'t, I>>(
    cx: Cx<'t>,
    g: &Grammar<'t, I, E>,
) -> impl Parser<'t, I, Item, E> + Clone {
    let block = g.block.clone();
    let body = if <E::Error as GErr<'t, I>>::FAST && cx.descent {
        // Read by hand where it can be (the common case); the grammar decides the rest.
        custom(move |inp| {
            let here = inp.cursor();
            let here: SimpleSpan = inp.span_since(&here);
            let at = here.start;
            if let Some((body, next)) = crate::descent::route_body(cx, at) {
                for _ in at..next {
                    inp.skip();
                }
                return Ok(body);
            }
            inp.parse(&block)
        })
        .boxed()
    } else {
        block
    };
    let head = select! {
        Tok::Keyword(k) if route_kind(k).is_some() => k,
    }
    .map(|k| {
        (
            route_kind(k).unwrap_or(RouteKind::Request),
            k.spelling().to_string(),
        )
    });
    let event_name = spanned(cx, select! { Tok::EventRouteName(n) => n.to_string() })
        .delimited_by(p(Punct::LBracket), p(Punct::RBracket));
    head.then(choice((event_name, route_name(cx))).or_not())
        .then(body)
        .validate(move |(((kind, keyword), name), body), e, emitter| {
            if lacks_event_name(kind, name.is_some()) {
                emitter.emit(E::Error::msg(e.span(), || {
                    "`event_route` needs a name: event_route[module:event]".to_string()
                }));
            }
            if name.is_some() && takes_no_name(&keyword) {
                emitter.emit(E::Error::msg(e.span(), || {
                    format!("`{keyword}` takes no name (use `route[…]` / `onreply_route[…]`)")
                }));
            }
            Item::Route(RouteBlock {
                kind,
                keyword,
                name: block_name(kind, name),
                body,
                span: cx.span(e.span()),
            })
        })
}

/// The whole file: items until the end, with recovery so that every broken item is reported.
pub(crate) fn config<'t, I: In<'t>, E: Ex<'t, I>>(
    cx: Cx<'t>,
) -> impl Parser<'t, I, Vec<Option<Item>>, E> {
    let g = Grammar::new(cx);
    let item = choice((
        listen_stmt(cx),
        alias_stmt(cx),
        socket_stmt(cx),
        param_stmt(cx),
        module_stmts(cx),
        flags_stmts(cx),
        misc_stmts(cx),
        route_stmt(cx, &g),
        cfg_var(cx),
    ))
    .map(Some)
    .or(unknown_param(cx))
    .boxed();
    let semi = p(Punct::Semi).to(None);
    choice((item, semi))
        .recover_with(skip_then_retry_until(any().ignored(), end()))
        .repeated()
        .collect::<Vec<_>>()
        .then_ignore(end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(word: &str) -> KeywordRole {
        role(Keyword::lookup(word).expect("a keyword"))
    }

    #[test]
    fn keyword_roles_follow_the_word_lists() {
        assert_eq!(ROLES.len(), Keyword::all().count());
        assert!(kw("setflag").call && !kw("setflag").legacy && kw("setflag").stmt.is_none());
        assert!(kw("seth").call, "aliases share the canonical word's role");
        assert!(kw("method").legacy && !kw("method").call);
        assert!(kw("force_rport").bare && kw("add_rport").bare && kw("force_rport").call);
        assert!(kw("myself").word && !kw("max_len").call);
        assert!(kw("if").stmt == Some(StmtWord::If) && !kw("if").call);
        assert!(kw("exit").stmt == Some(StmtWord::Return));
        assert!(kw("default").stmt == Some(StmtWord::Other));
    }
}
