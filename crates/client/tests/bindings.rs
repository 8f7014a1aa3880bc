//! The teacher window's TypeScript types are generated from the Rust ones. This fails when
//! the committed file drifts; `UPDATE_BINDINGS=1 cargo test -p aula-client` rewrites it.

#[test]
fn typescript_bindings_are_current() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/generated/teacher.ts");
    aula_proto::check_bindings(&path, &aula_client::typescript_bindings(), "aula-client");
}
