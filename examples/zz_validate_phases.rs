use forest2onnx::export::onnx::{to_bytes, ExportOptions};
use forest2onnx::runtime::OnnxModel;
use forest2onnx::validate::rows::probe_rows;
use forest2onnx::validate::{check_structure, validate_model, Probes, SAMPLED_THRESHOLDS};
use std::time::Instant;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let t = Instant::now();
    let forest = forest2onnx::load(&path).unwrap().forest;
    println!("load {:?}", t.elapsed());
    let t = Instant::now();
    let bytes = to_bytes(&forest, &ExportOptions::default()).unwrap();
    println!("export {:?}", t.elapsed());
    let t = Instant::now();

    let model = OnnxModel::from_bytes(&bytes).unwrap();
    println!("tract from_bytes {:?}", t.elapsed());
    let t = Instant::now();
    let r = check_structure(&forest, &model.ensembles()[0], model.input_type()).unwrap();
    println!("structure {:?} {}", t.elapsed(), r.thresholds);
    for n in [SAMPLED_THRESHOLDS, 1024, 256] {
        let t = Instant::now();
        let probes = Probes::sampled(&forest, model.input_type(), n);
        let rows = probe_rows(
            &probes,
            ndarray::Array2::zeros((0, forest.n_features)).view(),
            usize::MAX,
        );
        println!("probes {n} {:?} rows {}", t.elapsed(), rows.nrows());
        let t = Instant::now();
        let rep = validate_model(&forest, &model, rows.view()).unwrap();
        println!("rows compare {:?} passed {}", t.elapsed(), rep.passed());
    }
}
#[allow(dead_code)]
fn decode_ours(bytes: &[u8]) {
    use prost::Message;
    let t = Instant::now();
    let b = prost::bytes::Bytes::copy_from_slice(bytes);
    let m = forest2onnx::onnx_proto::ModelProto::decode(b).unwrap();
    println!("our decode {:?}", t.elapsed());
    let t = Instant::now();
    drop(m);
    println!("our drop {:?}", t.elapsed());
    let t = Instant::now();
    let m = tract_onnx::pb::ModelProto::decode(bytes).unwrap();
    println!("tract decode {:?}", t.elapsed());
    let t = Instant::now();
    drop(m);
    println!("tract drop {:?}", t.elapsed());
}
