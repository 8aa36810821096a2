//! Parse a typical ~1 KB INVITE and read Via/From/To/Call-ID/CSeq; parse + add Via + add
//! Record-Route + serialise. Same messages, same work, for sip-message and rsip 0.4.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use rsip::prelude::*;
use sip_message::{Editor, Host, HostPort, Message};

const INVITE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n\
Via: SIP/2.0/TCP proxy1.example.net:5060;branch=z9hG4bK34kf8a9.1;received=192.0.2.33\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: \"Alice Liddell\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com;transport=udp>\r\n\
Record-Route: <sip:proxy1.example.net;lr>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO\r\n\
Supported: replaces, timer, 100rel\r\n\
User-Agent: ExamplePhone/1.2.3\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 351\r\n\
\r\n\
v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\n\
s=Session SDP\r\n\
c=IN IP4 192.0.2.101\r\n\
t=0 0\r\n\
m=audio 49172 RTP/AVP 0 8 18 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:18 G729/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n\
m=video 51372 RTP/AVP 31\r\n\
a=rtpmap:31 H261/90000\r\n\
a=sendrecv\r\n";

fn ours_read(b: &[u8]) -> usize {
    let m = Message::parse(b).expect("parse");
    let via = m.top_via().expect("via").expect("via");
    let from = m.from().expect("from").expect("from");
    let to = m.to().expect("to").expect("to");
    let call_id = m.call_id().expect("call-id").expect("call-id");
    let cseq = m.cseq().expect("cseq").expect("cseq");
    via.branch.map_or(0, str::len)
        + from.tag().map_or(0, str::len)
        + to.tag().map_or(0, str::len)
        + call_id.len()
        + cseq.seq as usize
}

fn rsip_read(b: &[u8]) -> usize {
    let r = rsip::Request::try_from(b).expect("parse");
    let via = r.via_header().expect("via").typed().expect("via");
    let from = r.from_header().expect("from").tag().expect("from");
    let to = r.to_header().expect("to").tag().expect("to");
    let call_id = r.call_id_header().expect("call-id").value().len();
    let cseq = r.cseq_header().expect("cseq").seq().expect("cseq");
    via.branch().map_or(0, |b| b.to_string().len())
        + from.map_or(0, |t| t.value().len())
        + to.map_or(0, |t| t.value().len())
        + call_id
        + cseq as usize
}

fn ours_edit(b: &[u8], hp: &HostPort<'_>) -> Vec<u8> {
    let m = Message::parse(b).expect("parse");
    let mut ed = Editor::new(&m);
    ed.insert_via("UDP", hp, "z9hG4bKproxy1", "").expect("via");
    ed.prepend_record_route(hp, "lr").expect("rr");
    ed.finish()
}

fn rsip_edit(b: &[u8]) -> Vec<u8> {
    let mut r = rsip::Request::try_from(b).expect("parse");
    let mut headers: Vec<rsip::Header> = std::mem::take(&mut r.headers).into();
    headers.insert(
        0,
        rsip::headers::Via::new("SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKproxy1").into(),
    );
    let rr = headers
        .iter()
        .position(|h| matches!(h, rsip::Header::RecordRoute(_)))
        .unwrap_or(headers.len());
    headers.insert(
        rr,
        rsip::headers::RecordRoute::new("<sip:[2001:db8::1]:5060;lr>").into(),
    );
    r.headers = headers.into();
    r.into()
}

fn bench(c: &mut Criterion) {
    let b = INVITE.as_bytes();
    let hp = HostPort::new(Host::V6("2001:db8::1".parse().expect("ip")), Some(5060));
    // Same work: both sides see the same message and produce the same fields.
    assert_eq!(ours_read(b), rsip_read(b));
    let mut g = c.benchmark_group("read_5_headers");
    g.bench_function("sip-message", |bn| bn.iter(|| ours_read(black_box(b))));
    g.bench_function("rsip", |bn| bn.iter(|| rsip_read(black_box(b))));
    g.finish();
    let mut g = c.benchmark_group("via_rr_serialize");
    g.bench_function("sip-message", |bn| bn.iter(|| ours_edit(black_box(b), &hp)));
    g.bench_function("rsip", |bn| bn.iter(|| rsip_edit(black_box(b))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
