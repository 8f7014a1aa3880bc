//! The whiteboard's rules. Commands become explicit events (which items were erased,
//! restored or moved), so a replica only ever replays effects and never re-decides:
//! a client that missed the graveyard or the undo stacks still ends up identical.

use std::collections::{BTreeMap, BTreeSet};

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

/// One undoable edit, as its author made it. Undo and redo move it between stacks.
#[derive(Debug, Clone, PartialEq, Eq)]
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

#[derive(Debug, Clone)]
pub struct Board {
    pages: Vec<PageInfo>,
    items: BTreeMap<ItemId, BoardItem>,
    /// Per page, items by stacking order.
    stacks: BTreeMap<PageId, BTreeMap<Seq, ItemId>>,
    /// The last absolute point of each open stroke, so appends continue from it.
    cursors: BTreeMap<ItemId, Point>,
    /// Erased items, kept so an undo can bring them back.
    graveyard: BTreeMap<ItemId, BoardItem>,
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
                    check_id(&b.asset)?;
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
                    || viewport.x.abs() > COORD_LIMIT
                    || viewport.y.abs() > COORD_LIMIT
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
                if path.iter().any(|v| v.abs() > COORD_LIMIT) || radius == 0 || radius > 500 {
                    return Err(RoomError::InvalidCommand(
                        "the eraser path must be on the board, with a radius of 1 to 500",
                    ));
                }
                let path: Vec<geometry::Xy> = path.chunks_exact(2).map(|c| (c[0], c[1])).collect();
                let items: Vec<ItemId> = self
                    .page_items(&page)
                    .filter(|i| teacher || &i.author == actor)
                    .filter(|i| geometry::touches(i, &path, radius))
                    .map(|i| i.id.clone())
                    .collect();
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
                if dx.abs() > COORD_LIMIT || dy.abs() > COORD_LIMIT {
                    return Err(RoomError::InvalidCommand("move stays on the board"));
                }
                let items = self.selection(actor, teacher, items)?;
                if dx == 0 && dy == 0 {
                    return Ok(Vec::new());
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
                Ok(vec![self.make(&edit.inverse(), by, EditCause::Undo)])
            }
            RoomCommand::Redo => {
                need_draw()?;
                let Some(edit) = self.redo.get(actor).and_then(|s| s.last()) else {
                    return Ok(Vec::new());
                };
                Ok(vec![self.make(edit, by, EditCause::Redo)])
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
            Edit::Moved(ids, dx, dy) => RoomEvent::ItemsMoved {
                items: self.live(ids),
                dx: *dx,
                dy: *dy,
                by,
                cause,
            },
        }
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
        self.graveyard.remove(&item.id);
        self.items.insert(item.id.clone(), item);
    }

    fn bury(&mut self, id: &ItemId) {
        if let Some(mut item) = self.items.remove(id) {
            if let Some(s) = self.stacks.get_mut(&item.page) {
                s.remove(&item.z);
            }
            self.cursors.remove(id);
            item.open = false;
            self.graveyard.insert(id.clone(), item);
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
                    *cursor = geometry::advance(*cursor, points);
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
                for id in items {
                    if let Some(it) = self.items.get_mut(id)
                        && it.points.len() >= 2
                    {
                        it.points[0] += dx;
                        it.points[1] += dy;
                        if let Some(c) = self.cursors.get_mut(id) {
                            c.0 += dx;
                            c.1 += dy;
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
        if next.0.abs() > COORD_LIMIT || next.1.abs() > COORD_LIMIT || !(0..=255).contains(&next.2)
        {
            return Err(RoomError::InvalidCommand(
                "points must stay on the board with pressure 0 to 255",
            ));
        }
        at = Some(next);
    }
    Ok(())
}
