//! Compiles the protos with protox (pure Rust): no protoc needed to build Fort.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["proto/fort/mapping/v1/mapping.proto"];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    // Item values are shared by every host's update: reference-counted, never copied.
    tonic_prost_build::configure()
        .bytes(".fort.mapping.v1.Item.value")
        .compile_fds(fds)?;
    Ok(())
}
