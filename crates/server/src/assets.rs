//! Board backgrounds: pictures a teacher uploads for a page. Stored as files under the
//! data directory, named by a random id; the URL is the capability (an `<img>` cannot send
//! a bearer token), the upload needs the class's teacher token.

use std::path::PathBuf;
use std::sync::Arc;

use aula_proto::{ErrorCode, PageBackground};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::auth::random_id;
use crate::http::{ApiFailure, fail, teacher_of};

/// Largest picture accepted as a page background.
pub const MAX_ASSET_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Png,
    Jpeg,
}

impl ImageKind {
    fn ext(self) -> &'static str {
        match self {
            ImageKind::Png => "png",
            ImageKind::Jpeg => "jpg",
        }
    }

    fn mime(self) -> &'static str {
        match self {
            ImageKind::Png => "image/png",
            ImageKind::Jpeg => "image/jpeg",
        }
    }
}

/// The kind and pixel size of a PNG or JPEG, read from its header; None for anything else.
pub fn image_info(bytes: &[u8]) -> Option<(ImageKind, u32, u32)> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() >= 24 && &bytes[12..16] == b"IHDR" {
        let w = u32::from_be_bytes(bytes[16..20].try_into().ok()?);
        let h = u32::from_be_bytes(bytes[20..24].try_into().ok()?);
        return (w > 0 && h > 0).then_some((ImageKind::Png, w, h));
    }
    if bytes.starts_with(&[0xFF, 0xD8]) {
        // Walk the markers to the first start-of-frame, which holds the size.
        let mut i = 2;
        while i + 9 < bytes.len() {
            if bytes[i] != 0xFF {
                return None;
            }
            let marker = bytes[i + 1];
            let len = u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize;
            let sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
            if sof {
                let h = u16::from_be_bytes([bytes[i + 5], bytes[i + 6]]) as u32;
                let w = u16::from_be_bytes([bytes[i + 7], bytes[i + 8]]) as u32;
                return (w > 0 && h > 0).then_some((ImageKind::Jpeg, w, h));
            }
            i += 2 + len;
        }
    }
    None
}

fn class_dir(state: &AppState, class_id: &str) -> Option<PathBuf> {
    let ok = !class_id.is_empty()
        && class_id.len() <= 64
        && class_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| state.cfg.data_dir.join("assets").join(class_id))
}

fn valid_asset_name(name: &str) -> bool {
    aula_proto::is_asset_name(name)
}

/// `POST /api/classes/{id}/assets`: the picture as the body; answers a `PageBackground`.
pub async fn upload(
    State(state): State<Arc<AppState>>,
    Path(class_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PageBackground>, ApiFailure> {
    teacher_of(&state, &headers, &class_id, "upload")?;
    let body = body.map_err(|e| crate::http::rejected_body(e.body_text()))?;
    let (kind, width, height) = image_info(&body).ok_or_else(|| {
        fail(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::InvalidRequest,
            "backgrounds are PNG or JPEG pictures",
        )
    })?;
    let dir = class_dir(&state, &class_id)
        .ok_or_else(|| fail(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no such class"))?;
    let name = format!("{}.{}", random_id(), kind.ext());
    let write = async {
        // Readable by the server's user only, like the rest of the data directory.
        let mut dirs = tokio::fs::DirBuilder::new();
        dirs.recursive(true);
        #[cfg(unix)]
        dirs.mode(0o700);
        dirs.create(&dir).await?;
        // Write aside then rename, so a full disk never leaves half a picture behind.
        let tmp = dir.join(format!(".{name}.part"));
        let written = async {
            use tokio::io::AsyncWriteExt;
            let mut open = tokio::fs::OpenOptions::new();
            open.write(true).create_new(true);
            #[cfg(unix)]
            open.mode(0o600);
            let mut f = open.open(&tmp).await?;
            f.write_all(&body).await?;
            f.flush().await
        };
        if let Err(e) = written.await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        tokio::fs::rename(&tmp, dir.join(&name)).await
    };
    write.await.map_err(|e| {
        tracing::error!("storing an asset: {e}");
        fail(
            StatusCode::INSUFFICIENT_STORAGE,
            ErrorCode::Internal,
            "the server could not store the picture (is its disk full?)",
        )
    })?;
    Ok(Json(PageBackground {
        asset: name,
        width,
        height,
    }))
}

/// `GET /api/classes/{id}/assets/{asset}`.
pub async fn fetch(
    State(state): State<Arc<AppState>>,
    Path((class_id, asset)): Path<(String, String)>,
) -> Response {
    let not_found = || {
        fail(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "no such picture",
        )
        .into_response()
    };
    let Some(dir) = class_dir(&state, &class_id) else {
        return not_found();
    };
    if !valid_asset_name(&asset) {
        return not_found();
    }
    let Ok(bytes) = tokio::fs::read(dir.join(&asset)).await else {
        return not_found();
    };
    // Served as what its bytes are (checked again, not taken from the name), never
    // sniffed, never a document: a picture cannot run script on this origin.
    let Some((kind, _, _)) = image_info(&bytes) else {
        tracing::warn!(%class_id, %asset, "a stored picture is not PNG or JPEG");
        return not_found();
    };
    if !asset.ends_with(kind.ext()) {
        return not_found();
    }
    (
        [
            (header::CONTENT_TYPE, kind.mime().to_owned()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{asset}\""),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox".to_owned(),
            ),
            (
                header::CACHE_CONTROL,
                "private, max-age=31536000, immutable".to_owned(),
            ),
        ],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_png_and_jpeg_sizes_and_refuses_the_rest() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&640u32.to_be_bytes());
        png.extend_from_slice(&480u32.to_be_bytes());
        assert_eq!(image_info(&png), Some((ImageKind::Png, 640, 480)));
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x01,
            0xE0, 0x02, 0x80, 0x03, 0, 0, 0,
        ];
        assert_eq!(image_info(&jpeg), Some((ImageKind::Jpeg, 640, 480)));
        assert_eq!(image_info(b"GIF89a......"), None);
        assert_eq!(
            image_info(&[0xFF, 0xD8, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0]),
            None
        );
        assert!(valid_asset_name("0123456789abcdef.png"));
        assert!(!valid_asset_name("../../etc/passwd"));
        assert!(!valid_asset_name("0123456789abcdef.gif"));
    }
}
