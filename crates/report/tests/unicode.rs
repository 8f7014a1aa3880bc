//! PDF reports carry names in every script: drawn from DejaVu Sans (installed by
//! `scripts/setup.sh`) and read back with poppler's `pdftotext`.

use std::process::Command;

use aula_proto::*;
use aula_report::{ReportFonts, pdf, summary_pdf};

const NAMES: &[&str] = &[
    "Zoë Ñandú",
    "Łukasz Żółć",
    "Αλέξης Παππάς",
    "Иван Петров",
    "דנה לוי",
    "Nguyễn Thị Hà",
    "李雷",
];

fn student(i: usize, name: &str) -> StudentReport {
    StudentReport {
        attendance: Attendance {
            member: MemberId(format!("m{i}")),
            name: name.into(),
            intervals: vec![(1_000, 61_000)],
            first_join_ms: Some(1_000),
            last_leave_ms: Some(61_000),
            present_ms: 60_000,
            active_ms: 60_000,
            hidden_ms: 0,
            camera_ms: 0,
            mostly_hidden: false,
        },
        chat_messages: 0,
        board_items: 0,
        quizzes_answered: 0,
        quizzes_right: 0,
        score: (10 * i) as u8,
        parts: EngagementParts {
            attendance: 1.0,
            camera: 0.0,
            quiz: None,
            chat: 0.0,
            board: 0.0,
        },
    }
}

fn report() -> ClassReport {
    ClassReport {
        class_id: "c1".into(),
        generated_at_ms: 1_795_688_160_568,
        session: 1,
        sessions: 1,
        started_at_ms: Some(1_795_688_000_000),
        ended_at_ms: Some(1_795_688_160_000),
        students: NAMES
            .iter()
            .enumerate()
            .map(|(i, n)| student(i, n))
            .collect(),
        quizzes: vec![],
    }
}

fn text_of(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) runs");
    assert!(
        out.status.success(),
        "pdftotext: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fonts() -> ReportFonts {
    ReportFonts::system().expect("DejaVu Sans is installed (fonts-dejavu-core)")
}

#[test]
fn session_pdf_keeps_every_script() {
    let fonts = fonts();
    let bytes = pdf(&report(), Some(&fonts));
    if let Ok(dir) = std::env::var("AULA_REPORT_OUT") {
        std::fs::write(
            std::path::Path::new(&dir).join("unicode-report.pdf"),
            &bytes,
        )
        .unwrap();
    }
    let text = text_of(&bytes);
    for name in NAMES {
        assert!(text.contains(name), "{name} is missing from:\n{text}");
    }
    // Only the glyphs used are embedded: the font file alone is ~750 KiB.
    assert!(bytes.len() < 200_000, "{} bytes", bytes.len());
    // Without the font, the same report still renders, in Latin-1.
    let plain = text_of(&pdf(&report(), None));
    assert!(plain.contains("Zoë Ñandú"));
    assert!(!plain.contains("Иван"));
}

#[test]
fn weekly_pdf_keeps_every_script() {
    let periods = aula_room::summary::by_period(&[report()], &[], Period::Week, 60, 0);
    let text = text_of(&summary_pdf(&periods, Some(&fonts())));
    for name in NAMES {
        assert!(text.contains(name), "{name} is missing from:\n{text}");
    }
    assert!(text.contains("weekly attendance and engagement"), "{text}");
}

#[test]
fn a_file_that_is_not_a_font_is_a_clear_error() {
    let e = ReportFonts::from_bytes(b"not a font".to_vec(), b"nor this".to_vec())
        .err()
        .expect("refused");
    assert!(
        e.to_string().contains("not a TrueType/OpenType font"),
        "{e}"
    );
    let e = ReportFonts::load(
        std::path::Path::new("/nonexistent/a.ttf"),
        std::path::Path::new("/nonexistent/b.ttf"),
    )
    .err()
    .expect("refused");
    assert!(e.to_string().contains("cannot read the font"), "{e}");
}
