//! The teacher window's TypeScript types are generated from the Rust ones. This fails when
//! the committed file drifts; `UPDATE_BINDINGS=1 cargo test -p aula-client` rewrites it.

#[test]
fn typescript_bindings_are_current() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/generated/teacher.ts");
    let fresh = aula_client::typescript_bindings();
    if std::env::var_os("UPDATE_BINDINGS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} is stale: run `UPDATE_BINDINGS=1 cargo test -p aula-client` and commit it",
        path.display()
    );
}
