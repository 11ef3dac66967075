//! Decoder features real pickles use, checked on hand-assembled streams.

use super::builder::P;
use crate::import::sklearn::pickle::{parse, Limits, Value};

fn decode(bytes: &[u8]) -> Value<'_> {
    parse(bytes, &Limits::default()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn integers_of_every_encoding() {
    let p = P::new(2)
        .op(b'(')
        .op(b'K')
        .raw(&[200])
        .op(b'M')
        .raw(&[0x34, 0x12])
        .int(-5)
        .op(0x8a)
        .raw(&[2, 0x00, 0x80]) // LONG1: -32768
        .op(0x8a)
        .raw(&[0]) // LONG1 of zero length: 0
        .op(0x8a)
        .raw(&[9, 0, 0, 0, 0, 0, 0, 0, 0, 1]) // 2^64: too big for i64
        .op(b'I')
        .raw(b"01\n")
        .op(b'I')
        .raw(b"-17\n")
        .op(b'L')
        .raw(b"123L\n")
        .op(b'F')
        .raw(b"2.5\n")
        .op(b'G')
        .raw(&(-0.75f64).to_be_bytes())
        .op(b'l')
        .stop();
    let v = decode(&p);
    let items = v.as_list().unwrap();
    let ints: Vec<Option<i64>> = items.iter().map(Value::as_int).collect();
    assert_eq!(
        ints[..5],
        [Some(200), Some(0x1234), Some(-5), Some(-32768), Some(0)]
    );
    assert!(matches!(&items[5], Value::BigInt(b) if b.len() == 9));
    assert!(matches!(items[6], Value::Bool(true)));
    assert_eq!(items[7].as_int(), Some(-17));
    assert_eq!(items[8].as_int(), Some(123));
    assert!(matches!(items[9], Value::Float(f) if f == 2.5));
    assert!(matches!(items[10], Value::Float(f) if f == -0.75));
}

#[test]
fn memo_frames_and_marks_behave_like_cpython() {
    let p = P::new(4)
        .op(0x95)
        .raw(&9u64.to_le_bytes())
        .str("shared")
        .op(0x94) // MEMOIZE as 0
        .op(b'r')
        .raw(&70000u32.to_le_bytes()) // LONG_BINPUT 70000
        .op(b'0')
        .op(b'}')
        .op(b'(')
        .str("a")
        .int(1)
        .str("a")
        .int(2) // a key set twice keeps its last value
        .str("b")
        .op(b'j')
        .raw(&70000u32.to_le_bytes()) // LONG_BINGET
        .op(b'u')
        .op(b'(')
        .op(b'0') // POP on an empty mark frame drops the mark
        .op(b'2') // DUP
        .op(b'0')
        .stop();
    let v = decode(&p);
    assert_eq!(v.get("a").and_then(Value::as_int), Some(2));
    assert_eq!(v.get("b").and_then(Value::as_str), Some("shared"));
}

#[test]
fn text_opcodes_of_protocol_0() {
    let p = P::new(0)
        .op(b'(')
        .op(b'S')
        .raw(b"'caf\\xc3\\xa9\\n'\n")
        .op(b'V')
        .raw(b"\\u00e9t\\u00e9\n")
        .op(b'p')
        .raw(b"7\n")
        .op(b'g')
        .raw(b"7\n")
        .op(b't')
        .stop();
    let v = decode(&p);
    let t = v.as_tuple().unwrap();
    assert_eq!(t[0].as_str(), Some("café\n"));
    assert_eq!(t[1].as_str(), Some("été"));
    assert_eq!(t[2].as_str(), Some("été"));
}

#[test]
fn sets_and_bytes() {
    let p = P::new(4)
        .op(0x8f)
        .op(b'(')
        .int(1)
        .int(2)
        .op(0x90)
        .op(b'(')
        .int(3)
        .op(0x91)
        .bytes(&[0u8; 300])
        .op(0x87)
        .stop();
    let v = decode(&p);
    let t = v.as_tuple().unwrap();
    assert!(matches!(&t[0], Value::Set(s) if s.len() == 2));
    assert!(matches!(&t[1], Value::Set(s) if s.len() == 1));
    assert!(matches!(&t[2], Value::Bytes(b) if b.len() == 300));
}

/// `numpy.dtype(descr)` with a BUILD state of byte order `order`.
fn dtype(p: P, descr: &str, order: &str) -> P {
    p.global("numpy", "dtype")
        .str(descr)
        .op(0x89)
        .op(0x88)
        .op(0x87)
        .op(b'R')
        .op(b'(')
        .int(3)
        .str(order)
        .op(b'N')
        .op(b'N')
        .op(b'N')
        .int(-1)
        .int(-1)
        .int(0)
        .op(b't')
        .op(b'b')
}

#[test]
fn protocol_5_frombuffer_arrays_in_both_byte_orders() {
    let data: Vec<u8> = [1.5f64, -2.0, 3.25]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let p = P::new(5)
        .global("numpy._core.numeric", "_frombuffer")
        .op(b'(')
        .op(0x96)
        .raw(&24u64.to_le_bytes())
        .raw(&data);
    let p = dtype(p, "f8", ">")
        .int(3)
        .op(0x85)
        .str("C")
        .op(b't')
        .op(b'R')
        .stop();
    let Value::Array(a) = decode(&p) else {
        panic!("not an array")
    };
    assert_eq!(a.to_f64().unwrap(), vec![1.5, -2.0, 3.25]);
    assert_eq!(a.dtype.describe(), ">f8");
}

#[test]
fn protocol_2_arrays_spell_bytes_with_codecs_encode() {
    let raw: String = [7i64, -1]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .map(|b| b as char)
        .collect();
    let p = P::new(2)
        .global("numpy.core.multiarray", "_reconstruct")
        .global("numpy", "ndarray")
        .int(0)
        .op(0x85)
        .global("_codecs", "encode")
        .str("b")
        .str("latin1")
        .op(0x86)
        .op(b'R')
        .op(0x87)
        .op(b'R')
        .op(b'(')
        .int(1)
        .int(2)
        .op(0x85);
    let p = dtype(p, "i8", "<")
        .op(0x89)
        .global("_codecs", "encode")
        .op(b'X')
        .raw(&(raw.len() as u32 * 2).to_le_bytes()) // placeholder, patched below
        .raw(b"");
    // Write the latin-1 text as UTF-8 and fix its length.
    let mut b = p.0;
    let len_at = b.len() - 4;
    let utf8 = raw.as_bytes();
    b[len_at..].copy_from_slice(&(utf8.len() as u32).to_le_bytes());
    b.extend_from_slice(utf8);
    let b = P(b)
        .str("latin1")
        .op(0x86)
        .op(b'R')
        .op(b't')
        .op(b'b')
        .stop();
    let Value::Array(a) = decode(&b) else {
        panic!("not an array")
    };
    assert_eq!(a.to_i64().unwrap(), vec![7, -1]);
}

/// `defaultdict(OrderedDict, {"valid_0": OrderedDict([("l2", 0.5)])})`, as
/// LightGBM's estimators keep their scores: plain dicts, nothing called.
#[test]
fn ordered_and_default_dicts_are_plain_dicts() {
    let p = P::new(4)
        .global("collections", "defaultdict")
        .global("collections", "OrderedDict")
        .op(0x85) // TUPLE1
        .op(b'R')
        .op(b'(')
        .str("valid_0")
        .global("collections", "OrderedDict")
        .op(b')')
        .op(b'R')
        .op(b'(')
        .str("l2")
        .op(b'G')
        .raw(&0.5f64.to_be_bytes())
        .op(b'u') // SETITEMS
        .op(b'u')
        .stop();
    let v = decode(&p);
    let inner = v.get("valid_0").expect("a dict");
    assert!(matches!(inner.get("l2"), Some(Value::Float(f)) if *f == 0.5));
    // Any other factory, or arguments, is refused.
    for factory in [("builtins", "list"), ("collections", "Counter")] {
        let p = P::new(4)
            .global("collections", "defaultdict")
            .global(factory.0, factory.1)
            .op(0x85)
            .op(b'R')
            .stop();
        assert!(parse(&p, &Limits::default()).is_err(), "{factory:?}");
    }
    let p = P::new(4)
        .global("collections", "OrderedDict")
        .str("items")
        .op(0x85)
        .op(b'R')
        .stop();
    let e = parse(&p, &Limits::default()).unwrap_err().to_string();
    assert!(e.contains("only OrderedDict()"), "{e}");
}
