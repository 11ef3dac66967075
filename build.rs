//! Compiles `proto/onnx.proto` into Rust types with prost-build. The proto is
//! parsed by protox (pure Rust), so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/onnx.proto");
    let descriptors = protox::compile(["proto/onnx.proto"], ["proto"])?;
    prost_build::Config::new()
        .bytes([".onnx.AttributeProto.strings"])
        .compile_fds(descriptors)?;
    Ok(())
}
