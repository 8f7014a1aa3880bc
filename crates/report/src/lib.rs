//! Attendance and engagement reports of a class, rendered from a [`ClassReport`] (one
//! session) or [`PeriodReport`]s (weeks or months of sessions): CSV for spreadsheets and
//! a PDF with a table and charts for printing. Pure: bytes in memory.

use std::fmt::Write;

mod font;

use aula_proto::{ClassReport, Period, PeriodReport, QuestionKind};

use font::Fonts;
pub use font::{FontError, ReportFonts};

/// Characters a spreadsheet may take as a field separator when it guesses the format
/// (comma, semicolon in many European locales, tab), and line ends.
const SEPARATORS: [char; 5] = [',', ';', '\t', '\r', '\n'];

/// Characters that make a spreadsheet read a cell as a formula (or a DDE call, `|`),
/// with their full-width forms.
const FORMULA_STARTS: [char; 9] = [
    '=', '+', '-', '@', '|', '\u{ff1d}', '\u{ff0b}', '\u{ff0d}', '\u{ff20}',
];

/// Defuses formulas: a `'` goes before a formula character that starts the text, or that
/// starts a piece after any separator character (spaces and quotes in between do not
/// count), so no spreadsheet runs a student's name or answer as a formula, whichever
/// separator it splits on and even if it ignores the quoting.
fn defuse(s: &str) -> (String, bool) {
    let mut out = String::with_capacity(s.len() + 2);
    let mut piece_start = true;
    let mut changed = false;
    for c in s.chars() {
        if SEPARATORS.contains(&c) {
            piece_start = true;
        } else if piece_start && FORMULA_STARTS.contains(&c) {
            out.push('\'');
            changed = true;
            piece_start = false;
        } else if !(c.is_whitespace() || c == '"') {
            piece_start = false;
        }
        out.push(c);
    }
    (out, changed)
}

/// A CSV text field (RFC 4180), formulas defused. Quoted when it holds a separator of
/// any locale, a quote, a line end, surrounding space, or was defused.
fn field(s: &str) -> String {
    let (s, defused) = defuse(s);
    let quote = defused
        || s.contains(SEPARATORS)
        || s.contains('"')
        || s.starts_with(char::is_whitespace)
        || s.ends_with(char::is_whitespace);
    if quote {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn seconds(ms: u64) -> String {
    format!("{:.0}", ms as f64 / 1000.0)
}

/// One row per student: attendance, engagement, then each quiz's answer and seconds.
pub fn csv(r: &ClassReport) -> String {
    let mut out = String::from(
        "member,name,first_join_ms,last_leave_ms,intervals,present_s,active_s,hidden_s,camera_s,mostly_hidden,chat_messages,board_items,quizzes_answered,quizzes_right,score",
    );
    for (i, q) in r.quizzes.iter().enumerate() {
        let _ = write!(
            out,
            ",{},{}",
            field(&format!("quiz {}: {}", i + 1, q.info.question.prompt)),
            field(&format!("quiz {} seconds", i + 1))
        );
    }
    out.push('\n');
    for s in &r.students {
        let opt = |v: Option<u64>| v.map(|x| x.to_string()).unwrap_or_default();
        let _ = write!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            field(&s.attendance.member.0),
            field(&s.attendance.name),
            opt(s.attendance.first_join_ms),
            opt(s.attendance.last_leave_ms),
            s.attendance.intervals.len(),
            seconds(s.attendance.present_ms),
            seconds(s.attendance.active_ms),
            seconds(s.attendance.hidden_ms),
            seconds(s.attendance.camera_ms),
            s.attendance.mostly_hidden,
            s.chat_messages,
            s.board_items,
            s.quizzes_answered,
            s.quizzes_right,
            s.score
        );
        for q in &r.quizzes {
            match q
                .answers
                .iter()
                .find(|a| a.member.as_ref() == Some(&s.attendance.member))
            {
                Some(a) => {
                    let answer = if q.info.question.kind == QuestionKind::ShortAnswer {
                        a.answer.text.clone().unwrap_or_default()
                    } else {
                        a.answer
                            .choices
                            .iter()
                            .filter_map(|&c| q.info.question.options.get(c as usize))
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(" | ")
                    };
                    let _ = write!(
                        out,
                        ",{},{:.1}",
                        field(&answer),
                        a.response_ms as f64 / 1000.0
                    );
                }
                None => out.push_str(",,"),
            }
        }
        out.push('\n');
    }
    out
}

/// One row per student per period: sessions attended, attendance share, times, average
/// score and quiz counts. Roster students who never came have their row, at zero.
pub fn summary_csv(periods: &[PeriodReport]) -> String {
    let mut out = String::from(
        "period,from_ms,to_ms,sessions,member,name,on_roster,sessions_attended,attendance_pct,present_s,active_s,hidden_s,camera_s,average_score,quizzes_answered,quizzes_right,chat_messages,board_items\n",
    );
    for p in periods {
        for s in &p.students {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                field(&p.label),
                p.from_ms,
                p.to_ms,
                p.sessions.len(),
                field(&s.member.0),
                field(&s.name),
                s.on_roster,
                s.sessions_attended,
                s.attendance_pct,
                seconds(s.present_ms),
                seconds(s.active_ms),
                seconds(s.hidden_ms),
                seconds(s.camera_ms),
                s.average_score.map(|v| v.to_string()).unwrap_or_default(),
                s.quizzes_answered,
                s.quizzes_right,
                s.chat_messages,
                s.board_items
            );
        }
    }
    out
}

// ---- PDF ----

/// A4 landscape, in points.
const PAGE_W: f64 = 842.0;
const PAGE_H: f64 = 595.0;
const MARGIN: f64 = 40.0;
const ROW: f64 = 16.0;

/// Year-month-day hour:minute (UTC) of ms since the Unix epoch.
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (h, m) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    let (y, mo, d) = aula_room::summary::civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02} UTC")
}

/// One page's drawing operators.
#[derive(Default)]
struct Page {
    ops: Vec<u8>,
}

impl Page {
    fn text(&mut self, fonts: &mut Fonts, x: f64, y: f64, size: f64, bold: bool, s: &str) {
        self.ops.extend(fonts.show(x, y, size, bold, s));
    }

    fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, rgb: (f64, f64, f64)) {
        self.ops.extend_from_slice(
            format!(
                "{:.3} {:.3} {:.3} rg {x:.1} {y:.1} {w:.1} {h:.1} re f 0 0 0 rg\n",
                rgb.0, rgb.1, rgb.2
            )
            .as_bytes(),
        );
    }
}

/// Red (0) through yellow to green (100), as the heatmap colours scores.
fn score_rgb(score: u8) -> (f64, f64, f64) {
    let s = f64::from(score.min(100)) / 100.0;
    if s < 0.5 {
        (0.8, 0.2 + 1.2 * s, 0.15)
    } else {
        (1.6 * (1.0 - s), 0.75, 0.2)
    }
}

fn min(ms: u64) -> String {
    format!("{:.1}", ms as f64 / 60_000.0)
}

/// The report as a PDF: a heading, a table of every student with a bar for its score,
/// then each quiz with its answer counts as bars.
pub fn pdf(r: &ClassReport, fonts: Option<&ReportFonts>) -> Vec<u8> {
    let mut fonts = Fonts::new(fonts);
    let mut pages = vec![Page::default()];
    let mut y = PAGE_H - MARGIN;
    let page = |pages: &mut Vec<Page>, y: &mut f64, need: f64| {
        if *y - need < MARGIN {
            pages.push(Page::default());
            *y = PAGE_H - MARGIN;
        }
    };
    let last = |pages: &mut Vec<Page>| pages.len() - 1;

    let p = &mut pages[0];
    p.text(
        &mut fonts,
        MARGIN,
        y - 18.0,
        18.0,
        true,
        "Aula - attendance and engagement",
    );
    y -= 36.0;
    let started = r.started_at_ms.map(utc).unwrap_or_else(|| "-".into());
    p.text(
        &mut fonts,
        MARGIN,
        y,
        10.0,
        false,
        &format!(
            "Class {} - started {started} - report of {}",
            r.class_id,
            utc(r.generated_at_ms)
        ),
    );
    y -= 28.0;
    let cols = [
        (MARGIN, "Student"),
        (230.0, "Present"),
        (290.0, "Active"),
        (345.0, "Hidden"),
        (400.0, "Camera"),
        (455.0, "Quizzes"),
        (515.0, "Chat"),
        (555.0, "Board"),
        (600.0, "Score"),
    ];
    let header = |p: &mut Page, fonts: &mut Fonts, y: f64| {
        for (x, t) in cols {
            p.text(fonts, x, y, 9.0, true, t);
        }
        p.text(
            fonts,
            650.0,
            y,
            9.0,
            true,
            "(minutes; quizzes answered/right)",
        );
    };
    header(&mut pages[0], &mut fonts, y);
    y -= ROW;
    for s in &r.students {
        page(&mut pages, &mut y, ROW);
        let i = last(&mut pages);
        if y == PAGE_H - MARGIN {
            header(&mut pages[i], &mut fonts, y);
            y -= ROW;
        }
        let p = &mut pages[i];
        let name = if s.attendance.mostly_hidden {
            format!("{} (mostly away)", s.attendance.name)
        } else {
            s.attendance.name.clone()
        };
        let cells = [
            name,
            min(s.attendance.present_ms),
            min(s.attendance.active_ms),
            min(s.attendance.hidden_ms),
            min(s.attendance.camera_ms),
            format!("{}/{}", s.quizzes_answered, s.quizzes_right),
            s.chat_messages.to_string(),
            s.board_items.to_string(),
            s.score.to_string(),
        ];
        for ((x, _), c) in cols.iter().zip(cells.iter()) {
            p.text(&mut fonts, *x, y, 9.0, false, c);
        }
        p.rect(
            650.0,
            y - 1.0,
            1.5 * f64::from(s.score),
            9.0,
            score_rgb(s.score),
        );
        y -= ROW;
    }
    if r.students.is_empty() {
        let i = last(&mut pages);
        pages[i].text(
            &mut fonts,
            MARGIN,
            y,
            10.0,
            false,
            "No student has joined yet.",
        );
        y -= ROW;
    }
    for (n, q) in r.quizzes.iter().enumerate() {
        let options = q.info.question.options.len().max(1) as f64;
        page(&mut pages, &mut y, 30.0 + ROW * options);
        let i = last(&mut pages);
        let p = &mut pages[i];
        y -= 12.0;
        let kind = match q.info.question.kind {
            QuestionKind::SingleChoice => "single choice",
            QuestionKind::MultipleChoice => "multiple choice",
            QuestionKind::TrueFalse => "true or false",
            QuestionKind::ShortAnswer => "short answer",
            QuestionKind::Poll => "poll",
        };
        p.text(
            &mut fonts,
            MARGIN,
            y,
            11.0,
            true,
            &format!(
                "Quiz {}: {} ({kind}, {} answered)",
                n + 1,
                q.info.question.prompt,
                q.answered
            ),
        );
        y -= ROW;
        let mut tally = vec![0u32; q.info.question.options.len()];
        for a in &q.answers {
            for &c in &a.answer.choices {
                if let Some(t) = tally.get_mut(c as usize) {
                    *t += 1;
                }
            }
        }
        let most = tally.iter().copied().max().unwrap_or(0).max(1);
        for (k, opt) in q.info.question.options.iter().enumerate() {
            let right = q.info.question.correct.contains(&(k as u8));
            p.text(
                &mut fonts,
                MARGIN + 10.0,
                y,
                9.0,
                right,
                &format!("{}. {opt}{}", k + 1, if right { " (right)" } else { "" }),
            );
            let w = 300.0 * f64::from(tally[k]) / f64::from(most);
            p.rect(330.0, y - 1.0, w.max(1.0), 9.0, (0.12, 0.53, 0.9));
            p.text(&mut fonts, 340.0 + w, y, 9.0, false, &tally[k].to_string());
            y -= ROW;
        }
        if q.info.question.kind == QuestionKind::ShortAnswer {
            for a in q.answers.iter().take(30) {
                let mark = match a.correct {
                    Some(true) => "right",
                    Some(false) => "wrong",
                    None => "not marked",
                };
                p.text(
                    &mut fonts,
                    MARGIN + 10.0,
                    y,
                    9.0,
                    false,
                    &format!("{} ({mark})", a.answer.text.as_deref().unwrap_or("")),
                );
                y -= ROW;
            }
        }
    }
    write_pdf(&pages, &fonts)
}

/// Weekly or monthly reports as a PDF: per period, a chart of each session's average
/// score, then a table of every student with a bar for its attendance share.
pub fn summary_pdf(periods: &[PeriodReport], fonts: Option<&ReportFonts>) -> Vec<u8> {
    let mut fonts = Fonts::new(fonts);
    let mut pages = vec![Page::default()];
    let mut y = PAGE_H - MARGIN;
    let kind = match periods.first().map(|p| p.period) {
        Some(Period::Month) => "monthly",
        _ => "weekly",
    };
    pages[0].text(
        &mut fonts,
        MARGIN,
        y - 18.0,
        18.0,
        true,
        &format!("Aula - {kind} attendance and engagement"),
    );
    y -= 40.0;
    if periods.is_empty() {
        pages[0].text(
            &mut fonts,
            MARGIN,
            y,
            10.0,
            false,
            "The class has had no session yet.",
        );
    }
    let cols = [
        (MARGIN, "Student"),
        (230.0, "Sessions"),
        (290.0, "Attendance"),
        (360.0, "Present"),
        (415.0, "Active"),
        (470.0, "Hidden"),
        (525.0, "Score"),
        (570.0, "Quizzes"),
    ];
    for p in periods {
        // A period starts a page unless it fits whole with its chart.
        let need = 110.0 + ROW * (p.students.len() as f64 + 2.0);
        if y - need < MARGIN && y < PAGE_H - MARGIN - 40.0 {
            pages.push(Page::default());
            y = PAGE_H - MARGIN;
        }
        let last = pages.len() - 1;
        let page = &mut pages[last];
        let offset = i64::from(p.utc_offset_min) * 60_000;
        let local = |ms: u64| utc((ms as i64 + offset).max(0) as u64).replace(" UTC", "");
        page.text(
            &mut fonts,
            MARGIN,
            y,
            13.0,
            true,
            &format!(
                "{} - {} session(s), {} min in all",
                p.label,
                p.sessions.len(),
                min(p.session_ms)
            ),
        );
        y -= ROW;
        page.text(
            &mut fonts,
            MARGIN,
            y,
            9.0,
            false,
            &format!(
                "{} to {} (UTC{:+}:{:02}); average score per session:",
                local(p.from_ms),
                local(p.to_ms),
                p.utc_offset_min / 60,
                (p.utc_offset_min % 60).abs()
            ),
        );
        y -= 8.0;
        // Columns of each session's average score, 0–100 over 60 pt.
        let base = y - 66.0;
        for (i, s) in p.sessions.iter().enumerate().take(40) {
            let x = MARGIN + 10.0 + i as f64 * 18.0;
            let score = s.average_score.unwrap_or(0);
            page.rect(
                x,
                base,
                12.0,
                0.6 * f64::from(score).max(1.0),
                score_rgb(score),
            );
            page.text(
                &mut fonts,
                x,
                base - 10.0,
                7.0,
                false,
                &s.session.to_string(),
            );
        }
        y = base - 26.0;
        for (x, t) in cols {
            page.text(&mut fonts, x, y, 9.0, true, t);
        }
        page.text(&mut fonts, 630.0, y, 9.0, true, "(minutes)");
        y -= ROW;
        for s in &p.students {
            if y < MARGIN + ROW {
                pages.push(Page::default());
                y = PAGE_H - MARGIN;
            }
            let last = pages.len() - 1;
            let page = &mut pages[last];
            let name = if s.on_roster {
                s.name.clone()
            } else {
                format!("{} (not on roster)", s.name)
            };
            let cells = [
                name,
                format!("{}/{}", s.sessions_attended, p.sessions.len()),
                format!("{}%", s.attendance_pct),
                min(s.present_ms),
                min(s.active_ms),
                min(s.hidden_ms),
                s.average_score
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "-".into()),
                format!("{}/{}", s.quizzes_answered, s.quizzes_right),
            ];
            for ((x, _), c) in cols.iter().zip(cells.iter()) {
                page.text(&mut fonts, *x, y, 9.0, false, c);
            }
            page.rect(
                630.0,
                y - 1.0,
                1.5 * f64::from(s.attendance_pct).max(1.0),
                9.0,
                score_rgb(s.attendance_pct),
            );
            y -= ROW;
        }
        y -= 20.0;
    }
    write_pdf(&pages, &fonts)
}

fn write_pdf(pages: &[Page], fonts: &Fonts) -> Vec<u8> {
    let mut out: Vec<u8> = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets: Vec<usize> = vec![0];
    let object = |out: &mut Vec<u8>, offsets: &mut Vec<usize>, body: &[u8]| {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", offsets.len() - 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    };
    // 1 catalog, 2 page tree, 3-4 fonts, then a page and its content per page.
    let kids: Vec<String> = (0..pages.len())
        .map(|i| format!("{} 0 R", 5 + 2 * i))
        .collect();
    object(&mut out, &mut offsets, b"<< /Type /Catalog /Pages 2 0 R >>");
    object(
        &mut out,
        &mut offsets,
        format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            kids.join(" "),
            pages.len()
        )
        .as_bytes(),
    );
    object(
        &mut out,
        &mut offsets,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    );
    object(
        &mut out,
        &mut offsets,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
    );
    // The embedded fonts' objects come after the pages.
    let first_font = 5 + 2 * pages.len();
    let resources = fonts.resources(first_font);
    for (i, p) in pages.iter().enumerate() {
        object(
            &mut out,
            &mut offsets,
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}] /Resources << /Font << {resources} >> >> /Contents {} 0 R >>",
                6 + 2 * i
            )
            .as_bytes(),
        );
        object(&mut out, &mut offsets, &font::stream(&p.ops));
    }
    for body in fonts.objects(first_font) {
        object(&mut out, &mut offsets, &body);
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", offsets.len()).as_bytes());
    for off in &offsets[1..] {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            offsets.len()
        )
        .as_bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("Ana"), "Ana");
        assert_eq!(field("Smith, Jo"), "\"Smith, Jo\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=SUM(A1)"), "\"'=SUM(A1)\"");
    }

    #[test]
    fn formulas_after_any_separator_are_defused() {
        // A semicolon-separated spreadsheet would see `=2+3` as a cell of its own.
        assert_eq!(field("Bea;=2+3"), "\"Bea;'=2+3\"");
        assert_eq!(field("Bea,  +1"), "\"Bea,  '+1\"");
        assert_eq!(field("a\t@SUM(1)"), "\"a\t'@SUM(1)\"");
        assert_eq!(field("x\n-1"), "\"x\n'-1\"");
        assert_eq!(field("\t=1"), "\"\t'=1\"");
        assert_eq!(field(" =1"), "\" '=1\"");
        assert_eq!(field("a;\"=1"), "\"a;\"\"'=1\"");
        assert_eq!(field("|cmd"), "\"'|cmd\"");
        assert_eq!(field("\u{ff1d}1+1"), "\"'\u{ff1d}1+1\"");
        // Inside a word they are ordinary characters.
        assert_eq!(field("Jean-Luc"), "Jean-Luc");
        assert_eq!(field("a@b.org"), "a@b.org");
        assert_eq!(field("2+2?"), "2+2?");
        assert_eq!(field("Ana; Ben"), "\"Ana; Ben\"");
    }

    /// Reads one RFC 4180 field back.
    fn unquote(f: &str) -> String {
        match f.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            Some(inner) => inner.replace("\"\"", "\""),
            None => f.to_owned(),
        }
    }

    proptest::proptest! {
        #[test]
        fn no_piece_of_a_field_starts_a_formula(s in "[=+@|;,\t\r\n \"a1-]{0,12}|\\PC{0,16}") {
            let f = field(&s);
            // Whatever a spreadsheet splits on, and even if it ignores quotes, no piece
            // begins (after spaces and quotes) with a formula character.
            for piece in f.split(SEPARATORS) {
                let start = piece.trim_start_matches(|c: char| c.is_whitespace() || c == '"');
                proptest::prop_assert!(
                    !start.starts_with(FORMULA_STARTS),
                    "{s:?} gave {f:?}, piece {piece:?}"
                );
            }
            // A field is one CSV field: quoted when it holds a separator or a quote.
            if s.contains(SEPARATORS) || s.contains('"') {
                proptest::prop_assert!(f.starts_with('"') && f.ends_with('"') && f.len() >= 2);
            }
            // And it reads back as the text, with only the defusing quotes added.
            proptest::prop_assert_eq!(unquote(&f).replace('\'', ""), s.replace('\'', ""));
        }
    }

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_795_688_160_568), "2026-11-26 10:16 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00 UTC");
    }

    #[test]
    fn pdf_text_escapes_and_replaces() {
        assert_eq!(font::latin1("a(b)\\c"), b"a\\(b\\)\\\\c".to_vec());
        assert_eq!(font::latin1("Zoë 李"), vec![b'Z', b'o', 0xEB, b' ', b'?']);
    }
}
