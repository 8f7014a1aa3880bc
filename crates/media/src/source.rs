//! One small trait per kind of source, so a platform backend and a synthetic source are
//! interchangeable everywhere (pipelines, preview, tests).

use std::time::Duration;

use crate::MediaError;
use crate::frame::{AudioFrame, CapturedFrame};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoSourceInfo {
    pub name: String,
    pub width: u32,
    pub height: u32,
}

pub trait VideoSource: Send {
    fn info(&self) -> VideoSourceInfo;
    /// The next picture. A camera blocks until it has one; a screen or a synthetic
    /// source makes one now. The caller paces.
    fn capture(&mut self) -> Result<CapturedFrame, MediaError>;
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioSourceInfo {
    pub name: String,
    pub sample_rate: u32,
    pub channels: u16,
    /// A device delivers samples on its own clock; an unpaced source (a tone) returns a
    /// frame at once and the pipeline paces it.
    pub paced: bool,
}

pub trait AudioSource: Send {
    fn info(&self) -> AudioSourceInfo;
    /// The next block of samples, waiting at most `timeout`.
    fn read(&mut self, timeout: Duration) -> Result<AudioFrame, MediaError>;
}
