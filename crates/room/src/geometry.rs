//! Decoding delta-coded points and hit-testing items against an eraser path.

use aula_proto::{BoardItem, Tool};

/// An absolute `(x, y, pressure)` point.
pub type Point = (i32, i32, i32);
pub type Xy = (i32, i32);

/// The absolute points of a delta-coded list.
pub fn decode(points: &[i32]) -> Vec<Point> {
    let mut out = Vec::with_capacity(points.len() / 3);
    let mut at: Option<Point> = None;
    for t in points.chunks_exact(3) {
        let next = match at {
            None => (t[0], t[1], t[2]),
            Some(p) => (
                p.0.saturating_add(t[0]),
                p.1.saturating_add(t[1]),
                p.2.saturating_add(t[2]),
            ),
        };
        out.push(next);
        at = Some(next);
    }
    out
}

pub fn last_point(points: &[i32]) -> Point {
    decode(points).last().copied().unwrap_or((0, 0, 0))
}

/// Where a stroke's cursor is after more deltas.
pub fn advance(mut at: Point, deltas: &[i32]) -> Point {
    for t in deltas.chunks_exact(3) {
        at = (
            at.0.saturating_add(t[0]),
            at.1.saturating_add(t[1]),
            at.2.saturating_add(t[2]),
        );
    }
    at
}

/// Rough width of a text item, matching the client's rendering closely enough to hit.
pub fn text_box(item: &BoardItem) -> (Xy, Xy) {
    let (x, y, _) = last_point(&item.points[..item.points.len().min(3)]);
    let size = f64::from(item.width);
    let lines = item
        .text
        .as_deref()
        .unwrap_or("")
        .lines()
        .collect::<Vec<_>>();
    let longest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) as f64;
    let w = (longest * size * 0.6) as i32;
    let h = (lines.len().max(1) as f64 * size * 1.25) as i32;
    ((x, y), (x.saturating_add(w), y.saturating_add(h)))
}

/// The outline of an item as segments, in page units.
fn outline(item: &BoardItem) -> Vec<(Xy, Xy)> {
    let pts: Vec<Xy> = decode(&item.points).iter().map(|p| (p.0, p.1)).collect();
    let polyline = |pts: &[Xy]| -> Vec<(Xy, Xy)> {
        match pts {
            [] => Vec::new(),
            [one] => vec![(*one, *one)],
            _ => pts.windows(2).map(|w| (w[0], w[1])).collect(),
        }
    };
    match item.tool {
        Tool::Pen | Tool::Highlighter | Tool::Line | Tool::Arrow => polyline(&pts),
        Tool::Rect => match pts.as_slice() {
            [a, b] => rect_edges(*a, *b),
            _ => polyline(&pts),
        },
        Tool::Ellipse => match pts.as_slice() {
            [a, b] => {
                // In f64: stored values may be anywhere in i32, and their sum is not.
                let (ax, ay, bx, by) = (
                    f64::from(a.0),
                    f64::from(a.1),
                    f64::from(b.0),
                    f64::from(b.1),
                );
                let (cx, cy) = ((ax + bx) / 2.0, (ay + by) / 2.0);
                let (rx, ry) = ((bx - ax).abs() / 2.0, (by - ay).abs() / 2.0);
                let ring: Vec<Xy> = (0..=32)
                    .map(|k| {
                        let t = f64::from(k) / 32.0 * std::f64::consts::TAU;
                        ((cx + rx * t.cos()) as i32, (cy + ry * t.sin()) as i32)
                    })
                    .collect();
                polyline(&ring)
            }
            _ => polyline(&pts),
        },
        Tool::Text => {
            let (a, b) = text_box(item);
            rect_edges(a, b)
        }
    }
}

fn rect_edges(a: Xy, b: Xy) -> Vec<(Xy, Xy)> {
    let (c, d) = ((b.0, a.1), (a.0, b.1));
    vec![(a, c), (c, b), (b, d), (d, a)]
}

/// `(min x, min y, max x, max y)`.
pub type Box2 = (f64, f64, f64, f64);

/// The box around points; an empty box (that overlaps nothing) for none.
pub fn bounds_of_points(points: &[Xy]) -> Box2 {
    let mut b = EMPTY;
    for (x, y) in points {
        let (x, y) = (f64::from(*x), f64::from(*y));
        b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y));
    }
    b
}

pub fn union(a: Box2, b: Box2) -> Box2 {
    (a.0.min(b.0), a.1.min(b.1), a.2.max(b.2), a.3.max(b.3))
}

pub fn pad(b: Box2, by: f64) -> Box2 {
    (b.0 - by, b.1 - by, b.2 + by, b.3 + by)
}

/// The box around a set of segments, grown by `pad` on every side.
fn bounds<'a>(segs: impl IntoIterator<Item = &'a (Xy, Xy)>, pad: f64) -> Box2 {
    let mut b = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for (p, q) in segs {
        for (x, y) in [p, q] {
            let (x, y) = (f64::from(*x), f64::from(*y));
            b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y));
        }
    }
    (b.0 - pad, b.1 - pad, b.2 + pad, b.3 + pad)
}

pub fn overlap(a: Box2, b: Box2) -> bool {
    a.0 <= b.2 && b.0 <= a.2 && a.1 <= b.3 && b.1 <= a.3
}

/// Outline segments are grouped in runs of this many behind one box, and runs in runs
/// of runs, so the eraser descends only where it passes near the item: a long stroke
/// costs little where the eraser does not go.
const RUN: usize = 16;

/// An item's outline with a tree of boxes over it (level 0: boxes of `RUN` segments;
/// level k: boxes of `RUN` boxes of level k - 1).
struct Outline {
    segs: Vec<(Xy, Xy)>,
    levels: Vec<Vec<Box2>>,
}

impl Outline {
    fn new(segs: Vec<(Xy, Xy)>, reach: f64) -> Outline {
        let mut levels = vec![
            segs.chunks(RUN)
                .map(|run| bounds(run, reach))
                .collect::<Vec<_>>(),
        ];
        while levels.last().is_some_and(|l| l.len() > RUN) {
            let up = levels
                .last()
                .map(|l| {
                    l.chunks(RUN)
                        .map(|c| c.iter().copied().fold(EMPTY, union))
                        .collect()
                })
                .unwrap_or_default();
            levels.push(up);
        }
        Outline { segs, levels }
    }

    /// Whether eraser segment `e` comes within `reach` of the outline, spending budget
    /// per box and per distance. `None` when the budget ran out.
    fn near(&self, e: (Xy, Xy), reach2: f64, budget: &mut u64) -> Option<bool> {
        let e_box = bounds(std::iter::once(&e), 0.0);
        let top = self.levels.len() - 1;
        let mut stack: Vec<(usize, usize)> =
            (0..self.levels[top].len()).map(|i| (top, i)).collect();
        while let Some((level, i)) = stack.pop() {
            *budget = budget.checked_sub(1)?;
            if !overlap(self.levels[level][i], e_box) {
                continue;
            }
            if level == 0 {
                let run = &self.segs[i * RUN..((i + 1) * RUN).min(self.segs.len())];
                *budget = budget.checked_sub(run.len() as u64)?;
                if run.iter().any(|s| segment_distance2(*s, e) <= reach2) {
                    return Some(true);
                }
            } else {
                let below = self.levels[level - 1].len();
                stack.extend((i * RUN..((i + 1) * RUN).min(below)).map(|j| (level - 1, j)));
            }
        }
        Some(false)
    }
}

const EMPTY: Box2 = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);

/// Whether an eraser of `radius` dragged along `path` touches the item, spending one unit
/// of `budget` per point decoded, box compared and segment distance taken. `None` when
/// the budget ran out first: the caller refuses the command rather than stall the room.
pub fn touches(item: &BoardItem, path: &[Xy], radius: u16, budget: &mut u64) -> Option<bool> {
    let reach = f64::from(radius) + f64::from(item.width) / 2.0;
    let reach2 = reach * reach;
    let eraser: Vec<(Xy, Xy)> = match path {
        [] => return Some(false),
        [one] => vec![(*one, *one)],
        _ => path.windows(2).map(|w| (w[0], w[1])).collect(),
    };
    if item.tool == Tool::Text {
        let (a, b) = text_box(item);
        let inside = |p: &Xy| p.0 >= a.0 && p.0 <= b.0 && p.1 >= a.1 && p.1 <= b.1;
        *budget = budget.checked_sub(path.len() as u64)?;
        if path.iter().any(inside) {
            return Some(true);
        }
    }
    *budget = budget.checked_sub(item.points.len() as u64 / 3 + 1)?;
    let segs = outline(item);
    let item_box = bounds(&segs, reach);
    if !overlap(item_box, bounds(&eraser, 0.0)) {
        return Some(false);
    }
    *budget = budget.checked_sub(segs.len() as u64 / RUN as u64 + 1)?;
    let outline = Outline::new(segs, reach);
    for e in eraser {
        if outline.near(e, reach2, budget)? {
            return Some(true);
        }
    }
    Some(false)
}

/// Squared distance between two segments.
pub fn segment_distance2(s: (Xy, Xy), t: (Xy, Xy)) -> f64 {
    if segments_cross(s, t) {
        return 0.0;
    }
    point_segment2(s.0, t)
        .min(point_segment2(s.1, t))
        .min(point_segment2(t.0, s))
        .min(point_segment2(t.1, s))
}

fn point_segment2(p: Xy, s: (Xy, Xy)) -> f64 {
    let (px, py) = (f64::from(p.0), f64::from(p.1));
    let (ax, ay) = (f64::from(s.0.0), f64::from(s.0.1));
    let (bx, by) = (f64::from(s.1.0), f64::from(s.1.1));
    let (dx, dy) = (bx - ax, by - ay);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (((px - ax) * dx + (py - ay) * dy) / len2).clamp(0.0, 1.0)
    };
    let (cx, cy) = (ax + t * dx, ay + t * dy);
    (px - cx) * (px - cx) + (py - cy) * (py - cy)
}

fn segments_cross(s: (Xy, Xy), t: (Xy, Xy)) -> bool {
    let orient = |a: Xy, b: Xy, c: Xy| -> i64 {
        let v = (i64::from(b.0) - i64::from(a.0)) * (i64::from(c.1) - i64::from(a.1))
            - (i64::from(b.1) - i64::from(a.1)) * (i64::from(c.0) - i64::from(a.0));
        v.signum()
    };
    let (d1, d2) = (orient(t.0, t.1, s.0), orient(t.0, t.1, s.1));
    let (d3, d4) = (orient(s.0, s.1, t.0), orient(s.0, s.1, t.1));
    d1 * d2 < 0 && d3 * d4 < 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use aula_proto::{ItemId, MemberId, PageId, Seq};

    fn item(tool: Tool, points: Vec<i32>) -> BoardItem {
        BoardItem {
            id: ItemId("a/1".into()),
            page: PageId("p1".into()),
            author: MemberId("a".into()),
            tool,
            color: 0,
            width: 4,
            points,
            text: None,
            z: Seq(1),
            open: false,
        }
    }

    #[test]
    fn decode_is_cumulative() {
        assert_eq!(
            decode(&[10, 20, 100, 1, -2, 5, 3, 3, -5]),
            vec![(10, 20, 100), (11, 18, 105), (14, 21, 100)]
        );
        assert_eq!(advance((10, 20, 100), &[1, -2, 5, 3, 3, -5]), (14, 21, 100));
    }

    #[test]
    fn eraser_hits_a_stroke_it_crosses_and_misses_one_far_away() {
        let stroke = item(Tool::Pen, vec![0, 0, 0, 100, 0, 0]);
        let t = |path: &[Xy], r| touches(&stroke, path, r, &mut { u64::MAX }).unwrap();
        assert!(t(&[(50, -50), (50, 50)], 1));
        assert!(t(&[(50, 8)], 10));
        assert!(!t(&[(50, 30), (80, 30)], 10));
    }

    #[test]
    fn a_spent_budget_says_so_instead_of_answering() {
        let long: Vec<i32> = (0..2000).flat_map(|_| [1, 1, 0]).collect();
        let mut stroke = item(Tool::Pen, long);
        stroke.points[0] = 0;
        let path: Vec<Xy> = (0..500).map(|i| (i * 4, i * 4 + 30)).collect();
        assert_eq!(touches(&stroke, &path, 1, &mut 100), None);
        let mut plenty = u64::MAX;
        assert_eq!(touches(&stroke, &path, 1, &mut plenty), Some(false));
        assert!(plenty < u64::MAX);
    }

    #[test]
    fn rectangle_is_hit_on_its_edge_not_inside() {
        let rect = item(Tool::Rect, vec![0, 0, 0, 100, 100, 0]);
        assert_eq!(touches(&rect, &[(100, 50)], 3, &mut 1000), Some(true));
        assert_eq!(touches(&rect, &[(50, 50)], 3, &mut 1000), Some(false));
    }

    #[test]
    fn text_is_hit_anywhere_in_its_box() {
        let mut text = item(Tool::Text, vec![0, 0, 0]);
        text.width = 20;
        text.text = Some("hello".into());
        assert_eq!(touches(&text, &[(30, 10)], 1, &mut 1000), Some(true));
        assert_eq!(touches(&text, &[(300, 300)], 1, &mut 1000), Some(false));
    }
}
