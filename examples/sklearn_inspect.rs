//! Prints the globals a scikit-learn pickle/joblib file names and, when it
//! converts, a summary of the forest: `cargo run --example sklearn_inspect -- rf.joblib`.

use forest2onnx::import::sklearn;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: sklearn_inspect FILE")?;
    let bytes = std::fs::read(&path)?;
    println!("container: {:?}", sklearn::sniff(&bytes));
    for g in sklearn::inspect_globals(&bytes)? {
        let verdict = if g.allowed { "allowed" } else { "REFUSED" };
        println!("  {verdict:8} {g}");
    }
    match sklearn::from_bytes(&bytes) {
        Ok(f) => println!(
            "{} {} from scikit-learn {}: {} trees, {} nodes, {} features, {} classes, depth {}",
            f.source.estimator,
            path,
            f.source.version,
            f.trees.len(),
            f.n_nodes(),
            f.n_features,
            f.n_outputs(),
            f.max_depth()
        ),
        Err(e) => println!("not converted: {e}"),
    }
    Ok(())
}
