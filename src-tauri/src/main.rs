//! The teacher app's shell. For now it opens one window on the web client; capture,
//! publishing, the embedded server and the local cache come with the teacher app issue.

fn main() -> anyhow::Result<()> {
    tauri::Builder::default()
        .run(tauri::generate_context!())
        .map_err(|e| anyhow::anyhow!("running the Aula window: {e}"))
}
