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
        .build_server(false)
        .type_attribute(".fort.mapping.v1.ItemKey", ordered)
        .type_attribute(".fort.mapping.v1.VpcObject", ordered)
        .type_attribute(".fort.mapping.v1.VpcAddress", ordered)
        .type_attribute(".fort.mapping.v1.GroupMember", ordered)
        .type_attribute(".fort.mapping.v1.VpcAddress6", ordered)
        .type_attribute(".fort.mapping.v1.GroupMember6", ordered)
        .type_attribute(".fort.mapping.v1.TransitGatewayRouteKey", ordered)
        .type_attribute(".fort.mapping.v1.TransitGatewayRoute6Key", ordered)
        // ordered maps, so an instance's item compares (and encodes) the same every time
        .btree_map(".fort.mapping.v1.Instance")
        .type_attribute(".fort.mapping.v1.Instance", "#[derive(Eq)]")
        .type_attribute(".fort.mapping.v1.PrivateZone", "#[derive(Eq)]")
        .type_attribute(".fort.mapping.v1.VpcEndpointNames", "#[derive(Eq)]")
        .compile_fds(fds.clone())?;
    // The service's side: the generated messages above, but updates sent pre-encoded.
    let server = std::path::Path::new(&std::env::var("OUT_DIR")?).join("server");
    std::fs::create_dir_all(&server)?;
    tonic_prost_build::configure()
        .build_client(false)
        .out_dir(server)
        .extern_path(".fort.mapping.v1", "crate::mapping")
        .extern_path(
            ".fort.mapping.v1.ProgramUpdate",
            "crate::wire::EncodedUpdate",
        )
        .compile_fds(fds)?;
    Ok(())
}
