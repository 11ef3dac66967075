//! numpy random state (`random_state=np.random.RandomState(0)`, a
//! `Generator` attribute) kept as inert values: committed fixtures from
//! numpy 1.26 and 2.4, every form numpy has written, and hostile pickles
//! that misuse the helpers or their results. Nothing may ever run.

use std::path::PathBuf;
use std::sync::Arc;

use super::builder::P;
use super::malicious::{assert_forbidden, forbidden_call, pickle_err, refuse, Canary};
use super::{fixture_check, sklearn};
use crate::import::sklearn::dispatch::forest_from_value;
use crate::import::sklearn::pickle::{parse, Limits, Object, PickleError, Text, Value};
use crate::import::sklearn::SklearnError;

use crate::import::sklearn::pickle::opcodes as op;

const PICKLE: &str = "numpy.random._pickle";
const BIT_GENERATOR: &str = "numpy.random.bit_generator";

// ----- committed fixtures ---------------------------------------------------

fn fixture_dir(version: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sklearn")
        .join(format!("random-state-{version}"))
}

fn read(version: &str, file: &str) -> Vec<u8> {
    let path = fixture_dir(version).join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The inert value stored as the root estimator's `random_state`.
fn random_state<'a>(root: &Value<'a>) -> Arc<Object<'a>> {
    let state = root.as_object().unwrap().state.as_ref().unwrap();
    match state.get("random_state") {
        Some(Value::Inert(o)) => o.clone(),
        other => panic!("random_state is {other:?}"),
    }
}

fn check_fixtures(version: &str) {
    let dir = fixture_dir(version);
    assert_eq!(fixture_check::read_manifest(&dir).sklearn, version);
    let summary = fixture_check::check_dir(&dir, |_, _, _| {});
    assert_eq!((summary.models, summary.files), (2, 5), "{summary:?}");
    for file in ["rf_rs.p2.pkl", "rf_rs.p5.pkl", "dt_gen.p4.pkl"] {
        let bytes = read(version, file);
        let globals = sklearn::inspect_globals(&bytes).unwrap();
        assert!(globals.iter().all(|g| g.allowed), "{file}: {globals:?}");
        assert!(
            globals.iter().any(|g| g.module == PICKLE),
            "{file}: {globals:?}"
        );
    }
}

#[test]
fn numpy_2_random_state_fixtures_predict_like_sklearn() {
    check_fixtures("1.9.1");
    // numpy 2 pickles the bit generator as an object of its own, with a
    // SeedSequence when the generator was seeded through one.
    let bytes = read("1.9.1", "rf_rs.p5.pkl");
    let root = parse(&bytes, &Limits::default()).unwrap();
    let rs = random_state(&root);
    assert_eq!(rs.class.name, "__randomstate_ctor");
    let [Value::Inert(bitgen)] = rs.args.as_slice() else {
        panic!("{:?}", rs.args)
    };
    assert_eq!(bitgen.class.name, "__bit_generator_ctor");
    assert!(matches!(&bitgen.args[..], [Value::Global(g)] if g.name == "MT19937"));
    assert!(rs.state.as_ref().unwrap().get("has_gauss").is_some());

    let bytes = read("1.9.1", "dt_gen.p4.pkl");
    let root = parse(&bytes, &Limits::default()).unwrap();
    let gen = random_state(&root);
    assert_eq!(gen.class.name, "__generator_ctor");
    let [Value::Inert(bitgen)] = gen.args.as_slice() else {
        panic!("{:?}", gen.args)
    };
    let state = bitgen.state.as_ref().unwrap().as_tuple().unwrap();
    assert!(matches!(&state[1], Value::Inert(s) if s.class.name == "__pyx_unpickle_SeedSequence"));
}

#[test]
fn numpy_1_random_state_fixtures_predict_like_sklearn() {
    check_fixtures("1.4.2");
    // numpy 1.25–1.26: a bit generator name and the bit generator helper.
    let bytes = read("1.4.2", "dt_gen.p4.pkl");
    let root = parse(&bytes, &Limits::default()).unwrap();
    let gen = random_state(&root);
    assert_eq!(gen.class.name, "__generator_ctor");
    assert!(matches!(
        &gen.args[..],
        [Value::Str(name), Value::Global(g)] if &**name == "PCG64" && g.name == "__bit_generator_ctor"
    ));
}

// ----- every form numpy writes, assembled by hand ----------------------------

/// `numpy.dtype(code)` with its BUILD state.
fn dtype(p: P, code: &str) -> P {
    p.global("numpy", "dtype")
        .str(code)
        .op(op::NEWFALSE)
        .op(op::NEWTRUE)
        .op(op::TUPLE3)
        .op(op::REDUCE)
        .op(op::MARK)
        .int(3)
        .str("<")
        .op(op::NONE)
        .op(op::NONE)
        .op(op::NONE)
        .int(-1)
        .int(-1)
        .int(0)
        .op(op::TUPLE)
        .op(op::BUILD)
}

/// A 4-element `uint32` array, as `_reconstruct` and its BUILD.
fn key_array(p: P) -> P {
    let p = p
        .global("numpy.core.multiarray", "_reconstruct")
        .global("numpy", "ndarray")
        .int(0)
        .op(op::TUPLE1)
        .bytes(b"b")
        .op(op::TUPLE3)
        .op(op::REDUCE)
        .op(op::MARK)
        .int(1)
        .int(4)
        .op(op::TUPLE1);
    dtype(p, "u4")
        .op(op::NEWFALSE)
        .bytes(&[7; 16])
        .op(op::TUPLE)
        .op(op::BUILD)
}

fn float(p: P, f: f64) -> P {
    p.op(op::BINFLOAT).raw(&f.to_be_bytes())
}

/// A 128-bit integer (PCG64 state), as `LONG1`.
fn int128(p: P, v: u128) -> P {
    p.op(op::LONG1).raw(&[17]).raw(&v.to_le_bytes()).raw(&[0])
}

/// The MT19937 state dict `{"bit_generator": …, "state": {"key", "pos"}}`.
fn mt19937_state(p: P) -> P {
    let p = p
        .op(op::EMPTY_DICT)
        .op(op::MARK)
        .str("bit_generator")
        .str("MT19937")
        .str("state")
        .op(op::EMPTY_DICT)
        .op(op::MARK)
        .str("key");
    key_array(p)
        .str("pos")
        .int(624)
        .op(op::SETITEMS)
        .op(op::SETITEMS)
}

/// The RandomState extras of its state dict.
fn gauss(p: P) -> P {
    float(p.op(op::MARK).str("has_gauss").int(0).str("gauss"), 0.0).op(op::SETITEMS)
}

/// The PCG64 state dict.
fn pcg64_state(p: P) -> P {
    let p = p
        .op(op::EMPTY_DICT)
        .op(op::MARK)
        .str("bit_generator")
        .str("PCG64")
        .str("state")
        .op(op::EMPTY_DICT)
        .op(op::MARK)
        .str("state");
    int128(int128(p, 1 << 100).str("inc"), 3)
        .op(op::SETITEMS)
        .str("has_uint32")
        .int(0)
        .str("uinteger")
        .int(0)
        .op(op::SETITEMS)
}

/// `__pyx_unpickle_SeedSequence(SeedSequence, checksum, None)` and its BUILD.
fn seed_sequence(p: P) -> P {
    let p = p
        .global(BIT_GENERATOR, "__pyx_unpickle_SeedSequence")
        .global(BIT_GENERATOR, "SeedSequence")
        .int(65708578)
        .op(op::NONE)
        .op(op::TUPLE3)
        .op(op::REDUCE)
        .op(op::MARK)
        .int(0)
        .int(0);
    key_array(p)
        .int(4)
        .op(op::EMPTY_TUPLE)
        .op(op::TUPLE)
        .op(op::BUILD)
}

/// `{"random_state": <what f pushes>}`.
fn attribute(f: impl FnOnce(P) -> P) -> Vec<u8> {
    f(P::new(2).op(op::EMPTY_DICT).str("random_state"))
        .op(op::SETITEM)
        .stop()
}

fn inert_attribute(bytes: &[u8]) -> Arc<Object<'_>> {
    let v = parse(bytes, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
    match v.get("random_state") {
        Some(Value::Inert(o)) => o.clone(),
        other => panic!("random_state is {other:?}"),
    }
}

#[test]
fn every_form_numpy_writes_is_inert() {
    // numpy < 1.17: __RandomState_ctor() and the legacy state tuple.
    let p = attribute(|p| {
        let p = p
            .global("numpy.random", "__RandomState_ctor")
            .op(op::EMPTY_TUPLE)
            .op(op::REDUCE)
            .op(op::MARK)
            .str("MT19937");
        float(key_array(p).int(624).int(0), 0.0)
            .op(op::TUPLE)
            .op(op::BUILD)
    });
    let o = inert_attribute(&p);
    assert_eq!(o.class.name, "__RandomState_ctor");
    assert_eq!(o.state.as_ref().unwrap().as_tuple().unwrap().len(), 5);

    // numpy 1.17–1.24: the bit generator's name, then the state dict.
    let p = attribute(|p| {
        let p = p
            .global(PICKLE, "__randomstate_ctor")
            .str("MT19937")
            .op(op::TUPLE1)
            .op(op::REDUCE);
        gauss(mt19937_state(p)).op(op::BUILD)
    });
    let o = inert_attribute(&p);
    assert!(matches!(&o.args[..], [Value::Str(s)] if &**s == "MT19937"));
    let state = o.state.as_ref().unwrap();
    assert!(state
        .get("state")
        .unwrap()
        .get("key")
        .unwrap()
        .as_array()
        .is_some());

    // numpy 1.25–1.26: the name and the bit generator helper.
    let p = attribute(|p| {
        let p = p
            .global(PICKLE, "__generator_ctor")
            .str("PCG64")
            .global(PICKLE, "__bit_generator_ctor")
            .op(op::TUPLE2)
            .op(op::REDUCE);
        pcg64_state(p).op(op::BUILD)
    });
    let o = inert_attribute(&p);
    assert_eq!(o.class.name, "__generator_ctor");
    assert!(matches!(
        o.state.as_ref().unwrap().get("state").unwrap().get("state"),
        Some(Value::BigInt(_))
    ));

    // numpy 2: a bit generator object (state and SeedSequence) as argument.
    let p = attribute(|p| {
        let p = p
            .stack_global(PICKLE, "__generator_ctor")
            .stack_global(PICKLE, "__bit_generator_ctor")
            .stack_global("numpy.random._pcg64", "PCG64")
            .op(op::TUPLE1)
            .op(op::REDUCE);
        seed_sequence(pcg64_state(p))
            .op(op::TUPLE2)
            .op(op::BUILD)
            .op(op::TUPLE1)
            .op(op::REDUCE)
    });
    let o = inert_attribute(&p);
    let [Value::Inert(bitgen)] = o.args.as_slice() else {
        panic!("{:?}", o.args)
    };
    let state = bitgen.state.as_ref().unwrap().as_tuple().unwrap();
    let Value::Inert(seq) = &state[1] else {
        panic!("{state:?}")
    };
    assert_eq!(seq.class.name, "__pyx_unpickle_SeedSequence");
    assert_eq!(seq.state.as_ref().unwrap().as_tuple().unwrap().len(), 5);

    // numpy 2 RandomState: bit generator object without SeedSequence.
    let p = attribute(|p| {
        let p = p
            .global(PICKLE, "__randomstate_ctor")
            .global(PICKLE, "__bit_generator_ctor")
            .global("numpy.random._mt19937", "MT19937")
            .op(op::TUPLE1)
            .op(op::REDUCE);
        let p = mt19937_state(p)
            .op(op::NONE)
            .op(op::TUPLE2)
            .op(op::BUILD)
            .op(op::TUPLE1)
            .op(op::REDUCE);
        gauss(mt19937_state(p)).op(op::BUILD)
    });
    let o = inert_attribute(&p);
    assert!(matches!(&o.args[..], [Value::Inert(b)] if b.class.name == "__bit_generator_ctor"));
    let globals = sklearn::inspect_globals(&p).unwrap();
    assert!(globals.iter().all(|g| g.allowed), "{globals:?}");
}

// ----- hostile pickles ------------------------------------------------------

#[test]
fn helpers_refuse_arguments_numpy_never_writes() {
    let canary = Canary::new();
    let cmd = canary.command();
    let helper = |name: &str| P::new(2).global(PICKLE, name);

    // A shell command where the bit generator name goes.
    let p = helper("__randomstate_ctor")
        .str(&cmd)
        .op(op::TUPLE1)
        .op(op::REDUCE)
        .stop();
    let msg = forbidden_call(&p, "__randomstate_ctor");
    assert!(msg.contains("MT19937") && msg.contains("inert"), "{msg}");
    // `sh -c cmd`, as subprocess would take it.
    let p = helper("__bit_generator_ctor")
        .op(op::MARK)
        .str("sh")
        .str("-c")
        .str(&cmd)
        .op(op::TUPLE)
        .op(op::REDUCE)
        .stop();
    forbidden_call(&p, "__bit_generator_ctor");
    // os.system as the bit generator helper: refused as a global.
    let p = helper("__randomstate_ctor")
        .str("MT19937")
        .global("posix", "system")
        .op(op::TUPLE2)
        .op(op::REDUCE)
        .stop();
    assert_forbidden(&p, "posix", "system");
    // An allowed global that is not the bit generator helper.
    let p = helper("__generator_ctor")
        .str("PCG64")
        .global("_codecs", "encode")
        .op(op::TUPLE2)
        .op(op::REDUCE)
        .stop();
    forbidden_call(&p, "__generator_ctor");
    // A class where a name or a bit generator object goes.
    let p = helper("__generator_ctor")
        .global("numpy.random._mt19937", "MT19937")
        .op(op::TUPLE1)
        .op(op::REDUCE)
        .stop();
    forbidden_call(&p, "__generator_ctor");
    // SeedSequence is no bit generator class.
    let p = helper("__bit_generator_ctor")
        .global(BIT_GENERATOR, "SeedSequence")
        .op(op::TUPLE1)
        .op(op::REDUCE)
        .stop();
    forbidden_call(&p, "__bit_generator_ctor");
    // The pre-1.17 helper takes no arguments.
    let p = P::new(2)
        .global("numpy.random", "__RandomState_ctor")
        .str(&cmd)
        .op(op::TUPLE1)
        .op(op::REDUCE)
        .stop();
    forbidden_call(&p, "__RandomState_ctor");
    // __pyx_unpickle_SeedSequence only unpickles SeedSequence.
    let p = P::new(2)
        .global(BIT_GENERATOR, "__pyx_unpickle_SeedSequence")
        .global("numpy.random._mt19937", "MT19937")
        .int(1)
        .op(op::NONE)
        .op(op::TUPLE3)
        .op(op::REDUCE)
        .stop();
    forbidden_call(&p, "__pyx_unpickle_SeedSequence");
    // An estimator where a bit generator goes.
    let p = helper("__randomstate_ctor")
        .global("sklearn.ensemble._forest", "RandomForestClassifier")
        .op(op::EMPTY_TUPLE)
        .op(op::NEWOBJ)
        .op(op::TUPLE1)
        .op(op::REDUCE)
        .stop();
    forbidden_call(&p, "__randomstate_ctor");
    canary.assert_untouched();
}

#[test]
fn inert_objects_and_classes_are_never_called() {
    let canary = Canary::new();
    let cmd = canary.command();
    // rs = __randomstate_ctor(); rs("touch …"), by REDUCE and by NEWOBJ.
    for call in [op::REDUCE, op::NEWOBJ] {
        let p = P::new(2)
            .global(PICKLE, "__randomstate_ctor")
            .op(op::EMPTY_TUPLE)
            .op(op::REDUCE)
            .str(&cmd)
            .op(op::TUPLE1)
            .op(call)
            .stop();
        let msg = forbidden_call(&p, "__randomstate_ctor");
        assert!(
            msg.contains("inert") && msg.contains("never called"),
            "{msg}"
        );
        // inspect lists the globals without stopping.
        let listed = sklearn::inspect_globals(&p).unwrap();
        assert!(listed.len() == 1 && listed[0].allowed, "{listed:?}");
    }
    // The helpers are functions: no NEWOBJ.
    let p = P::new(2)
        .global(PICKLE, "__generator_ctor")
        .op(op::EMPTY_TUPLE)
        .op(op::NEWOBJ)
        .stop();
    assert!(forbidden_call(&p, "__generator_ctor").contains("REDUCE"));
    // Bit generator and SeedSequence classes are arguments only.
    for (module, name) in [
        ("numpy.random._mt19937", "MT19937"),
        ("numpy.random._pcg64", "PCG64DXSM"),
        (BIT_GENERATOR, "SeedSequence"),
    ] {
        for call in [op::REDUCE, op::NEWOBJ] {
            let p = P::new(2)
                .global(module, name)
                .str(&cmd)
                .op(op::TUPLE1)
                .op(call)
                .stop();
            assert!(forbidden_call(&p, name).contains("only as an argument"));
        }
    }
    // Nor can an inert object stand in for an estimator class.
    let p = P::new(2)
        .global("copyreg", "_reconstructor")
        .global(PICKLE, "__randomstate_ctor")
        .global("builtins", "object")
        .op(op::NONE)
        .op(op::TUPLE3)
        .op(op::REDUCE)
        .stop();
    forbidden_call(&p, "_reconstructor");
    canary.assert_untouched();
}

/// `__randomstate_ctor()` then `BUILD` with the state `f` pushes.
fn built_with(f: impl FnOnce(P) -> P) -> Vec<u8> {
    let p = P::new(2)
        .global(PICKLE, "__randomstate_ctor")
        .op(op::EMPTY_TUPLE)
        .op(op::REDUCE);
    f(p).op(op::BUILD).stop()
}

#[test]
fn inert_state_is_plain_data() {
    // An estimator hidden in the state.
    let p = built_with(|p| {
        p.op(op::EMPTY_DICT)
            .str("x")
            .global("sklearn.ensemble._forest", "RandomForestClassifier")
            .op(op::EMPTY_TUPLE)
            .op(op::NEWOBJ)
            .op(op::SETITEM)
    });
    let msg = forbidden_call(&p, "__randomstate_ctor");
    assert!(msg.contains("RandomForestClassifier object"), "{msg}");
    // A global in the state, even an allowed one.
    let p = built_with(|p| p.global("numpy", "ndarray").op(op::TUPLE1));
    assert!(forbidden_call(&p, "__randomstate_ctor").contains("the global numpy.ndarray"));
    // A dtype placeholder that never got its BUILD.
    let p = built_with(|p| {
        p.global("numpy", "dtype")
            .str("f8")
            .op(op::TUPLE1)
            .op(op::REDUCE)
            .op(op::TUPLE1)
    });
    forbidden_call(&p, "__randomstate_ctor");
    // The SeedSequence state argument too.
    let p = P::new(2)
        .global(BIT_GENERATOR, "__pyx_unpickle_SeedSequence")
        .global(BIT_GENERATOR, "SeedSequence")
        .int(1)
        .global("_codecs", "encode")
        .op(op::TUPLE1)
        .op(op::TUPLE3)
        .op(op::REDUCE)
        .stop();
    assert!(forbidden_call(&p, "__pyx_unpickle_SeedSequence").contains("_codecs.encode"));
    // One BUILD only.
    let mut p = built_with(|p| p.op(op::EMPTY_DICT));
    p.pop();
    p.extend_from_slice(&[op::EMPTY_DICT, op::BUILD, b'.']);
    let e = pickle_err(&p);
    assert!(e.to_string().contains("a second BUILD"), "{e}");
    // Plain data of every kind is fine (and the result is no estimator).
    let p = built_with(|p| {
        let p = p
            .op(op::MARK)
            .op(op::NONE)
            .op(op::NEWTRUE)
            .int(-3)
            .str("text")
            .bytes(b"\x00\x01")
            .op(op::EMPTY_LIST)
            .op(op::EMPTY_DICT);
        dtype(key_array(float(p, 1.5)), "f8").op(op::TUPLE)
    });
    let e = refuse(&p);
    assert!(
        matches!(&e, SklearnError::UnsupportedEstimator { found } if found.contains("only a numpy RandomState")),
        "{e:?}"
    );
}

#[test]
fn inert_objects_are_not_arrays_dtypes_or_estimators() {
    let inert = |p: P| {
        p.global(PICKLE, "__randomstate_ctor")
            .op(op::EMPTY_TUPLE)
            .op(op::REDUCE)
    };
    let numpy_err = |bytes: &[u8]| match pickle_err(bytes) {
        PickleError::Numpy { message, .. } => message,
        other => panic!("expected a numpy error, got {other:?}"),
    };
    // As the buffer of an array.
    let p = inert(
        P::new(5)
            .global("numpy._core.numeric", "_frombuffer")
            .op(op::MARK),
    );
    let p = dtype(p, "f8")
        .int(1)
        .op(op::TUPLE1)
        .str("C")
        .op(op::TUPLE)
        .op(op::REDUCE)
        .stop();
    assert!(numpy_err(&p).contains("buffer is a numpy RandomState"));
    // As the dtype of an array.
    let p = P::new(2)
        .global("numpy.core.multiarray", "_reconstruct")
        .global("numpy", "ndarray")
        .int(0)
        .op(op::TUPLE1)
        .bytes(b"b")
        .op(op::TUPLE3)
        .op(op::REDUCE)
        .op(op::MARK)
        .int(1)
        .int(1)
        .op(op::TUPLE1);
    let p = inert(p)
        .op(op::NEWFALSE)
        .bytes(&[0; 8])
        .op(op::TUPLE)
        .op(op::BUILD)
        .stop();
    assert!(numpy_err(&p).contains("dtype is a numpy RandomState"));
    // As the dtype of a scalar.
    let p = inert(P::new(2).global("numpy.core.multiarray", "scalar"))
        .bytes(&[0; 8])
        .op(op::TUPLE2)
        .op(op::REDUCE)
        .stop();
    assert!(numpy_err(&p).contains("not a dtype"));
    // As the whole file.
    let e = refuse(&inert(P::new(2)).stop());
    assert!(e.to_string().contains("only a numpy RandomState"), "{e}");
    // As an estimator's state.
    let p = inert(
        P::new(2)
            .global("sklearn.tree._classes", "DecisionTreeClassifier")
            .op(op::EMPTY_TUPLE)
            .op(op::NEWOBJ),
    )
    .op(op::BUILD)
    .stop();
    assert!(refuse(&p).to_string().contains("no attribute dict"));
}

/// `obj` with attribute `key` set to `value`.
fn with_attr<'a>(obj: &Object<'a>, key: &'static str, value: Value<'a>) -> Value<'a> {
    let Some(Value::Dict(d)) = &obj.state else {
        panic!("no state")
    };
    let mut d = d.to_vec();
    d.push((Value::Str(Text::Borrowed(key)), value));
    Value::Object(Arc::new(Object {
        state: Some(Value::Dict(d.into())),
        ..obj.clone()
    }))
}

#[test]
fn inert_attributes_cannot_stand_in_for_model_data() {
    let bytes = read("1.9.1", "rf_rs.p5.pkl");
    let root = parse(&bytes, &Limits::default()).unwrap();
    forest_from_value(&root, bytes.len()).unwrap();
    let rs = Value::Inert(random_state(&root));
    let forest = root.as_object().unwrap();
    for (key, value, needle) in [
        ("classes_", rs.clone(), "classes_ is a numpy RandomState"),
        (
            "n_outputs_",
            rs.clone(),
            "n_outputs_ is a numpy RandomState",
        ),
        (
            "estimators_",
            Value::List(vec![rs.clone()].into()),
            "estimators_[0] is a numpy RandomState",
        ),
    ] {
        let e = forest_from_value(&with_attr(forest, key, value), bytes.len()).unwrap_err();
        assert!(e.to_string().contains(needle), "{key}: {e}");
    }

    let bytes = read("1.9.1", "dt_gen.p4.pkl");
    let root = parse(&bytes, &Limits::default()).unwrap();
    let gen = Value::Inert(random_state(&root));
    let tree = root.as_object().unwrap();
    let e = forest_from_value(&with_attr(tree, "tree_", gen.clone()), bytes.len()).unwrap_err();
    assert!(e.to_string().contains("tree_ is a numpy Generator"), "{e}");
    // …nor for a tree's arrays.
    let Some(Value::Object(t)) = tree.state.as_ref().unwrap().get("tree_") else {
        panic!("tree_")
    };
    let bad_tree = with_attr(t, "nodes", gen);
    let e = forest_from_value(&with_attr(tree, "tree_", bad_tree), bytes.len()).unwrap_err();
    assert!(e.to_string().contains("nodes is not an array"), "{e}");
}

#[test]
fn revisiting_a_huge_memoized_state_runs_out_of_work_budget() {
    // A 200 000-item list, then 1000 inert objects each BUILT with it.
    let mut p = P::new(2)
        .op(op::MARK)
        .raw(&vec![op::NONE; 200_000])
        .op(b'l')
        .put(0)
        .op(op::POP)
        .global(PICKLE, "__randomstate_ctor")
        .put(1)
        .op(op::POP);
    for _ in 0..1000 {
        p = p
            .get(1)
            .op(op::EMPTY_TUPLE)
            .op(op::REDUCE)
            .get(0)
            .op(op::BUILD)
            .op(op::POP);
    }
    let limits = Limits {
        max_items: 1 << 20,
        ..Limits::default()
    };
    let e = sklearn::from_bytes_with(&p.op(op::NONE).stop(), &limits).unwrap_err();
    assert!(
        matches!(
            e,
            SklearnError::Pickle(PickleError::LimitExceeded {
                what: "decoding work",
                ..
            })
        ),
        "{e:?}"
    );
}

#[test]
fn deep_inert_state_hits_the_depth_limit_not_the_stack() {
    // A 300 000-deep tuple chain as state: checked without recursion, then
    // refused by the depth limit when the tree is frozen.
    let mut p = P::new(2).op(op::EMPTY_TUPLE).put(0);
    for _ in 0..300_000 {
        p = p.op(op::TUPLE1).put(0);
    }
    let p = p
        .op(op::POP)
        .global(PICKLE, "__randomstate_ctor")
        .op(op::EMPTY_TUPLE)
        .op(op::REDUCE)
        .get(0)
        .op(op::BUILD)
        .stop();
    let e = pickle_err(&p);
    assert!(
        matches!(
            e,
            PickleError::LimitExceeded {
                what: "nesting depth",
                ..
            }
        ),
        "{e:?}"
    );
}
