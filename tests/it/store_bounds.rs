//! What a native file can make the loader allocate (issue 18, item 4).
//!
//! A counting allocator records the peak of live heap bytes while each
//! hostile file is loaded. Before format 2's layout rules, a 1.1 MB file
//! whose zstd payload expanded to 1 GiB of bytes no section used passed
//! every check and cost 1 GiB; now the decompressed length must equal the
//! end of the last section and the payload is decoded as a stream, so the
//! loader allocates at most a small constant plus what the sections that
//! really arrived declare.
//!
//! The allocator is the global allocator of the whole test binary. It
//! counts per thread, so the other suites running beside this one do not
//! disturb the figures: the files here are small enough to be decoded as
//! one stream, on the loading thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;

use crate::store_support::*;
use forest2onnx::store::{self, StoreError};

struct Counting;

thread_local! {
    // Const-initialised and without a destructor: safe to touch from the
    // allocator, even while a thread starts or ends.
    // Signed: memory one thread frees may have come from another.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.get().wrapping_add(layout.size() as isize);
            LIVE.set(now);
            PEAK.set(PEAK.get().max(now));
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.set(LIVE.get().wrapping_sub(layout.size() as isize));
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Loads `file` and returns the result with the peak heap growth it caused
/// on this thread.
fn load_measured(file: &[u8]) -> (Result<forest2onnx::Forest, StoreError>, usize) {
    let base = LIVE.get();
    PEAK.set(base);
    let r = store::from_bytes(file);
    (r, PEAK.get().wrapping_sub(base).unsigned_abs())
}

/// `raw` followed by `zeros` zero bytes, zstd-compressed as one stream.
fn compressed_with_zeros(raw: &[u8], zeros: usize) -> Vec<u8> {
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    enc.write_all(raw).unwrap();
    let block = vec![0u8; 1 << 20];
    let mut left = zeros;
    while left > 0 {
        let n = left.min(block.len());
        enc.write_all(&block[..n]).unwrap();
        left -= n;
    }
    enc.finish().unwrap()
}

const MIB: usize = 1 << 20;

/// `n` incompressible bytes (xorshift64).
fn noise(n: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..n.div_ceil(8))
        .flat_map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()
        })
        .take(n)
        .collect()
}

#[test]
fn hostile_files_cost_no_more_than_their_sections_declare() {
    let forest = small_forest();
    let (preamble, header, raw) = split(&store::to_bytes(&forest, &opts(0)).unwrap());
    let (preamble3, _, _) = split(&store::to_bytes(&forest, &opts(3)).unwrap());
    let mut h3 = header.clone();
    h3["metadata"]["compression"] = serde_json::json!({"Zstd": {"level": 3}});

    // The file: the right sections, then 1 GiB nobody uses (1.1 MB
    // of noise, then zeros), declared as the decompressed length: within
    // the 1024× ratio limit, so only the layout rule stops it.
    let mut used_and_noise = raw.clone();
    used_and_noise.extend(noise(1_100_000));
    let bomb = compressed_with_zeros(&used_and_noise, (1 << 30) - 1_100_000);
    let file = assemble(&preamble3, &h3, &bomb, (raw.len() + (1 << 30)) as u64);
    assert!(file.len() < 2 * MIB, "{} bytes", file.len());
    assert!(bomb.len() * 1024 > 1 << 30, "within the ratio limit");
    let (r, peak) = load_measured(&file);
    let err = r.unwrap_err();
    assert!(err.to_string().contains("sections end at"), "{err}");
    assert!(peak < MIB, "refusing the bomb allocated {peak} bytes");

    // Counts that make the sections cover the gigabyte: one tree of 37 M
    // nodes whose tree offsets arrive as zeros. Refused at the first
    // section, long before the declared arrays.
    // (Format 4: an odd node count, half of them and one more leaves, no
    // true child stored.)
    let nodes = ((1usize << 30) / 25) | 1;
    let leaves = nodes.div_ceil(2);
    let mut big = h3.clone();
    big["metadata"]["n_trees"] = 1.into();
    big["metadata"]["n_nodes"] = nodes.into();
    big["metadata"]["n_leaves"] = leaves.into();
    big["metadata"]["n_true_children"] = 0.into();
    let layout_len = {
        // Same layout rules as the writer: each section 64-aligned.
        let sizes = [
            16,
            nodes * 8,
            leaves * 8 * width(&forest),
            nodes * 4,
            nodes * 4,
            nodes,
        ];
        let mut end = 0usize;
        let mut table = Vec::new();
        let names = [
            ("tree_offsets", "u64"),
            ("threshold", "f64"),
            ("value", "f64"),
            ("feature", "u32"),
            ("false_child", "u32"),
            ("missing_true", "u8"),
        ];
        for ((name, dtype), size) in names.iter().zip(sizes) {
            let offset = end.next_multiple_of(64);
            let elem = match *dtype {
                "u8" => 1,
                "u32" => 4,
                _ => 8,
            };
            table.push(serde_json::json!(
                {"name": name, "dtype": dtype, "offset": offset, "count": size / elem}
            ));
            end = offset + size;
        }
        big["sections"] = table.into();
        end
    };
    let mut zero_offsets = vec![0u8; 64];
    zero_offsets.extend(noise(1_100_000));
    let zeros = compressed_with_zeros(&zero_offsets, layout_len - zero_offsets.len());
    let file = assemble(&preamble3, &big, &zeros, layout_len as u64);
    let (r, peak) = load_measured(&file);
    let err = r.unwrap_err();
    assert!(err.to_string().contains("tree_offsets"), "{err}");
    assert!(
        peak < MIB,
        "refusing zero tree offsets allocated {peak} bytes"
    );

    // The same counts, valid tree offsets, then 8 MiB of incompressible
    // thresholds and the end of the stream: large enough to pass the
    // ratio limit, far short of the 1 GiB declared. The loader holds no
    // more than what arrived, twice over while an array grows, plus one
    // chunk.
    let mut head = Vec::new();
    head.extend_from_slice(&0u64.to_le_bytes());
    head.extend_from_slice(&(nodes as u64).to_le_bytes());
    head.resize(64, 0);
    head.extend(noise(8 * MIB));
    let short = compressed_with_zeros(&head, 0);
    assert!(short.len() * 1024 > layout_len, "within the ratio limit");
    let file = assemble(&preamble3, &big, &short, layout_len as u64);
    let (r, peak) = load_measured(&file);
    let err = r.unwrap_err();
    assert!(
        err.to_string()
            .contains("ends inside section \"threshold\""),
        "{err}"
    );
    assert!(
        peak < 32 * MIB,
        "a stream that stopped after 8 MiB cost {peak} bytes"
    );

    // An uncompressed file can only declare what it holds.
    let mut longer = raw.clone();
    longer.extend_from_slice(&vec![0u8; 4 * MIB]);
    let file = assemble(&preamble, &header, &longer, longer.len() as u64);
    let (r, peak) = load_measured(&file);
    assert!(r.unwrap_err().to_string().contains("sections end at"));
    assert!(peak < MIB, "{peak}");

    // And a real forest costs about what it is: the decoded trees plus
    // small change, not the payload twice over.
    let forest = random_forest(&mut Rng(9), Kind::SumSoftmax, 200, 400);
    let file = store::to_bytes(&forest, &opts(3)).unwrap();
    let raw_len = u64_at(&file, 48) as usize;
    let (r, peak) = load_measured(&file);
    assert_eq!(r.unwrap(), forest);
    // The counter sees this thread's allocations: the decoded trees are
    // about the payload's size.
    assert!(
        peak >= raw_len / 2,
        "only {peak} bytes counted for a {raw_len}-byte payload"
    );
    assert!(
        peak < 3 * raw_len + 4 * MIB,
        "loading a {raw_len}-byte payload peaked at {peak} bytes"
    );
}

fn width(f: &forest2onnx::Forest) -> usize {
    f.leaf_width()
}
