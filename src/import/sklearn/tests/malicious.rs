//! Hostile pickles, assembled opcode by opcode: each must be refused with an
//! error naming what was refused, and nothing may run. Payloads that would
//! execute a shell command try to create a canary file; it must not exist
//! afterwards.

use std::path::{Path, PathBuf};

use super::builder::P;
use super::sklearn::{self, Limits, PickleError, SklearnError};

use crate::import::sklearn::pickle::opcodes as op;

pub(super) struct Canary {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Canary {
    pub(super) fn new() -> Canary {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pwned");
        Canary { _dir: dir, path }
    }

    pub(super) fn command(&self) -> String {
        format!("touch {}", self.path.display())
    }

    pub(super) fn assert_untouched(&self) {
        assert!(
            !self.path.exists(),
            "payload ran: {} exists",
            self.path.display()
        );
    }
}

pub(super) fn refuse(bytes: &[u8]) -> SklearnError {
    match sklearn::from_bytes(bytes) {
        Ok(f) => panic!("hostile pickle converted to a forest: {f:?}"),
        Err(e) => e,
    }
}

pub(super) fn pickle_err(bytes: &[u8]) -> PickleError {
    match refuse(bytes) {
        SklearnError::Pickle(e) => e,
        other => panic!("expected a pickle error, got {other:?}"),
    }
}

pub(super) fn assert_forbidden(bytes: &[u8], module: &str, name: &str) {
    let e = pickle_err(bytes);
    assert!(
        matches!(&e, PickleError::Forbidden { module: m, name: n, .. } if m == module && n == name),
        "{e:?}"
    );
    assert!(e.to_string().contains(&format!("{module}.{name}")), "{e}");
    let listed = sklearn::inspect_globals(bytes).unwrap();
    assert!(
        listed
            .iter()
            .any(|g| g.module == module && g.name == name && !g.allowed),
        "{listed:?}"
    );
}

#[test]
fn os_system_via_reduce_is_refused_and_never_runs() {
    let canary = Canary::new();
    let cmd = canary.command();
    // The classic protocol 0 payload…
    let p0 = P::new(0)
        .global("os", "system")
        .op(op::MARK)
        .raw(format!("S'{cmd}'\n").as_bytes())
        .op(op::TUPLE)
        .op(op::REDUCE)
        .stop();
    assert_forbidden(&p0, "os", "system");
    // …and as CPython ≥ 3 writes it on Linux (posix.system), protocol 2.
    let p2 = P::new(2)
        .global("posix", "system")
        .str(&cmd)
        .op(op::TUPLE1)
        .op(op::REDUCE)
        .stop();
    assert_forbidden(&p2, "posix", "system");
    canary.assert_untouched();
}

#[test]
fn eval_via_stack_global_is_refused() {
    let canary = Canary::new();
    let code = format!("__import__('os').system('{}')", canary.command());
    let p = P::new(4)
        .stack_global("builtins", "eval")
        .op(op::MEMOIZE)
        .str(&code)
        .op(op::TUPLE1)
        .op(op::REDUCE)
        .stop();
    assert_forbidden(&p, "builtins", "eval");
    canary.assert_untouched();
}

#[test]
fn subprocess_popen_via_newobj_is_refused() {
    let canary = Canary::new();
    let p = P::new(2)
        .global("subprocess", "Popen")
        .str("sh")
        .str("-c")
        .str(&canary.command())
        .op(op::TUPLE3)
        .op(op::TUPLE1)
        .op(op::NEWOBJ)
        .stop();
    assert_forbidden(&p, "subprocess", "Popen");
    canary.assert_untouched();
}

#[test]
fn globals_assembled_from_memo_strings_are_refused() {
    let canary = Canary::new();
    // "os" and "system" are stored early as innocent strings, then fetched
    // from the memo for STACK_GLOBAL.
    let p = P::new(4)
        .str("os")
        .put(0)
        .op(op::POP)
        .str("system")
        .put(1)
        .op(op::POP)
        .get(0)
        .get(1)
        .op(0x93)
        .str(&canary.command())
        .op(op::TUPLE1)
        .op(op::REDUCE)
        .stop();
    assert_forbidden(&p, "os", "system");
    canary.assert_untouched();
}

#[test]
fn a_forbidden_call_inside_an_allowed_estimator_is_refused() {
    let canary = Canary::new();
    let p = P::new(4)
        .stack_global("sklearn.ensemble._forest", "RandomForestClassifier")
        .op(op::EMPTY_TUPLE)
        .op(op::NEWOBJ)
        .op(op::EMPTY_DICT)
        .str("n_estimators")
        .stack_global("os", "system")
        .str(&canary.command())
        .op(op::TUPLE1)
        .op(op::REDUCE)
        .op(op::SETITEM)
        .op(op::BUILD)
        .stop();
    assert_forbidden(&p, "os", "system");
    let listed = sklearn::inspect_globals(&p).unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed[0].allowed && !listed[1].allowed);
    canary.assert_untouched();
}

#[test]
fn attribute_lookups_and_importers_are_refused() {
    for (m, n) in [
        ("builtins", "getattr"),
        ("builtins", "__import__"),
        ("importlib", "import_module"),
        ("numpy", "load"),
        ("numpy.testing._private.utils", "runstring"),
        ("joblib", "load"),
        ("pickle", "loads"),
        ("sklearn.utils", "Bunch"),
        // numpy's random pickling helpers are allowed (as inert values,
        // see random_state.rs); the classes and functions behind them are not.
        ("numpy.random.mtrand", "RandomState"),
        ("numpy.random._generator", "Generator"),
        ("numpy.random", "default_rng"),
        ("numpy.random._pickle", "BitGenerators"),
        (
            "numpy.random.bit_generator",
            "__pyx_unpickle_SeedlessSeedSequence",
        ),
    ] {
        let p = P::new(4)
            .stack_global(m, n)
            .str("x")
            .op(op::TUPLE1)
            .op(op::REDUCE)
            .stop();
        assert_forbidden(&p, m, n);
    }
}

pub(super) fn forbidden_call(bytes: &[u8], name: &str) -> String {
    let e = pickle_err(bytes);
    assert!(
        matches!(&e, PickleError::ForbiddenCall { name: n, .. } if n == name),
        "{e:?}"
    );
    e.to_string()
}

#[test]
fn allowed_globals_cannot_be_misused() {
    // numpy.ndarray is allowed only as an argument.
    let p = P::new(2)
        .global("numpy", "ndarray")
        .op(op::EMPTY_TUPLE)
        .op(op::REDUCE)
        .stop();
    forbidden_call(&p, "ndarray");
    // _codecs.encode only turns latin-1 text into bytes.
    let p = P::new(2)
        .global("_codecs", "encode")
        .str("abc")
        .str("rot13")
        .op(op::TUPLE2)
        .op(op::REDUCE)
        .stop();
    assert!(forbidden_call(&p, "encode").contains("latin1"));
    // _reconstructor only builds estimator instances.
    let p = P::new(2)
        .global("copyreg", "_reconstructor")
        .global("numpy", "ndarray")
        .global("builtins", "object")
        .op(op::NONE)
        .op(op::TUPLE3)
        .op(op::REDUCE)
        .stop();
    forbidden_call(&p, "_reconstructor");
    // _reconstruct only makes plain ndarrays.
    let p = P::new(2)
        .global("numpy.core.multiarray", "_reconstruct")
        .global("sklearn.tree._tree", "Tree")
        .int(0)
        .op(op::TUPLE1)
        .bytes(b"b")
        .op(op::TUPLE3)
        .op(op::REDUCE)
        .op(op::EMPTY_TUPLE)
        .op(op::BUILD)
        .stop();
    forbidden_call(&p, "_reconstruct");
    // builtins.object is no callable.
    let p = P::new(2)
        .global("builtins", "object")
        .op(op::EMPTY_TUPLE)
        .op(op::NEWOBJ)
        .stop();
    forbidden_call(&p, "object");
}

#[test]
fn extension_registry_opcodes_are_refused() {
    for (code, operand, name) in [
        (0x82u8, &[7u8][..], "EXT1"),
        (0x83, &[7, 0][..], "EXT2"),
        (0x84, &[7, 0, 0, 0][..], "EXT4"),
    ] {
        let p = P::new(2).op(code).raw(operand).stop();
        let e = pickle_err(&p);
        assert!(
            matches!(e, PickleError::ForbiddenOpcode { name: n, .. } if n == name),
            "{e:?}"
        );
        assert!(e.to_string().contains(name), "{e}");
        let listed = sklearn::inspect_globals(&p).unwrap();
        assert_eq!(listed[0].module, format!("<{name}>"));
        assert!(!listed[0].allowed);
    }
}

#[test]
fn persistent_ids_and_out_of_band_buffers_are_refused() {
    let cases = [
        (P::new(0).op(b'P').raw(b"evil\n").stop(), "PERSID"),
        (P::new(2).str("evil").op(b'Q').stop(), "BINPERSID"),
        (P::new(5).op(0x97).stop(), "NEXT_BUFFER"),
        (P::new(5).bytes(b"x").op(0x98).stop(), "READONLY_BUFFER"),
    ];
    for (p, name) in cases {
        let e = pickle_err(&p);
        assert!(
            matches!(e, PickleError::ForbiddenOpcode { name: n, .. } if n == name),
            "{e:?}"
        );
    }
}

fn assert_too_long(bytes: &[u8], what: &str, declared: u64) {
    let e = pickle_err(bytes);
    assert!(
        matches!(&e, PickleError::LengthExceedsInput { what: w, declared: d, .. } if *w == what && *d == declared),
        "{e:?}"
    );
}

#[test]
fn huge_declared_lengths_are_refused_before_allocating() {
    let huge = 1u64 << 60;
    let p = P::new(4)
        .op(0x8d)
        .raw(&huge.to_le_bytes())
        .raw(b"abc")
        .stop();
    assert_too_long(&p, "BINUNICODE8", huge);
    let p = P::new(4).op(0x8e).raw(&u64::MAX.to_le_bytes()).stop();
    assert_too_long(&p, "BINBYTES8", u64::MAX);
    let p = P::new(5).op(0x96).raw(&huge.to_le_bytes()).stop();
    assert_too_long(&p, "BYTEARRAY8", huge);
    let p = P::new(4)
        .op(0x95)
        .raw(&(1u64 << 62).to_le_bytes())
        .op(op::NONE)
        .stop();
    assert_too_long(&p, "FRAME", 1 << 62);
    let p = P::new(2).op(b'X').raw(&u32::MAX.to_le_bytes()).stop();
    assert_too_long(&p, "BINUNICODE", u32::MAX as u64);
    let p = P::new(2).op(0x8b).raw(&i32::MAX.to_le_bytes()).stop();
    assert_too_long(&p, "LONG4", i32::MAX as u64);
    let p = P::new(2).op(b'T').raw(&(-5i32).to_le_bytes()).stop();
    assert!(matches!(pickle_err(&p), PickleError::Malformed { .. }));
}

/// `numpy.dtype("f8")` with its BUILD state.
fn dtype_f8(p: P) -> P {
    p.global("numpy", "dtype")
        .str("f8")
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

fn joblib_wrapper(shape: (i32, i32), wrapper: &str) -> Vec<u8> {
    let p = P::new(4)
        .global("joblib.numpy_pickle", wrapper)
        .op(op::EMPTY_TUPLE)
        .op(op::NEWOBJ)
        .op(op::EMPTY_DICT)
        .op(op::MARK)
        .str("subclass")
        .global("numpy", "ndarray")
        .str("shape")
        .int(shape.0)
        .int(shape.1)
        .op(op::TUPLE2)
        .str("order")
        .str("C")
        .str("dtype");
    dtype_f8(p)
        .str("allow_mmap")
        .op(op::NEWTRUE)
        .op(op::SETITEMS)
        .op(op::BUILD)
        .raw(&[0u8; 48])
        .stop()
}

#[test]
fn joblib_arrays_larger_than_the_file_are_refused() {
    let e = pickle_err(&joblib_wrapper((1 << 30, 1 << 30), "NumpyArrayWrapper"));
    assert!(
        matches!(e, PickleError::LengthExceedsInput { what: "joblib array data", declared, .. } if declared == 1 << 63),
        "{e:?}"
    );
    // A small one reads fine (and then is no estimator).
    let e = refuse(&joblib_wrapper((2, 3), "NumpyArrayWrapper"));
    assert!(
        matches!(e, SklearnError::UnsupportedEstimator { .. }),
        "{e:?}"
    );
    // Pre-0.10 wrappers name companion files: refused.
    let e = pickle_err(&joblib_wrapper((2, 3), "NDArrayWrapper"));
    assert!(e.to_string().contains("companion files"), "{e}");
}

#[test]
fn deep_nesting_hits_limits_not_the_stack() {
    // 100 000 open MARKs.
    let p = P::new(2).raw(&vec![op::MARK; 100_000]).stop();
    let e = pickle_err(&p);
    assert!(
        matches!(
            e,
            PickleError::LimitExceeded {
                what: "MARK nesting",
                ..
            }
        ),
        "{e:?}"
    );

    // 2 million values on the stack.
    let p = P::new(2).raw(&vec![op::NONE; 2_000_000]).stop();
    let e = pickle_err(&p);
    assert!(
        matches!(
            e,
            PickleError::LimitExceeded {
                what: "stack size",
                ..
            }
        ),
        "{e:?}"
    );

    // A 300 000-deep tuple chain built through the memo with a tiny stack.
    let mut p = P::new(2).op(op::EMPTY_TUPLE).put(0);
    for _ in 0..300_000 {
        p = p.op(op::TUPLE1).put(0);
    }
    let e = pickle_err(&p.stop());
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

    // The same with lists: [[[[…]]]].
    let mut p = P::new(2).op(op::EMPTY_LIST).put(0).op(op::POP);
    for _ in 0..100_000 {
        p = p
            .op(op::EMPTY_LIST)
            .get(0)
            .op(op::APPEND)
            .put(0)
            .op(op::POP);
    }
    let e = pickle_err(&p.get(0).stop());
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

#[test]
fn self_references_are_refused() {
    // l = []; l.append(l)
    let p = P::new(2)
        .op(op::EMPTY_LIST)
        .put(0)
        .get(0)
        .op(op::APPEND)
        .stop();
    let e = pickle_err(&p);
    assert!(e.to_string().contains("self-referencing"), "{e}");
}

#[test]
fn shared_subtrees_do_not_blow_up() {
    // l0 = []; l1 = [l0, l0]; … l80 = [l79, l79]: 2^80 paths, 81 lists.
    let mut p = P::new(2).op(op::EMPTY_LIST).put(0).op(op::POP);
    for _ in 0..80 {
        p = p
            .op(op::EMPTY_LIST)
            .op(op::MARK)
            .get(0)
            .get(0)
            .op(op::APPENDS)
            .put(0)
            .op(op::POP);
    }
    let start = std::time::Instant::now();
    let e = refuse(&p.get(0).stop());
    assert!(
        matches!(e, SklearnError::UnsupportedEstimator { .. }),
        "{e:?}"
    );
    assert!(start.elapsed().as_secs() < 5);
}

#[test]
fn broken_streams_are_errors() {
    let e = pickle_err(&[0x80, 6, b'N', b'.']);
    assert!(
        matches!(e, PickleError::UnsupportedProtocol { protocol: 6, .. }),
        "{e:?}"
    );
    let e = pickle_err(&P::new(2).op(0xff).stop());
    assert!(
        matches!(e, PickleError::UnknownOpcode { opcode: 0xff, .. }),
        "{e:?}"
    );
    let e = pickle_err(&P::new(2).get(3).stop());
    assert!(e.to_string().contains("memo entry 3"), "{e}");
    let e = pickle_err(&P::new(2).op(op::NONE).0);
    assert!(matches!(e, PickleError::Truncated { .. }), "{e:?}");
    let e = pickle_err(&P::new(2).op(op::APPEND).stop());
    assert!(e.to_string().contains("underflow"), "{e}");
    let e = pickle_err(&P::new(2).op(op::NONE).op(op::NONE).op(op::SETITEMS).stop());
    assert!(matches!(e, PickleError::Malformed { .. }), "{e:?}");
    assert!(matches!(
        sklearn::from_bytes(b""),
        Err(SklearnError::UnsupportedFormat(_))
    ));
    assert!(matches!(
        sklearn::from_bytes(b"not a pickle at all"),
        Err(SklearnError::UnsupportedFormat(_))
    ));
}

#[test]
fn decompression_bombs_stop_at_the_limit() {
    use std::io::Write;
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&[0x80, 4]).unwrap();
    enc.write_all(&vec![op::NONE; 64 << 20]).unwrap();
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 1 << 20);
    let limits = Limits {
        max_decompressed: 1 << 20,
        ..Limits::default()
    };
    let e = sklearn::from_bytes_with(&bomb, &limits).unwrap_err();
    assert!(
        matches!(e, SklearnError::TooLarge { limit } if limit == 1 << 20),
        "{e:?}"
    );
}

pub(super) fn fixture(version: &str, file: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sklearn")
        .join(format!("sklearn-{version}"))
        .join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Patches one record field of the first tree's `nodes` array in a real
/// pickle, locating the array through the decoder itself.
fn patch_node_field(bytes: &mut [u8], node: usize, field: &str, value: i64) {
    let (at, stride, offset) = {
        let root = sklearn::pickle::parse(bytes, &Limits::default()).unwrap();
        let state = root.as_object().unwrap().state.as_ref().unwrap();
        let tree = state.get("tree_").unwrap().as_object().unwrap();
        let nodes = tree
            .state
            .as_ref()
            .unwrap()
            .get("nodes")
            .unwrap()
            .as_array()
            .unwrap();
        let sklearn::numpy::ArrayData::Raw(data) = &nodes.data else {
            panic!("nodes are raw bytes")
        };
        let at = data.as_ptr() as usize - bytes.as_ptr() as usize;
        let f = nodes.dtype.field(field).unwrap();
        (at, nodes.dtype.itemsize, f.offset)
    };
    let pos = at + node * stride + offset;
    bytes[pos..pos + 8].copy_from_slice(&value.to_le_bytes());
}

#[test]
fn corrupt_trees_in_valid_pickles_are_refused() {
    let good = fixture("1.4.2", "dt.p4.pkl");
    sklearn::from_bytes(&good).unwrap();
    for (field, value, needle) in [
        ("left_child", 0, "child"),           // a cycle back to the root
        ("left_child", -1, "only one child"), // half a leaf
        ("right_child", 1_000_000, "child"),
        ("feature", 99, "feature 99"),
        ("feature", -7, "feature -7"),
    ] {
        let mut bad = good.clone();
        patch_node_field(&mut bad, 0, field, value);
        let e = refuse(&bad);
        assert!(e.to_string().contains(needle), "{field}={value}: {e}");
    }
}

#[test]
fn revisiting_a_huge_memoized_state_runs_out_of_work_budget() {
    // A dtype state tuple padded with 200 000 Nones, then a loop of
    // dtype(...) + BUILD(state) that would re-read it every 6 bytes.
    let mut p = P::new(2).op(op::MARK).int(3).str("<");
    p = p
        .op(op::NONE)
        .op(op::NONE)
        .op(op::NONE)
        .int(-1)
        .int(-1)
        .int(0);
    p = p
        .raw(&vec![op::NONE; 200_000])
        .op(op::TUPLE)
        .put(0)
        .op(op::POP);
    p = p
        .global("numpy", "dtype")
        .put(1)
        .op(op::POP)
        .str("f8")
        .op(op::NEWFALSE)
        .op(op::NEWTRUE)
        .op(op::TUPLE3)
        .put(2)
        .op(op::POP);
    for _ in 0..1000 {
        p = p
            .get(1)
            .get(2)
            .op(op::REDUCE)
            .get(0)
            .op(op::BUILD)
            .op(op::POP);
    }
    let bytes = p.op(op::NONE).stop();
    let limits = Limits {
        max_items: 1 << 20,
        ..Limits::default()
    };
    let e = sklearn::from_bytes_with(&bytes, &limits).unwrap_err();
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
fn re_encoding_a_memoized_string_runs_out_of_copy_budget() {
    let big = "x".repeat(100_000);
    let mut p = P::new(2)
        .op(b'X')
        .raw(&(big.len() as u32).to_le_bytes())
        .raw(big.as_bytes())
        .str("latin1")
        .op(op::TUPLE2)
        .put(0)
        .op(op::POP)
        .global("_codecs", "encode")
        .put(1)
        .op(op::POP)
        .op(op::EMPTY_LIST);
    for _ in 0..200 {
        p = p.get(1).get(0).op(op::REDUCE).op(op::APPEND);
    }
    let e = pickle_err(&p.stop());
    assert!(
        matches!(
            e,
            PickleError::LimitExceeded {
                what: "bytes copied while decoding",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn estimators_sharing_one_tree_are_refused() {
    use crate::import::sklearn::dispatch::forest_from_value;
    use crate::import::sklearn::pickle::{GlobalRef, Object, Value};
    use std::sync::Arc;

    let bytes = fixture("1.4.2", "dt.p4.pkl");
    let root = sklearn::pickle::parse(&bytes, &Limits::default()).unwrap();
    let dt = root.as_object().unwrap();
    let Some(Value::Dict(state)) = &dt.state else {
        panic!("dt state")
    };
    // A forest whose estimators_ repeats the same fitted tree 100 000 times.
    let members: Arc<[Value]> = (0..100_000).map(|_| root.clone()).collect();
    let mut forest_state: Vec<(Value, Value)> = state.to_vec();
    forest_state.push((
        Value::Str(sklearn::pickle::Text::Borrowed("estimators_")),
        Value::List(members),
    ));
    let forest = Value::Object(Arc::new(Object {
        class: GlobalRef {
            module: "sklearn.ensemble._forest".into(),
            name: "RandomForestClassifier".into(),
            allowed: true,
        },
        args: Vec::new(),
        kwargs: None,
        state: Some(Value::Dict(forest_state.into())),
    }));
    let e = forest_from_value(&forest, bytes.len()).unwrap_err();
    assert!(e.to_string().contains("shared arrays"), "{e}");
    // A handful of repeats fits in the budget and converts.
    forest_from_value(&root, bytes.len()).unwrap();
}
