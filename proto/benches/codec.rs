//! Criterion: decoding and re-encoding RECORD-heavy message streams, side by side with the
//! `bolt-proto` crate (bolt-rs) decoding the same messages, plus the proxy's "view only" path
//! (structure header + summary peek, no value decoding). Throughput is in bytes of message bodies.
//!
//! bolt-proto only exposes `Message::from_stream` (async, over chunked framing), so its input is the
//! same messages chunked, driven by a no-op waker over an in-memory slice: it pays for de-chunking
//! (one copy). For a like-for-like comparison `boltgate/dechunk+decode` starts from the same chunked
//! bytes and runs them through `ChunkCodec` first.
//!
//! The `framing` group measures the proxy's hot path alone: `ChunkCodec` splitting the whole chunked
//! stream into messages, next to a plain `memcpy` of the same bytes as the speed of light.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use boltgate_proto::chunk::{ChunkCodec, Frame};
use boltgate_proto::message::{RawMessage, Response};
use boltgate_proto::packstream::{Map, Structure, Value};
use boltgate_proto::Version;
use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use tokio_util::codec::Decoder;

/// 1000 RECORDs of [int, string, map, node] and a final SUCCESS.
fn stream() -> Vec<Bytes> {
    let mut msgs = Vec::new();
    for i in 0..1000i64 {
        let mut props = Map::new();
        props.push("name", format!("person number {i}"));
        props.push("age", i % 90);
        props.push("score", i as f64 * 1.5);
        let node = Structure::new(
            0x4E,
            vec![
                Value::Integer(i * 1_000_003),
                Value::List(vec!["Person".into(), "Employee".into()]),
                Value::Map(props.clone()),
            ],
        );
        let data = vec![
            Value::Integer(i * 70_000),
            Value::String(format!("row-{i}-some-text")),
            Value::Map(props),
            Value::Structure(node),
        ];
        let r = Response::Record(boltgate_proto::message::Record { data });
        msgs.push(r.to_raw().unwrap().into_bytes());
    }
    let mut m = Map::new();
    m.push("bookmark", "FB:kcwQ");
    m.push("t_last", 3);
    m.push("type", "r");
    msgs.push(Response::success(m).into_bytes());
    msgs
}

fn chunked(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + 4);
    for c in msg.chunks(65535) {
        out.extend((c.len() as u16).to_be_bytes());
        out.extend(c);
    }
    out.extend([0, 0]);
    out
}

/// Poll a future that never waits (its input is an in-memory slice) to completion.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn bench(c: &mut Criterion) {
    let msgs = stream();
    let total: usize = msgs.iter().map(Bytes::len).sum();
    let chunks: Vec<Vec<u8>> = msgs.iter().map(|m| chunked(m)).collect();

    let mut g = c.benchmark_group("records");
    g.throughput(Throughput::Bytes(total as u64));

    g.bench_function("boltgate/decode", |b| {
        b.iter(|| {
            for m in &msgs {
                let raw = RawMessage::new(m.clone()).unwrap();
                black_box(Response::decode(Version::V4_4, &raw).unwrap());
            }
        })
    });
    g.bench_function("bolt-proto/decode", |b| {
        b.iter(|| {
            for m in &chunks {
                let mut s: &[u8] = m;
                black_box(block_on(bolt_proto::Message::from_stream(&mut s)).unwrap());
            }
        })
    });
    g.bench_function("boltgate/decode+encode", |b| {
        let mut out = BytesMut::with_capacity(total);
        b.iter(|| {
            out.clear();
            for m in &msgs {
                let raw = RawMessage::new(m.clone()).unwrap();
                Response::decode(Version::V4_4, &raw)
                    .unwrap()
                    .encode(&mut out)
                    .unwrap();
            }
            black_box(out.len())
        })
    });
    g.bench_function("bolt-proto/decode+encode", |b| {
        b.iter(|| {
            let mut n = 0;
            for m in &chunks {
                let mut s: &[u8] = m;
                let msg = block_on(bolt_proto::Message::from_stream(&mut s)).unwrap();
                n += msg.into_chunks().unwrap().len();
            }
            black_box(n)
        })
    });
    let wire: Vec<u8> = chunks.concat();
    g.bench_function("boltgate/dechunk+decode", |b| {
        b.iter(|| {
            let mut codec = ChunkCodec::default();
            let mut buf = BytesMut::from(&wire[..]);
            while let Some(Frame::Message(m)) = codec.decode(&mut buf).unwrap() {
                let raw = RawMessage::new(m).unwrap();
                black_box(Response::decode(Version::V4_4, &raw).unwrap());
            }
        })
    });
    g.bench_function("boltgate/view-only", |b| {
        b.iter(|| {
            for m in &msgs {
                let raw = RawMessage::new(m.clone()).unwrap();
                black_box(raw.summary().unwrap());
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("framing");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("boltgate/dechunk", |b| {
        b.iter(|| {
            let mut codec = ChunkCodec::default();
            let mut buf = BytesMut::from(&wire[..]);
            let mut n = 0;
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                if let Frame::Message(m) = frame {
                    n += m.len();
                }
            }
            black_box(n)
        })
    });
    g.bench_function("memcpy", |b| {
        b.iter(|| black_box(BytesMut::from(&wire[..])))
    });
    g.finish();

    // The same two paths for 16 KiB messages (large rows, or a driver's full 16 KiB chunks): the
    // per-message cost is spread over more bytes.
    let big: Vec<u8> = (0..64)
        .flat_map(|i| {
            let mut m = vec![0xB1, 0x71, 0xD1, 0x3F, 0xF9];
            m.extend(std::iter::repeat_n(
                b'a' + (i % 26) as u8,
                16 * 1024 - m.len(),
            ));
            chunked(&m)
        })
        .collect();
    let mut g = c.benchmark_group("framing-16KiB");
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("boltgate/dechunk", |b| {
        b.iter(|| {
            let mut codec = ChunkCodec::default();
            let mut buf = BytesMut::from(&big[..]);
            let mut n = 0;
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                if let Frame::Message(m) = frame {
                    n += m.len();
                }
            }
            black_box(n)
        })
    });
    g.bench_function("memcpy", |b| b.iter(|| black_box(BytesMut::from(&big[..]))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
