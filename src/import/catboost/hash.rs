//! CatBoost's category hash: the low 32 bits of CityHash64 (version 1.0, as
//! in Yandex's `util/digest/city`) of the category's text; an integer
//! category is hashed as its decimal text. One-hot splits store only these
//! hashes, so [`preimages`] inverts them over a range of integers.

use std::collections::BTreeMap;

use rayon::prelude::*;

const K0: u64 = 0xc3a5_c85c_97cb_3127;
const K1: u64 = 0xb492_b66f_be98_f273;
const K2: u64 = 0x9ae1_6a3b_2f90_404f;
const K3: u64 = 0xc949_d7c7_509e_6557;

fn fetch64(s: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&s[at..at + 8]);
    u64::from_le_bytes(b)
}

fn fetch32(s: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&s[at..at + 4]);
    u64::from(u32::from_le_bytes(b))
}

fn shift_mix(v: u64) -> u64 {
    v ^ (v >> 47)
}

/// `Hash128to64` of the pair `(low, high)`.
fn hash_len16(low: u64, high: u64) -> u64 {
    const MUL: u64 = 0x9ddf_ea08_eb38_2d69;
    let mut a = (low ^ high).wrapping_mul(MUL);
    a ^= a >> 47;
    let mut b = (high ^ a).wrapping_mul(MUL);
    b ^= b >> 47;
    b.wrapping_mul(MUL)
}

fn hash_len0to16(s: &[u8]) -> u64 {
    let len = s.len();
    if len > 8 {
        let a = fetch64(s, 0);
        let b = fetch64(s, len - 8);
        // `len` is 9..=16: a rotation by at least one bit.
        return hash_len16(a, b.wrapping_add(len as u64).rotate_right(len as u32)) ^ b;
    }
    if len >= 4 {
        let a = fetch32(s, 0);
        return hash_len16((len as u64).wrapping_add(a << 3), fetch32(s, len - 4));
    }
    if len > 0 {
        let (a, b, c) = (s[0] as u32, s[len >> 1] as u32, s[len - 1] as u32);
        let y = a.wrapping_add(b << 8);
        let z = (len as u32).wrapping_add(c << 2);
        return shift_mix(u64::from(y).wrapping_mul(K2) ^ u64::from(z).wrapping_mul(K3))
            .wrapping_mul(K2);
    }
    K2
}

fn hash_len17to32(s: &[u8]) -> u64 {
    let len = s.len();
    let a = fetch64(s, 0).wrapping_mul(K1);
    let b = fetch64(s, 8);
    let c = fetch64(s, len - 8).wrapping_mul(K2);
    let d = fetch64(s, len - 16).wrapping_mul(K0);
    hash_len16(
        a.wrapping_sub(b)
            .rotate_right(43)
            .wrapping_add(c.rotate_right(30))
            .wrapping_add(d),
        a.wrapping_add((b ^ K3).rotate_right(20))
            .wrapping_sub(c)
            .wrapping_add(len as u64),
    )
}

/// `WeakHashLen32WithSeeds` of the 32 bytes at `s[at..]`.
fn weak_hash32(s: &[u8], at: usize, mut a: u64, mut b: u64) -> (u64, u64) {
    let (w, x, y, z) = (
        fetch64(s, at),
        fetch64(s, at + 8),
        fetch64(s, at + 16),
        fetch64(s, at + 24),
    );
    a = a.wrapping_add(w);
    b = b.wrapping_add(a).wrapping_add(z).rotate_right(21);
    let c = a;
    a = a.wrapping_add(x).wrapping_add(y);
    b = b.wrapping_add(a.rotate_right(44));
    (a.wrapping_add(z), b.wrapping_add(c))
}

fn hash_len33to64(s: &[u8]) -> u64 {
    let len = s.len();
    let mut z = fetch64(s, 24);
    let mut a = fetch64(s, 0).wrapping_add(
        (len as u64)
            .wrapping_add(fetch64(s, len - 16))
            .wrapping_mul(K0),
    );
    let mut b = a.wrapping_add(z).rotate_right(52);
    let mut c = a.rotate_right(37);
    a = a.wrapping_add(fetch64(s, 8));
    c = c.wrapping_add(a.rotate_right(7));
    a = a.wrapping_add(fetch64(s, 16));
    let vf = a.wrapping_add(z);
    let vs = b.wrapping_add(a.rotate_right(31)).wrapping_add(c);
    a = fetch64(s, 16).wrapping_add(fetch64(s, len - 32));
    z = fetch64(s, len - 8);
    b = a.wrapping_add(z).rotate_right(52);
    c = a.rotate_right(37);
    a = a.wrapping_add(fetch64(s, len - 24));
    c = c.wrapping_add(a.rotate_right(7));
    a = a.wrapping_add(fetch64(s, len - 16));
    let wf = a.wrapping_add(z);
    let ws = b.wrapping_add(a.rotate_right(31)).wrapping_add(c);
    let r = shift_mix(
        vf.wrapping_add(ws)
            .wrapping_mul(K2)
            .wrapping_add(wf.wrapping_add(vs).wrapping_mul(K0)),
    );
    shift_mix(r.wrapping_mul(K0).wrapping_add(vs)).wrapping_mul(K2)
}

/// CityHash64 version 1.0 of `s`.
pub fn city_hash64(s: &[u8]) -> u64 {
    let len = s.len();
    if len <= 16 {
        return hash_len0to16(s);
    }
    if len <= 32 {
        return hash_len17to32(s);
    }
    if len <= 64 {
        return hash_len33to64(s);
    }
    let mut x = fetch64(s, 0);
    let mut y = fetch64(s, len - 16) ^ K1;
    let mut z = fetch64(s, len - 56) ^ K0;
    let mut v = weak_hash32(s, len - 64, len as u64, y);
    let mut w = weak_hash32(s, len - 32, (len as u64).wrapping_mul(K1), K0);
    z = z.wrapping_add(shift_mix(v.1).wrapping_mul(K1));
    x = z.wrapping_add(x).rotate_right(39).wrapping_mul(K1);
    y = y.rotate_right(33).wrapping_mul(K1);
    // Whole 64-byte chunks from the start; the tail was hashed above.
    let chunks = (len - 1) / 64;
    for k in 0..chunks {
        let at = k * 64;
        x = x
            .wrapping_add(y)
            .wrapping_add(v.0)
            .wrapping_add(fetch64(s, at + 16))
            .rotate_right(37)
            .wrapping_mul(K1);
        y = y
            .wrapping_add(v.1)
            .wrapping_add(fetch64(s, at + 48))
            .rotate_right(42)
            .wrapping_mul(K1);
        x ^= w.1;
        y ^= v.0;
        z = (z ^ w.0).rotate_right(33);
        v = weak_hash32(s, at, v.1.wrapping_mul(K1), x.wrapping_add(w.0));
        w = weak_hash32(s, at + 32, z.wrapping_add(w.1), y);
        std::mem::swap(&mut z, &mut x);
    }
    hash_len16(
        hash_len16(v.0, w.0)
            .wrapping_add(shift_mix(y).wrapping_mul(K1))
            .wrapping_add(z),
        hash_len16(v.1, w.1).wrapping_add(x),
    )
}

/// CatBoost's hash of a category's text, as its JSON export and one-hot
/// splits write it (the low 32 bits of [`city_hash64`], read as `i32`).
pub fn cat_feature_hash(text: &[u8]) -> i32 {
    city_hash64(text) as u32 as i32
}

/// The hash of integer category `n` (hashed as its decimal text), without
/// allocating.
pub fn int_category_hash(n: i64) -> i32 {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    let mut m = n.unsigned_abs();
    loop {
        at -= 1;
        buf[at] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    if n < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    cat_feature_hash(&buf[at..])
}

/// Integers whose hashes are searched: `-MAX_INT_CATEGORY..=MAX_INT_CATEGORY`,
/// the integers float32 inputs hold exactly.
#[cfg(not(fuzzing))]
pub const MAX_INT_CATEGORY: i64 = 1 << 24;
/// Fuzz builds search ±2^12 with the same code: the full search costs about
/// 30 ms per input in a release build, which held the CatBoost fuzz targets
/// to 30 inputs per second.
#[cfg(fuzzing)]
pub const MAX_INT_CATEGORY: i64 = 1 << 12;

/// For each hash in `wanted`, every integer in `-MAX_INT_CATEGORY ..=
/// MAX_INT_CATEGORY` whose decimal text has that hash, ascending. About 34
/// million hashes, spread over rayon's threads.
pub fn preimages(wanted: &[i32]) -> BTreeMap<i32, Vec<i64>> {
    let mut sorted = wanted.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    const CHUNK: i64 = 1 << 16;
    let chunks = (2 * MAX_INT_CATEGORY + CHUNK) / CHUNK;
    let found: Vec<(i32, i64)> = (0..chunks)
        .into_par_iter()
        .flat_map_iter(|c| {
            let start = -MAX_INT_CATEGORY + c * CHUNK;
            let end = (start + CHUNK).min(MAX_INT_CATEGORY + 1);
            let sorted = &sorted;
            (start..end).filter_map(move |n| {
                let h = int_category_hash(n);
                sorted.binary_search(&h).ok().map(|_| (h, n))
            })
        })
        .collect();
    let mut out: BTreeMap<i32, Vec<i64>> = sorted.iter().map(|&h| (h, Vec::new())).collect();
    for (h, n) in found {
        out.entry(h).or_default().push(n);
    }
    for v in out.values_mut() {
        v.sort_unstable();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_hash_as_their_decimal_text() {
        for n in [0i64, 7, -3, 1 << 24, -(1 << 24), i64::MIN, i64::MAX] {
            assert_eq!(
                int_category_hash(n),
                cat_feature_hash(n.to_string().as_bytes())
            );
        }
    }

    #[test]
    fn preimages_find_the_integers_of_a_hash() {
        let wanted = [int_category_hash(5), int_category_hash(-2), 12345];
        let found = preimages(&wanted);
        assert!(found[&int_category_hash(5)].contains(&5));
        assert!(found[&int_category_hash(-2)].contains(&-2));
        for (h, ns) in &found {
            assert!(ns.iter().all(|&n| int_category_hash(n) == *h));
        }
    }
}
