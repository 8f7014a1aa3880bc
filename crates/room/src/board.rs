//! The whiteboard's rules. Commands become explicit events (which items were erased,
//! restored or moved), so a replica only ever replays effects and never re-decides:
//! a client that missed the graveyard or the undo stacks still ends up identical.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use aula_proto::{
    BoardItem, BoardSnapshot, DrawPolicy, EditCause, ItemId, MemberId, PageId, PageInfo,
    PageSnapshot, Role, RoomCommand, RoomEvent, Seq, Tool, Viewport,
};

use crate::RoomError;
use crate::geometry::{self, Point};

/// The first page every board starts with.
pub const FIRST_PAGE: &str = "p1";
pub const MAX_PAGES: usize = 100;
pub const MAX_ITEMS_PER_PAGE: usize = 10_000;
/// Points (triples) in one stroke, all appends included.
pub const MAX_STROKE_POINTS: usize = 20_000;
/// Points (triples) in one command.
pub const MAX_BATCH_POINTS: usize = 1_000;
pub const MAX_TEXT_CHARS: usize = 2_000;
pub const MAX_ERASE_PATH_POINTS: usize = 512;
/// Items in one erase or move.
pub const MAX_SELECTION: usize = 5_000;
/// Strokes one member may have open at once (several fingers on a touch screen).
pub const MAX_OPEN_STROKES: usize = 10;
/// How far past the page an item may reach, in page units.
pub const COORD_LIMIT: i32 = 100_000;
pub const MAX_WIDTH: u16 = 400;
/// Board edits each member can undo.
pub const UNDO_DEPTH: usize = 200;
/// Points (triples) on the whole board at once, every page together. Bounds the room's
/// memory and the size of a snapshot (about 10 bytes a point as JSON).
pub const MAX_BOARD_POINTS: usize = 1_000_000;
/// Points kept in erased items for undo. Past it the longest-erased go for good (an undo
/// then brings back what is still kept), so erasing never grows a room without bound.
pub const MAX_GRAVEYARD_POINTS: usize = 1_000_000;
/// Steps one area-eraser command may take (box tests, outline points decoded, segment
/// distances). A path over more than this is refused; the client erases in pieces.
pub const MAX_ERASE_WORK: u64 = 1_000_000;

/// Whether a client's coordinate is on the board. Never `abs()`: `i32::MIN` has none.
pub fn on_board(v: i32) -> bool {
    (-COORD_LIMIT..=COORD_LIMIT).contains(&v)
}

/// The box around an item's points, kept with the item so moves and the eraser can check
/// it without decoding every point.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
struct Extent {
    min: (i32, i32),
    max: (i32, i32),
}

impl Extent {
    fn of(points: &[i32]) -> Extent {
        let mut e: Option<Extent> = None;
        for p in geometry::decode(points) {
            e = Some(e.map_or(Extent::at(p), |e| e.grown(p)));
        }
        e.unwrap_or(Extent::at((0, 0, 0)))
    }

    fn at(p: Point) -> Extent {
        Extent {
            min: (p.0, p.1),
            max: (p.0, p.1),
        }
    }

    fn grown(self, p: Point) -> Extent {
        Extent {
            min: (self.min.0.min(p.0), self.min.1.min(p.1)),
            max: (self.max.0.max(p.0), self.max.1.max(p.1)),
        }
    }

    /// The box moved by `(dx, dy)`, if it stays on the board.
    fn moved(self, dx: i32, dy: i32) -> Option<Extent> {
        let e = Extent {
            min: (self.min.0.checked_add(dx)?, self.min.1.checked_add(dy)?),
            max: (self.max.0.checked_add(dx)?, self.max.1.checked_add(dy)?),
        };
        [e.min.0, e.min.1, e.max.0, e.max.1]
            .into_iter()
            .all(on_board)
            .then_some(e)
    }

    fn shifted_saturating(self, dx: i32, dy: i32) -> Extent {
        Extent {
            min: (self.min.0.saturating_add(dx), self.min.1.saturating_add(dy)),
            max: (self.max.0.saturating_add(dx), self.max.1.saturating_add(dy)),
        }
    }

    fn as_box(self) -> geometry::Box2 {
        (
            f64::from(self.min.0),
            f64::from(self.min.1),
            f64::from(self.max.0),
            f64::from(self.max.1),
        )
    }
}

/// One undoable edit, as its author made it. Undo and redo move it between stacks.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq)]
enum Edit {
    Created(Vec<ItemId>),
    Erased(Vec<ItemId>),
    Moved(Vec<ItemId>, i32, i32),
}

impl Edit {
    fn inverse(&self) -> Edit {
        match self {
            Edit::Created(ids) => Edit::Erased(ids.clone()),
            Edit::Erased(ids) => Edit::Created(ids.clone()),
            Edit::Moved(ids, dx, dy) => Edit::Moved(ids.clone(), -dx, -dy),
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize, Debug, Clone)]
pub struct Board {
    pages: Vec<PageInfo>,
    items: BTreeMap<ItemId, BoardItem>,
    /// Per page, items by stacking order.
    stacks: BTreeMap<PageId, BTreeMap<Seq, ItemId>>,
    /// The last absolute point of each open stroke, so appends continue from it.
    cursors: BTreeMap<ItemId, Point>,
    /// Erased items, kept so an undo can bring them back.
    graveyard: BTreeMap<ItemId, BoardItem>,
    /// Graveyard ids, longest-erased first, for pruning past `MAX_GRAVEYARD_POINTS`. An id
    /// restored meanwhile is skipped when its turn comes.
    burials: VecDeque<ItemId>,
    graveyard_points: usize,
    /// Each live item's box (derived from its points).
    extents: BTreeMap<ItemId, Extent>,
    live_points: usize,
    undo: BTreeMap<MemberId, Vec<Edit>>,
    redo: BTreeMap<MemberId, Vec<Edit>>,
    current: PageId,
    viewport: Viewport,
    follow: bool,
    draw: DrawPolicy,
    allowed: BTreeSet<MemberId>,
}

impl Default for Board {
    fn default() -> Self {
        let first = PageId(FIRST_PAGE.into());
        Board {
            pages: vec![PageInfo {
                id: first.clone(),
                background: None,
            }],
            items: BTreeMap::new(),
            stacks: BTreeMap::from([(first.clone(), BTreeMap::new())]),
            cursors: BTreeMap::new(),
            graveyard: BTreeMap::new(),
            burials: VecDeque::new(),
            graveyard_points: 0,
            extents: BTreeMap::new(),
            live_points: 0,
            undo: BTreeMap::new(),
            redo: BTreeMap::new(),
            current: first,
            viewport: Viewport::default(),
            follow: false,
            draw: DrawPolicy::default(),
            allowed: BTreeSet::new(),
        }
    }
}

impl Board {
    pub fn from_snapshot(s: &BoardSnapshot) -> Self {
        let mut board = Board {
            pages: Vec::new(),
            stacks: BTreeMap::new(),
            current: s.current.clone(),
            viewport: s.viewport,
            follow: s.follow,
            draw: s.draw,
            allowed: s.allowed.iter().cloned().collect(),
            ..Board::default()
        };
        for page in &s.pages {
            board.pages.push(page.info.clone());
            board.stacks.insert(page.info.id.clone(), BTreeMap::new());
            for item in &page.items {
                board.insert(item.clone());
            }
        }
        board
    }

    pub fn snapshot(&self) -> BoardSnapshot {
        BoardSnapshot {
            pages: self
                .pages
                .iter()
                .map(|info| PageSnapshot {
                    info: info.clone(),
                    items: self.page_items(&info.id).cloned().collect(),
                })
                .collect(),
            current: self.current.clone(),
            viewport: self.viewport,
            follow: self.follow,
            draw: self.draw,
            allowed: self.allowed.iter().cloned().collect(),
        }
    }

    pub fn pages(&self) -> &[PageInfo] {
        &self.pages
    }

    pub fn item(&self, id: &ItemId) -> Option<&BoardItem> {
        self.items.get(id)
    }

    /// A page's items, bottom first.
    pub fn page_items<'a>(&'a self, page: &PageId) -> impl Iterator<Item = &'a BoardItem> + 'a {
        self.stacks
            .get(page)
            .into_iter()
            .flat_map(|s| s.values())
            .filter_map(|id| self.items.get(id))
    }

    pub fn may_draw(&self, member: &MemberId, role: Role) -> bool {
        match role {
            Role::Teacher => true,
            Role::Observer => false,
            Role::Student => match self.draw {
                DrawPolicy::TeachersOnly => false,
                DrawPolicy::Everyone => true,
                DrawPolicy::Chosen => self.allowed.contains(member),
            },
        }
    }

    /// Board commands only; the room routes the rest elsewhere. Changes nothing.
    pub fn decide(
        &self,
        actor: &MemberId,
        role: Role,
        command: RoomCommand,
    ) -> Result<Vec<RoomEvent>, RoomError> {
        let teacher = role == Role::Teacher;
        let need_teacher = || crate::teachers_only(role);
        let need_draw = || {
            if self.may_draw(actor, role) {
                Ok(())
            } else {
                Err(RoomError::Forbidden("drawing is not allowed for you now; "))
            }
        };
        let by = actor.clone();
        match command {
            RoomCommand::AddPage { page, index } => {
                need_teacher()?;
                check_id(&page.0)?;
                if self.stacks.contains_key(&page) {
                    return Err(RoomError::InvalidCommand("a page with this id exists"));
                }
                if self.pages.len() >= MAX_PAGES {
                    return Err(RoomError::Limit("too many pages on this board"));
                }
                let index = index.map_or(self.pages.len(), |i| (i as usize).min(self.pages.len()));
                Ok(vec![RoomEvent::PageAdded {
                    page: PageInfo {
                        id: page,
                        background: None,
                    },
                    index: index as u32,
                }])
            }
            RoomCommand::MovePage { page, index } => {
                need_teacher()?;
                self.need_page(&page)?;
                let index = (index as usize).min(self.pages.len() - 1) as u32;
                Ok(vec![RoomEvent::PageMoved { page, index }])
            }
            RoomCommand::SetPageBackground { page, background } => {
                need_teacher()?;
                self.need_page(&page)?;
                if let Some(b) = &background {
                    if !aula_proto::is_asset_name(&b.asset) {
                        return Err(RoomError::InvalidCommand(
                            "a background is an asset id from the upload (16 hex digits .png or .jpg)",
                        ));
                    }
                    if b.width == 0 || b.height == 0 || b.width > 16_384 || b.height > 16_384 {
                        return Err(RoomError::Limit("background size must be 1 to 16384"));
                    }
                }
                Ok(vec![RoomEvent::PageBackgroundSet { page, background }])
            }
            RoomCommand::ShowPage { page } => {
                need_teacher()?;
                self.need_page(&page)?;
                if page == self.current {
                    return Ok(Vec::new());
                }
                Ok(vec![RoomEvent::PageShown { page }])
            }
            RoomCommand::SetViewport { viewport } => {
                need_teacher()?;
                if !(10..=1000).contains(&viewport.zoom)
                    || !on_board(viewport.x)
                    || !on_board(viewport.y)
                {
                    return Err(RoomError::InvalidCommand(
                        "zoom must be 10 to 1000 and the viewport on the board",
                    ));
                }
                if viewport == self.viewport {
                    return Ok(Vec::new());
                }
                Ok(vec![RoomEvent::ViewportChanged { viewport }])
            }
            RoomCommand::SetFollow { follow } => {
                need_teacher()?;
                if follow == self.follow {
                    return Ok(Vec::new());
                }
                Ok(vec![RoomEvent::FollowChanged { follow }])
            }
            RoomCommand::SetDrawPolicy { draw, allowed } => {
                need_teacher()?;
                if allowed.len() > 1000 {
                    return Err(RoomError::Limit("too many members in the allowed list"));
                }
                let allowed: BTreeSet<MemberId> = allowed.into_iter().collect();
                if draw == self.draw && allowed == self.allowed {
                    return Ok(Vec::new());
                }
                Ok(vec![RoomEvent::DrawPolicyChanged {
                    draw,
                    allowed: allowed.into_iter().collect(),
                }])
            }
            RoomCommand::StartStroke {
                item,
                page,
                tool,
                color,
                width,
                points,
            } => {
                need_draw()?;
                if !tool.is_freehand() {
                    return Err(RoomError::InvalidCommand(
                        "only the pen and highlighter draw strokes; place shapes whole",
                    ));
                }
                self.check_new_item(actor, &item, &page)?;
                check_style(color, width)?;
                if points.is_empty() {
                    return Err(RoomError::InvalidCommand("a stroke starts with a point"));
                }
                check_points(None, &points, MAX_BATCH_POINTS)?;
                self.check_room_for(points.len() / 3)?;
                let open = self
                    .cursors
                    .keys()
                    .filter_map(|id| self.items.get(id))
                    .filter(|i| &i.author == actor)
                    .count();
                if open >= MAX_OPEN_STROKES {
                    return Err(RoomError::Limit("too many strokes open at once"));
                }
                Ok(vec![RoomEvent::StrokeStarted {
                    item: BoardItem {
                        id: item,
                        page,
                        author: by,
                        tool,
                        color,
                        width,
                        points,
                        text: None,
                        // Set from the event's sequence number when applied.
                        z: Seq(0),
                        open: true,
                    },
                }])
            }
            RoomCommand::AppendStroke { item, points } => {
                need_draw()?;
                let (it, cursor) = self.open_stroke(actor, &item)?;
                if points.is_empty() {
                    return Ok(Vec::new());
                }
                check_points(Some(cursor), &points, MAX_BATCH_POINTS)?;
                if (it.points.len() + points.len()) / 3 > MAX_STROKE_POINTS {
                    return Err(RoomError::Limit(
                        "the stroke has too many points; start another",
                    ));
                }
                self.check_room_for(points.len() / 3)?;
                Ok(vec![RoomEvent::StrokePoints { item, points }])
            }
            RoomCommand::EndStroke { item } => {
                // Closing needs no permission: a stroke cut off by a revoked permission
                // still ends cleanly.
                self.open_stroke(actor, &item)?;
                Ok(vec![RoomEvent::StrokeEnded { item }])
            }
            RoomCommand::PlaceItem {
                item,
                page,
                tool,
                color,
                width,
                points,
                text,
            } => {
                need_draw()?;
                self.check_new_item(actor, &item, &page)?;
                check_style(color, width)?;
                check_points(None, &points, MAX_BATCH_POINTS)?;
                let expected = match tool {
                    Tool::Pen | Tool::Highlighter => {
                        return Err(RoomError::InvalidCommand(
                            "pen and highlighter items are drawn as strokes",
                        ));
                    }
                    Tool::Text => 3,
                    _ => 6,
                };
                if points.len() != expected {
                    return Err(RoomError::InvalidCommand(
                        "shapes take two points and text one",
                    ));
                }
                self.check_room_for(points.len() / 3)?;
                match (tool, &text) {
                    (Tool::Text, Some(t)) => {
                        if t.trim().is_empty() {
                            return Err(RoomError::InvalidCommand("text is empty"));
                        }
                        if t.chars().count() > MAX_TEXT_CHARS {
                            return Err(RoomError::Limit("text is longer than 2000 characters"));
                        }
                    }
                    (Tool::Text, None) => {
                        return Err(RoomError::InvalidCommand("a text item needs text"));
                    }
                    (_, Some(_)) => {
                        return Err(RoomError::InvalidCommand("only text items carry text"));
                    }
                    (_, None) => {}
                }
                Ok(vec![RoomEvent::ItemPlaced {
                    item: BoardItem {
                        id: item,
                        page,
                        author: by,
                        tool,
                        color,
                        width,
                        points,
                        text,
                        z: Seq(0),
                        open: false,
                    },
                }])
            }
            RoomCommand::EraseItems { items } => {
                need_draw()?;
                let items = self.selection(actor, teacher, items)?;
                Ok(vec![RoomEvent::ItemsErased {
                    items,
                    by,
                    cause: EditCause::Do,
                }])
            }
            RoomCommand::EraseArea { page, path, radius } => {
                need_draw()?;
                self.need_page(&page)?;
                if path.is_empty() || !path.len().is_multiple_of(2) {
                    return Err(RoomError::InvalidCommand("the eraser path is x, y pairs"));
                }
                if path.len() / 2 > MAX_ERASE_PATH_POINTS {
                    return Err(RoomError::Limit("the eraser path is too long"));
                }
                if !path.iter().copied().all(on_board) || radius == 0 || radius > 500 {
                    return Err(RoomError::InvalidCommand(
                        "the eraser path must be on the board, with a radius of 1 to 500",
                    ));
                }
                let path: Vec<geometry::Xy> = path.chunks_exact(2).map(|c| (c[0], c[1])).collect();
                let items = self.erased_by(actor, teacher, &page, &path, radius)?;
                if items.is_empty() {
                    return Ok(Vec::new());
                }
                Ok(vec![RoomEvent::ItemsErased {
                    items,
                    by,
                    cause: EditCause::Do,
                }])
            }
            RoomCommand::MoveItems { items, dx, dy } => {
                need_draw()?;
                let items = self.selection(actor, teacher, items)?;
                if dx == 0 && dy == 0 {
                    return Ok(Vec::new());
                }
                // Every item must stay whole on the board: checked on its box, so repeated
                // moves cannot walk anything past the limit.
                if items
                    .iter()
                    .any(|id| self.moved_extent(id, dx, dy).is_none())
                {
                    return Err(RoomError::InvalidCommand(
                        "the move would take items off the board",
                    ));
                }
                Ok(vec![RoomEvent::ItemsMoved {
                    items,
                    dx,
                    dy,
                    by,
                    cause: EditCause::Do,
                }])
            }
            RoomCommand::ClearPage { page } => {
                need_teacher()?;
                self.need_page(&page)?;
                let items: Vec<ItemId> = self.page_items(&page).map(|i| i.id.clone()).collect();
                if items.is_empty() {
                    return Ok(Vec::new());
                }
                Ok(vec![RoomEvent::ItemsErased {
                    items,
                    by,
                    cause: EditCause::Do,
                }])
            }
            RoomCommand::Undo => {
                need_draw()?;
                let Some(edit) = self.undo.get(actor).and_then(|s| s.last()) else {
                    return Ok(Vec::new());
                };
                let event = self.make(&edit.inverse(), by, EditCause::Undo);
                self.check_restore(&event)?;
                Ok(vec![event])
            }
            RoomCommand::Redo => {
                need_draw()?;
                let Some(edit) = self.redo.get(actor).and_then(|s| s.last()) else {
                    return Ok(Vec::new());
                };
                let event = self.make(edit, by, EditCause::Redo);
                self.check_restore(&event)?;
                Ok(vec![event])
            }
            _ => Err(RoomError::InvalidCommand("not a board command")),
        }
    }

    /// The event that makes `edit` happen (again): an undo makes the edit's inverse.
    fn make(&self, edit: &Edit, by: MemberId, cause: EditCause) -> RoomEvent {
        match edit {
            Edit::Created(ids) => RoomEvent::ItemsRestored {
                items: self.buried(ids),
                by,
                cause,
            },
            Edit::Erased(ids) => RoomEvent::ItemsErased {
                items: self.live(ids),
                by,
                cause,
            },
            // Someone else may have moved an item since: it moves only if it stays on
            // the board, so an undo can never push anything past the limit.
            Edit::Moved(ids, dx, dy) => RoomEvent::ItemsMoved {
                items: self
                    .live(ids)
                    .into_iter()
                    .filter(|id| self.moved_extent(id, *dx, *dy).is_some())
                    .collect(),
                dx: *dx,
                dy: *dy,
                by,
                cause,
            },
        }
    }

    fn moved_extent(&self, id: &ItemId, dx: i32, dy: i32) -> Option<Extent> {
        self.extents.get(id)?.moved(dx, dy)
    }

    /// Refuses new points past the board's budget.
    fn check_room_for(&self, points: usize) -> Result<(), RoomError> {
        if self.live_points.saturating_add(points) > MAX_BOARD_POINTS {
            return Err(RoomError::Limit(
                "the board is full; clear a page or erase something first",
            ));
        }
        Ok(())
    }

    /// An undo or redo that brings items back must fit the board's budget too.
    fn check_restore(&self, event: &RoomEvent) -> Result<(), RoomError> {
        if let RoomEvent::ItemsRestored { items, .. } = event {
            self.check_room_for(items.iter().map(|i| i.points.len() / 3).sum())?;
        }
        Ok(())
    }

    /// The items an area eraser dragged along `path` on `page` takes: the actor's own, or
    /// any for a teacher. Costs at most `MAX_ERASE_WORK` steps, then refuses.
    fn erased_by(
        &self,
        actor: &MemberId,
        teacher: bool,
        page: &PageId,
        path: &[geometry::Xy],
        radius: u16,
    ) -> Result<Vec<ItemId>, RoomError> {
        let too_much =
            || RoomError::Limit("the eraser covered too much at once; erase in shorter strokes");
        let path_box = geometry::bounds_of_points(path);
        let mut budget = MAX_ERASE_WORK;
        let mut items = Vec::new();
        for item in self.page_items(page) {
            budget = budget.checked_sub(1).ok_or_else(too_much)?;
            if !(teacher || &item.author == actor) {
                continue;
            }
            let reach = f64::from(radius) + f64::from(item.width) / 2.0;
            let mut b = self
                .extents
                .get(&item.id)
                .map_or_else(|| geometry::bounds_of_points(&[]), |e| e.as_box());
            if item.tool == Tool::Text {
                let (lo, hi) = geometry::text_box(item);
                b = geometry::union(b, geometry::bounds_of_points(&[lo, hi]));
            }
            if !geometry::overlap(geometry::pad(b, reach), path_box) {
                continue;
            }
            match geometry::touches(item, path, radius, &mut budget) {
                Some(true) => items.push(item.id.clone()),
                Some(false) => {}
                None => return Err(too_much()),
            }
        }
        Ok(items)
    }

    fn live(&self, ids: &[ItemId]) -> Vec<ItemId> {
        ids.iter()
            .filter(|id| self.items.contains_key(*id))
            .cloned()
            .collect()
    }

    fn buried(&self, ids: &[ItemId]) -> Vec<BoardItem> {
        ids.iter()
            .filter_map(|id| self.graveyard.get(id))
            .filter(|i| self.stacks.contains_key(&i.page))
            .cloned()
            .collect()
    }

    fn need_page(&self, page: &PageId) -> Result<(), RoomError> {
        if self.stacks.contains_key(page) {
            Ok(())
        } else {
            Err(RoomError::UnknownItem)
        }
    }

    fn check_new_item(
        &self,
        actor: &MemberId,
        item: &ItemId,
        page: &PageId,
    ) -> Result<(), RoomError> {
        check_id(&item.0)?;
        let own = item
            .0
            .strip_prefix(actor.0.as_str())
            .is_some_and(|rest| rest.starts_with('/') && rest.len() > 1);
        if !own {
            return Err(RoomError::InvalidCommand(
                "item ids are <your member id>/<n>",
            ));
        }
        if self.items.contains_key(item) || self.graveyard.contains_key(item) {
            return Err(RoomError::InvalidCommand("an item with this id exists"));
        }
        let on_page = self.stacks.get(page).ok_or(RoomError::UnknownItem)?;
        if on_page.len() >= MAX_ITEMS_PER_PAGE {
            return Err(RoomError::Limit("this page is full; add a page"));
        }
        Ok(())
    }

    fn open_stroke(
        &self,
        actor: &MemberId,
        item: &ItemId,
    ) -> Result<(&BoardItem, Point), RoomError> {
        let it = self.items.get(item).ok_or(RoomError::UnknownItem)?;
        if &it.author != actor {
            return Err(RoomError::Forbidden("only its author may draw a stroke; "));
        }
        let cursor = self
            .cursors
            .get(item)
            .ok_or(RoomError::InvalidCommand("the stroke is already ended"))?;
        Ok((it, *cursor))
    }

    /// Items a member may erase or move: its own, or any for a teacher.
    fn selection(
        &self,
        actor: &MemberId,
        teacher: bool,
        items: Vec<ItemId>,
    ) -> Result<Vec<ItemId>, RoomError> {
        if items.is_empty() {
            return Err(RoomError::InvalidCommand("no items chosen"));
        }
        if items.len() > MAX_SELECTION {
            return Err(RoomError::Limit("too many items at once"));
        }
        let unique: BTreeSet<ItemId> = items.into_iter().collect();
        for id in &unique {
            let it = self.items.get(id).ok_or(RoomError::UnknownItem)?;
            if !teacher && &it.author != actor {
                return Err(RoomError::Forbidden("a student, on another's drawing,"));
            }
        }
        Ok(unique.into_iter().collect())
    }

    fn insert(&mut self, item: BoardItem) {
        if item.open {
            self.cursors
                .insert(item.id.clone(), geometry::last_point(&item.points));
        }
        self.stacks
            .entry(item.page.clone())
            .or_default()
            .insert(item.z, item.id.clone());
        if let Some(old) = self.graveyard.remove(&item.id) {
            self.graveyard_points = self.graveyard_points.saturating_sub(old.points.len() / 3);
        }
        self.extents
            .insert(item.id.clone(), Extent::of(&item.points));
        self.live_points += item.points.len() / 3;
        if let Some(old) = self.items.insert(item.id.clone(), item) {
            self.live_points = self.live_points.saturating_sub(old.points.len() / 3);
        }
    }

    fn bury(&mut self, id: &ItemId) {
        if let Some(mut item) = self.items.remove(id) {
            if let Some(s) = self.stacks.get_mut(&item.page) {
                s.remove(&item.z);
            }
            self.cursors.remove(id);
            self.extents.remove(id);
            let n = item.points.len() / 3;
            self.live_points = self.live_points.saturating_sub(n);
            item.open = false;
            self.graveyard_points += n;
            if let Some(old) = self.graveyard.insert(id.clone(), item) {
                self.graveyard_points = self.graveyard_points.saturating_sub(old.points.len() / 3);
            }
            self.burials.push_back(id.clone());
        }
    }

    /// Forgets the longest-erased items past the graveyard's budget. Every replica runs
    /// this in `apply`, in log order, so all of them forget the same items.
    fn prune_graveyard(&mut self) {
        while self.graveyard_points > MAX_GRAVEYARD_POINTS {
            let Some(id) = self.burials.pop_front() else {
                break;
            };
            if let Some(old) = self.graveyard.remove(&id) {
                self.graveyard_points = self.graveyard_points.saturating_sub(old.points.len() / 3);
            }
        }
        // Ids restored since they were buried linger in the queue; drop them when the
        // queue outgrows the graveyard so it stays bounded too.
        if self.burials.len() > 2 * self.graveyard.len() + 64 {
            let graveyard = &self.graveyard;
            self.burials.retain(|id| graveyard.contains_key(id));
        }
    }

    /// Keeps the author's stacks in step with an edit event. `made` is what the event did;
    /// the redo stack holds the inverse of what an undo did, so a redo brings back exactly
    /// what that undo took away (not items someone else erased meanwhile).
    fn record(&mut self, by: &MemberId, cause: EditCause, made: Edit) {
        let undo = self.undo.entry(by.clone()).or_default();
        let redo = self.redo.entry(by.clone()).or_default();
        match cause {
            EditCause::Do => {
                undo.push(made);
                if undo.len() > UNDO_DEPTH {
                    undo.remove(0);
                }
                redo.clear();
            }
            EditCause::Undo => {
                undo.pop();
                redo.push(made.inverse());
            }
            EditCause::Redo => {
                redo.pop();
                undo.push(made);
            }
        }
    }

    /// Applies a board event; other events are ignored.
    pub fn apply(&mut self, seq: Seq, event: &RoomEvent) {
        match event {
            RoomEvent::PageAdded { page, index } => {
                let at = (*index as usize).min(self.pages.len());
                self.stacks.entry(page.id.clone()).or_default();
                self.pages.insert(at, page.clone());
            }
            RoomEvent::PageMoved { page, index } => {
                if let Some(from) = self.pages.iter().position(|p| &p.id == page) {
                    let info = self.pages.remove(from);
                    let at = (*index as usize).min(self.pages.len());
                    self.pages.insert(at, info);
                }
            }
            RoomEvent::PageBackgroundSet { page, background } => {
                if let Some(p) = self.pages.iter_mut().find(|p| &p.id == page) {
                    p.background = background.clone();
                }
            }
            RoomEvent::PageShown { page } => self.current = page.clone(),
            RoomEvent::ViewportChanged { viewport } => self.viewport = *viewport,
            RoomEvent::FollowChanged { follow } => self.follow = *follow,
            RoomEvent::DrawPolicyChanged { draw, allowed } => {
                self.draw = *draw;
                self.allowed = allowed.iter().cloned().collect();
            }
            RoomEvent::StrokeStarted { item } | RoomEvent::ItemPlaced { item } => {
                let mut item = item.clone();
                item.z = seq;
                let by = item.author.clone();
                let id = item.id.clone();
                self.insert(item);
                self.record(&by, EditCause::Do, Edit::Created(vec![id]));
            }
            RoomEvent::StrokePoints { item, points } => {
                if let (Some(it), Some(cursor)) =
                    (self.items.get_mut(item), self.cursors.get_mut(item))
                {
                    it.points.extend_from_slice(points);
                    self.live_points += points.len() / 3;
                    let mut extent = self.extents.get(item).copied();
                    for t in points.chunks_exact(3) {
                        *cursor = geometry::advance(*cursor, t);
                        extent = Some(extent.map_or(Extent::at(*cursor), |e| e.grown(*cursor)));
                    }
                    if let Some(e) = extent {
                        self.extents.insert(item.clone(), e);
                    }
                }
            }
            RoomEvent::StrokeEnded { item } => {
                self.cursors.remove(item);
                if let Some(it) = self.items.get_mut(item) {
                    it.open = false;
                }
            }
            RoomEvent::ItemsErased { items, by, cause } => {
                for id in items {
                    self.bury(id);
                }
                self.prune_graveyard();
                self.record(by, *cause, Edit::Erased(items.clone()));
            }
            RoomEvent::ItemsRestored { items, by, cause } => {
                for item in items {
                    self.insert(BoardItem {
                        open: false,
                        ..item.clone()
                    });
                }
                let ids = items.iter().map(|i| i.id.clone()).collect();
                self.record(by, *cause, Edit::Created(ids));
            }
            RoomEvent::ItemsMoved {
                items,
                dx,
                dy,
                by,
                cause,
            } => {
                // Saturating: a log written before the move checks existed may hold moves
                // that overflow; replaying it must not panic.
                for id in items {
                    if let Some(it) = self.items.get_mut(id)
                        && it.points.len() >= 2
                    {
                        it.points[0] = it.points[0].saturating_add(*dx);
                        it.points[1] = it.points[1].saturating_add(*dy);
                        if let Some(c) = self.cursors.get_mut(id) {
                            c.0 = c.0.saturating_add(*dx);
                            c.1 = c.1.saturating_add(*dy);
                        }
                        if let Some(e) = self.extents.get_mut(id) {
                            *e = e.shifted_saturating(*dx, *dy);
                        }
                    }
                }
                self.record(by, *cause, Edit::Moved(items.clone(), *dx, *dy));
            }
            RoomEvent::MemberLeft { member, .. } => {
                // Nobody can end a departed member's strokes; they stay as drawn.
                let open: Vec<ItemId> = self
                    .cursors
                    .keys()
                    .filter(|id| self.items.get(*id).is_some_and(|i| &i.author == member))
                    .cloned()
                    .collect();
                for id in open {
                    self.cursors.remove(&id);
                    if let Some(it) = self.items.get_mut(&id) {
                        it.open = false;
                    }
                }
            }
            _ => {}
        }
    }
}

fn check_id(id: &str) -> Result<(), RoomError> {
    if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
        return Err(RoomError::InvalidCommand(
            "ids are 1 to 128 printable bytes",
        ));
    }
    Ok(())
}

fn check_style(color: u32, width: u16) -> Result<(), RoomError> {
    if color > 0xFF_FFFF {
        return Err(RoomError::InvalidCommand("colour is 0xRRGGBB"));
    }
    if width == 0 || width > MAX_WIDTH {
        return Err(RoomError::InvalidCommand("width is 1 to 400"));
    }
    Ok(())
}

/// Points are whole triples, stay on the board, with pressure 0–255.
fn check_points(from: Option<Point>, points: &[i32], max: usize) -> Result<(), RoomError> {
    if !points.len().is_multiple_of(3) {
        return Err(RoomError::InvalidCommand(
            "points are x, y, pressure triples",
        ));
    }
    if points.len() / 3 > max {
        return Err(RoomError::Limit(
            "too many points in one message; send them in batches",
        ));
    }
    let mut at = from;
    for t in points.chunks_exact(3) {
        let next = match at {
            None => (t[0], t[1], t[2]),
            Some((x, y, p)) => (
                x.saturating_add(t[0]),
                y.saturating_add(t[1]),
                p.saturating_add(t[2]),
            ),
        };
        if !on_board(next.0) || !on_board(next.1) || !(0..=255).contains(&next.2) {
            return Err(RoomError::InvalidCommand(
                "points must stay on the board with pressure 0 to 255",
            ));
        }
        at = Some(next);
    }
    Ok(())
}
