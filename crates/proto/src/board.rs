//! Whiteboard, chat, hands and reactions on the wire.
//!
//! Board coordinates are integers on a 1920×1080 page (one unit = one pixel of a 1080p
//! page; items may reach past the edges). Points travel delta-coded: `points` is a flat
//! `[x, y, p, x, y, p, …]` list where the first triple is absolute and every later one is
//! the difference from the one before. A stroke's appends simply continue the list, and
//! moving an item only changes its first triple. `p` is pen pressure, 0–255 (0: none).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{MemberId, Seq};

pub const PAGE_WIDTH: i32 = 1920;
pub const PAGE_HEIGHT: i32 = 1080;

/// A board item's id, made by its author so it can keep drawing while offline:
/// `<member id>/<n>`. The room refuses ids that do not start with the author's id.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(transparent)]
pub struct ItemId(pub String);

/// A page's id, made by the teacher who adds it.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(transparent)]
pub struct PageId(pub String);

#[derive(Serialize, Deserialize, TS, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Tool {
    Pen,
    Highlighter,
    Line,
    Arrow,
    Rect,
    Ellipse,
    Text,
}

impl Tool {
    /// Tools whose items are drawn live, point by point.
    pub fn is_freehand(self) -> bool {
        matches!(self, Tool::Pen | Tool::Highlighter)
    }
}

/// Something drawn on a page.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct BoardItem {
    pub id: ItemId,
    pub page: PageId,
    pub author: MemberId,
    pub tool: Tool,
    /// 0xRRGGBB.
    pub color: u32,
    /// Line width in page units, or the font size for text.
    pub width: u16,
    /// Delta-coded `[x, y, p, …]`; shapes hold two points (corners or ends), text one.
    pub points: Vec<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Stacking order: the sequence number of the event that created it. Lower is below.
    pub z: Seq,
    /// A freehand stroke still being drawn.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub open: bool,
}

/// An image shown under a page's items: an uploaded picture or a rendered PDF page.
/// Whether `name` is an asset id the server could have made: 16 hex digits and `.png` or
/// `.jpg`. Anything else (a path, a URL) is refused before it reaches a page or a disk.
pub fn is_asset_name(name: &str) -> bool {
    let Some((id, ext)) = name.split_once('.') else {
        return false;
    };
    id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) && matches!(ext, "png" | "jpg")
}

#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct PageBackground {
    /// Asset id from `POST /api/classes/{id}/assets`.
    pub asset: String,
    pub width: u32,
    pub height: u32,
}

#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct PageInfo {
    pub id: PageId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<PageBackground>,
}

/// What part of a page the teacher looks at; students in follow mode look at the same.
#[derive(Serialize, Deserialize, TS, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Viewport {
    pub x: i32,
    pub y: i32,
    /// Zoom in percent (100 = the page fills the width).
    pub zoom: u16,
}

impl Default for Viewport {
    fn default() -> Self {
        Viewport {
            x: 0,
            y: 0,
            zoom: 100,
        }
    }
}

/// Who may draw besides teachers.
#[derive(Serialize, Deserialize, TS, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum DrawPolicy {
    #[default]
    TeachersOnly,
    Everyone,
    /// Only the students in the board's `allowed` list.
    Chosen,
}

/// Why an edit happened: its author's undo and redo stacks follow from it.
#[derive(Serialize, Deserialize, TS, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum EditCause {
    #[default]
    Do,
    Undo,
    Redo,
}

#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct PageSnapshot {
    pub info: PageInfo,
    /// In stacking order.
    pub items: Vec<BoardItem>,
}

/// The whole board as of a room snapshot's `seq`.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct BoardSnapshot {
    /// In the order the teacher arranged them.
    pub pages: Vec<PageSnapshot>,
    /// The page the teacher shows.
    pub current: PageId,
    pub viewport: Viewport,
    pub follow: bool,
    pub draw: DrawPolicy,
    pub allowed: Vec<MemberId>,
}

#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct ChatMessage {
    /// The sequence number of the event that posted it.
    pub id: Seq,
    pub from: MemberId,
    /// Set for a private conversation between this student and the teachers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_with: Option<MemberId>,
    pub text: String,
    pub at_ms: u64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

#[derive(Serialize, Deserialize, TS, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Reaction {
    ThumbsUp,
    Clap,
    Heart,
    Laugh,
    Surprised,
    Confused,
}
