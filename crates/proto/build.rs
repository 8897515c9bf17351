//! Compiles the protos with protox (pure Rust): no protoc needed to build Fort.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["proto/fort/mapping/v1/mapping.proto"];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
