//! Random and mutated inputs: the importer may refuse anything, but must
//! never panic, and whatever it accepts passes `Forest::check`.

use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;

use super::sklearn;

/// Real files from the committed fixtures, to mutate.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sklearn");
        [
            "sklearn-1.2.2/dt.p2.pkl",
            "sklearn-1.3.2/dt_nan.p5.pkl",
            "sklearn-1.3.2/dt_nan.raw.joblib",
            "sklearn-1.4.2/et.p4.pkl",
            "sklearn-1.4.2/rf.zlib3.joblib",
            "random-state-1.9.1/dt_gen.p4.pkl",
            "random-state-1.4.2/rf_rs.zlib3.joblib",
            "estimators-1.9.1/gbc_multi.p4.pkl",
            "estimators-1.9.1/hgbc_categorical.zlib3.joblib",
            "estimators-1.9.1/iforest_subset.p4.pkl",
            "estimators-1.2.2/hgbr_categorical.p4.pkl",
            "estimators-1.3.2/etr_multi.zlib3.joblib",
        ]
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect()
    })
}

fn exercise(bytes: &[u8]) {
    if let Ok(forest) = sklearn::from_bytes(bytes) {
        forest.check().expect("accepted forests are valid");
    }
    let _ = sklearn::inspect_globals(bytes);
    let _ = sklearn::looks_like_pickle(bytes);
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, xor: u8 },
    Set { at: usize, byte: u8 },
    Truncate { at: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Delete { at: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        (at, 1u8..).prop_map(|(at, xor)| Mutation::Flip { at, xor }),
        (at, any::<u8>()).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        at.prop_map(|at| Mutation::Truncate { at }),
        (at, proptest::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (at, 1usize..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
    ]
}

fn apply(mut b: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let n = b.len().max(1);
    match m {
        Mutation::Flip { at, xor } => {
            if !b.is_empty() {
                b[at % n] ^= xor;
            }
        }
        Mutation::Set { at, byte } => {
            if !b.is_empty() {
                b[at % n] = *byte;
            }
        }
        Mutation::Truncate { at } => b.truncate(at % n),
        Mutation::Insert { at, bytes } => {
            let at = at % (b.len() + 1);
            b.splice(at..at, bytes.iter().copied());
        }
        Mutation::Delete { at, len } => {
            let at = at % n;
            let end = (at + len).min(b.len());
            if at < end {
                b.drain(at..end);
            }
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512), proto in 0u8..7) {
        exercise(&body);
        // Behind a valid header the bytes reach the opcode machine.
        let mut framed = vec![0x80, proto];
        framed.extend_from_slice(&body);
        exercise(&framed);
    }

    #[test]
    fn mutated_real_pickles_never_panic(
        seed in 0usize..12,
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let mut b = seeds()[seed].clone();
        for m in &mutations {
            b = apply(b, m);
        }
        exercise(&b);
    }
}

#[test]
fn every_prefix_of_a_real_pickle_is_refused_cleanly() {
    // A plain forest, and one holding numpy random state (inert values).
    for b in [&seeds()[0], &seeds()[5]] {
        for end in 0..b.len() {
            assert!(
                sklearn::from_bytes(&b[..end]).is_err(),
                "prefix of {end} bytes"
            );
        }
        sklearn::from_bytes(b).unwrap();
    }
}
