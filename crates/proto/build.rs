//! Compiles the protos with protox (pure Rust): no protoc needed to build Fort.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["proto/fort/mapping/v1/mapping.proto"];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    // Keys order and index the service's and the hosts' tables.
    let ordered = "#[derive(PartialOrd, Ord)]";
    tonic_prost_build::configure()
        .type_attribute(".fort.mapping.v1.ItemKey", ordered)
        .type_attribute(".fort.mapping.v1.VpcObject", ordered)
        .type_attribute(".fort.mapping.v1.VpcAddress", ordered)
        .type_attribute(".fort.mapping.v1.GroupMember", ordered)
        .compile_fds(fds)?;
    Ok(())
}
