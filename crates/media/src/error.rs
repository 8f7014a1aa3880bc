use serde::Serialize;
use ts_rs::TS;

/// Which kind of device a problem is about.
#[derive(Serialize, TS, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    Camera,
    Microphone,
    Screen,
}

/// Why capture, conversion or coding failed. [`MediaError::code`] is what the UI branches on.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("no {kind:?} found")]
    NoDevice { kind: DeviceKind },
    #[error("the {kind:?} stopped working: {detail}")]
    DeviceLost { kind: DeviceKind, detail: String },
    #[error("permission to use the {kind:?} was denied: {detail}")]
    PermissionDenied { kind: DeviceKind, detail: String },
    #[error("the {kind:?} is in use by another program")]
    DeviceBusy { kind: DeviceKind },
    #[error("not supported: {0}")]
    Unsupported(String),
    #[error("encoding failed: {0}")]
    Encode(String),
    #[error("decoding failed: {0}")]
    Decode(String),
    #[error("bad media settings: {0}")]
    Config(String),
}

impl MediaError {
    pub fn code(&self) -> &'static str {
        match self {
            MediaError::NoDevice { .. } => "no_device",
            MediaError::DeviceLost { .. } => "device_lost",
            MediaError::PermissionDenied { .. } => "permission_denied",
            MediaError::DeviceBusy { .. } => "device_busy",
            MediaError::Unsupported(_) => "unsupported",
            MediaError::Encode(_) => "encode_failed",
            MediaError::Decode(_) => "decode_failed",
            MediaError::Config(_) => "invalid_settings",
        }
    }

    /// Classifies an OS-level message from a capture backend. Backends report errno
    /// text rather than typed errors, so this is where "no such device" becomes
    /// [`MediaError::NoDevice`] and EACCES becomes [`MediaError::PermissionDenied`].
    pub fn from_backend(kind: DeviceKind, opening: bool, detail: String) -> MediaError {
        let lower = detail.to_ascii_lowercase();
        if lower.contains("permission denied") || lower.contains("eacces") {
            MediaError::PermissionDenied { kind, detail }
        } else if lower.contains("busy") || lower.contains("ebusy") {
            MediaError::DeviceBusy { kind }
        } else if opening
            && (lower.contains("no such file")
                || lower.contains("no such device")
                || lower.contains("not found")
                || lower.contains("not available"))
        {
            MediaError::NoDevice { kind }
        } else {
            MediaError::DeviceLost { kind, detail }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_messages_become_typed_errors() {
        let no = MediaError::from_backend(
            DeviceKind::Camera,
            true,
            "V4L2 Error: No such file or directory".into(),
        );
        assert_eq!(no.code(), "no_device");
        let denied = MediaError::from_backend(
            DeviceKind::Camera,
            true,
            "open /dev/video0: Permission denied (os error 13)".into(),
        );
        assert_eq!(denied.code(), "permission_denied");
        // The same "no such device" after the stream ran means it was unplugged.
        let lost = MediaError::from_backend(
            DeviceKind::Camera,
            false,
            "VIDIOC_DQBUF: No such device".into(),
        );
        assert_eq!(lost.code(), "device_lost");
    }
}
