//! Compiles the subset of etcd's v3 protos with protox (pure Rust): no protoc needed to build
//! Fort. Only the client side: Fort talks to etcd, it never serves its API.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["proto/etcdserverpb/rpc.proto", "proto/mvccpb/kv.proto"];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(false)
        .compile_fds(fds)?;
    Ok(())
}
