//! `eraser`: what one area-eraser command costs the room's task, worst case. The
//! attack run found 0.15 s (release) for one call over long zigzag strokes; the room
//! now spends at most `MAX_ERASE_WORK` steps and refuses past it. This times
//! `Room::apply` for: the attack's shape (five 20,000-point zigzag strokes, a 512-point
//! path beside them), a path over a board filled to its 1,000,000-point budget (refused
//! when the budget runs out: the true worst case), and an ordinary erase stroke.

use std::time::Instant;

use aula_proto::{CommandId, DrawPolicy, ItemId, MemberId, PageId, Role, RoomCommand, Tool};
use aula_room::{
    FIRST_PAGE, Identity, MAX_BATCH_POINTS, MAX_BOARD_POINTS, MAX_ERASE_WORK, MAX_STROKE_POINTS,
    Room,
};

#[derive(clap::Args, Clone)]
pub struct EraserArgs {
    /// Runs of each case; the median and the worst are printed.
    #[arg(long, default_value_t = 21)]
    runs: usize,
}

fn class() -> Room {
    let mut room = Room::new("bench");
    for (id, role) in [("t", Role::Teacher), ("a", Role::Student)] {
        let who = Identity {
            id: MemberId(id.into()),
            name: id.into(),
            role,
            owner: id == "t",
        };
        let _ = room.join(0, who);
    }
    let policy = RoomCommand::SetDrawPolicy {
        draw: DrawPolicy::Everyone,
        allowed: vec![],
    };
    let _ = room.apply(1, &MemberId("t".into()), &CommandId("p".into()), policy);
    room
}

/// `strokes` strokes of the largest size, row `s` at y = 40 s, shaped by `dy(k)`.
fn fill(room: &mut Room, strokes: i32, dy: impl Fn(usize) -> i32) {
    let a = MemberId("a".into());
    let steps = |from: usize, n: usize| -> Vec<i32> {
        (from..from + n).flat_map(|k| [4, dy(k), 0]).collect()
    };
    for s in 0..strokes {
        let item = ItemId(format!("a/{s}"));
        let mut first = vec![0, s * 40, 0];
        first.extend(steps(1, MAX_BATCH_POINTS - 1));
        let start = RoomCommand::StartStroke {
            item: item.clone(),
            page: PageId(FIRST_PAGE.into()),
            tool: Tool::Pen,
            color: 0,
            width: 1,
            points: first,
        };
        room.apply(2, &a, &CommandId(format!("s{s}")), start)
            .expect("stroke starts");
        for b in 1..MAX_STROKE_POINTS / MAX_BATCH_POINTS {
            let more = RoomCommand::AppendStroke {
                item: item.clone(),
                points: steps(b * MAX_BATCH_POINTS, MAX_BATCH_POINTS),
            };
            room.apply(3, &a, &CommandId(format!("s{s}b{b}")), more)
                .expect("points fit");
        }
        let end = RoomCommand::EndStroke { item };
        room.apply(4, &a, &CommandId(format!("s{s}e")), end)
            .expect("stroke ends");
    }
}

fn time(room: &Room, runs: usize, path: &[i32], radius: u16) -> (f64, f64, String) {
    let t = MemberId("t".into());
    let mut ms = Vec::new();
    let mut outcome = String::new();
    for r in 0..runs {
        // A clone per run: an erase that hits changes the board.
        let mut room = room.clone();
        let cmd = RoomCommand::EraseArea {
            page: PageId(FIRST_PAGE.into()),
            path: path.to_vec(),
            radius,
        };
        let start = Instant::now();
        let res = room.apply(10, &t, &CommandId(format!("e{r}")), cmd);
        ms.push(start.elapsed().as_secs_f64() * 1000.0);
        outcome = match res {
            Ok(a) => format!("applied, {} event(s)", a.events.len()),
            Err(e) => format!("refused: {}", e.code().as_str()),
        };
    }
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], ms[ms.len() - 1], outcome)
}

pub fn run(args: EraserArgs) -> anyhow::Result<()> {
    println!(
        "eraser: one erase_area command on the room's task (budget {MAX_ERASE_WORK} steps), median / worst of {} runs",
        args.runs
    );
    let mut zigzag = class();
    fill(&mut zigzag, 5, |k| if k % 2 == 0 { 30 } else { -30 });
    let beside: Vec<i32> = (0..512).flat_map(|k| [k * 150, 215]).collect();
    let through: Vec<i32> = (0..512)
        .flat_map(|k| [k * 150, 15 + (k % 5) * 40])
        .collect();
    let mut full = class();
    let strokes = (MAX_BOARD_POINTS / MAX_STROKE_POINTS) as i32;
    fill(&mut full, strokes, |k| if k % 64 < 32 { 1 } else { -1 });
    let over_all = vec![-10, -10, 90_000, 40 * strokes + 10];
    let cases: [(&str, &Room, Vec<i32>, u16); 4] = [
        (
            "attack shape: 5 zigzag strokes x 20k points, 512-point path beside them",
            &zigzag,
            beside,
            1,
        ),
        (
            "5 zigzag strokes, 512-point path through them",
            &zigzag,
            through,
            12,
        ),
        (
            "full board (1M points), path over every stroke",
            &full,
            over_all,
            1,
        ),
        (
            "ordinary stroke of the eraser (4 points) on the full board",
            &full,
            vec![2, 5, 2, 60, 40, 60, 40, 5],
            12,
        ),
    ];
    for (what, room, path, radius) in cases {
        let (median, worst, outcome) = time(room, args.runs, &path, radius);
        println!("  {what}: {median:.2} ms / {worst:.2} ms ({outcome})");
    }
    crate::report::time_checkpoint("full board (1M points)", &full, args.runs)?;
    Ok(())
}
