//! Fuzzes the CLI's CSV reader (`src/cli/csv_input.rs`, compiled here from
//! the binary's own source): `cargo fuzz run csv fuzz/seeds/csv`. Any text
//! may be refused; none may panic or hang. Accepted tables are then read the
//! way `predict`, `validate` and `train` read them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

// The binary's modules, at the crate root as in `src/cli/` (the reader
// refers to its siblings through `super::`).
#[allow(dead_code)]
#[path = "../../src/cli/csv_input.rs"]
mod csv_input;
#[allow(dead_code)]
#[path = "../../src/cli/output.rs"]
mod output;
#[allow(dead_code)]
#[path = "../../src/cli/progress.rs"]
mod progress;

use csv_input::{Cells, Table};

fuzz_target!(|data: &[u8]| {
    let Ok(table) = Table::from_reader(Path::new("fuzz.csv"), data) else {
        return;
    };
    let n = table.header.len();
    // As `predict` reads it: by the model's feature names when the header
    // has them, else by position.
    let names: Vec<String> = table.header.iter().rev().cloned().collect();
    for (width, named) in [(n, None), (n.saturating_sub(1), Some(&names[..]))] {
        if let Ok(cols) = table.feature_columns(width, named) {
            for cells in [Cells::AllowMissing, Cells::Finite] {
                if let Ok(x) = table.numbers(&cols, cells) {
                    assert_eq!(x.dim(), (table.strings(0).count(), cols.len()));
                    if cells == Cells::Finite {
                        assert!(x.iter().all(|v| v.is_finite()));
                    }
                }
            }
        }
    }
    if let Some(first) = table.header.first() {
        let _ = table.column(first);
        let _ = table.locate(0);
    }
});
