//! Payload codecs side by side: encoding and decoding 10,000 `BankAccount`
//! events (the `MoneyDeposited` and `AccountOpened` payloads of
//! `src/bank.rs`, through the event enum, as stores and repositories do)
//! with `JsonCodec` and `CborCodec` (feature `cbor`).
//!
//! Run: `cargo bench --bench codec -- --sample-count 20`. No target; the
//! figures (and payload sizes) are in BENCHMARKS.md ("Codecs").

use divan::Bencher;
use divan::counter::ItemsCount;
use eventfold::codec::{CborCodec, Codec, JsonCodec};
use eventfold::event::EventSet;
use eventfold_suite::bank::{AccountOpened, BankAccountEvent, MoneyDeposited};

fn main() {
    divan::main();
}

const EVENTS: usize = 10_000;

fn events() -> Vec<BankAccountEvent> {
    (0..EVENTS as u64)
        .map(|i| {
            if i % 100 == 0 {
                BankAccountEvent::AccountOpened(AccountOpened {
                    owner: format!("Owner number {i}"),
                    initial_balance: i,
                })
            } else {
                BankAccountEvent::MoneyDeposited(MoneyDeposited { amount: i * 7 })
            }
        })
        .collect()
}

fn encode_all<C: Codec>(
    codec: &C,
    events: &[BankAccountEvent],
) -> Vec<(&'static str, u32, Vec<u8>)> {
    events
        .iter()
        .map(|e| {
            let encoded = e.encode(codec).expect("encodes");
            (encoded.event_type, encoded.schema_version, encoded.payload)
        })
        .collect()
}

fn encode<C: Codec + Default>(bencher: Bencher) {
    let events = events();
    bencher
        .counter(ItemsCount::new(EVENTS))
        .bench_local(|| encode_all(&C::default(), &events));
}

fn decode<C: Codec + Default>(bencher: Bencher) {
    let codec = C::default();
    let encoded = encode_all(&codec, &events());
    let bytes: usize = encoded.iter().map(|(_, _, p)| p.len()).sum();
    eprintln!(
        "{}: {} payload bytes per event on average",
        C::CONTENT_TYPE,
        bytes as f64 / EVENTS as f64
    );
    bencher.counter(ItemsCount::new(EVENTS)).bench_local(|| {
        encoded
            .iter()
            .map(|(ty, v, p)| BankAccountEvent::decode(&codec, ty, *v, p).expect("decodes"))
            .collect::<Vec<_>>()
    });
}

#[divan::bench]
fn encode_json(bencher: Bencher) {
    encode::<JsonCodec>(bencher);
}

#[divan::bench]
fn encode_cbor(bencher: Bencher) {
    encode::<CborCodec>(bencher);
}

#[divan::bench]
fn decode_json(bencher: Bencher) {
    decode::<JsonCodec>(bencher);
}

#[divan::bench]
fn decode_cbor(bencher: Bencher) {
    decode::<CborCodec>(bencher);
}
