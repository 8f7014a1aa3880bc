//! The engagement score: 0 to 100 per student, from five signals. The formula and its
//! weights are documented, with a worked example, in `docs/ENGAGEMENT.md`; keep the two
//! in step.

/// What the score is made of, for one student over a class session so far.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Signals {
    /// Length of the session so far (since the class first had someone in it).
    pub class_ms: u64,
    /// Connected with the tab in view.
    pub active_ms: u64,
    /// Camera on while connected.
    pub camera_ms: u64,
    /// Connected at all.
    pub present_ms: u64,
    pub quizzes_asked: u32,
    pub quizzes_answered: u32,
    pub quizzes_right: u32,
    /// Sum over answered quizzes of how quickly they came, each 0 (at or past
    /// [`SLOW_ANSWER_MS`]) to 1 (at once).
    pub answer_speed: f64,
    pub chat_messages: u32,
    pub board_items: u32,
}

pub const WEIGHT_ATTENDANCE: f64 = 0.30;
pub const WEIGHT_CAMERA: f64 = 0.15;
pub const WEIGHT_QUIZ: f64 = 0.25;
pub const WEIGHT_CHAT: f64 = 0.15;
pub const WEIGHT_BOARD: f64 = 0.15;
/// An answer this slow (or slower) earns nothing for speed.
pub const SLOW_ANSWER_MS: u64 = 30_000;
/// Chat lines (and board items) at which that signal reaches 63% of its weight.
pub const CHAT_SCALE: f64 = 3.0;
pub const BOARD_SCALE: f64 = 3.0;

/// Each signal as a part in 0..=1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Parts {
    pub attendance: f64,
    pub camera: f64,
    pub quiz: Option<f64>,
    pub chat: f64,
    pub board: f64,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        (a as f64 / b as f64).clamp(0.0, 1.0)
    }
}

/// How quickly an answer came: 1 at once, falling linearly to 0 at [`SLOW_ANSWER_MS`].
pub fn speed(response_ms: u64) -> f64 {
    1.0 - ratio(response_ms.min(SLOW_ANSWER_MS), SLOW_ANSWER_MS)
}

pub fn parts(s: &Signals) -> Parts {
    let quiz = (s.quizzes_asked > 0).then(|| {
        let asked = f64::from(s.quizzes_asked);
        let answered = f64::from(s.quizzes_answered.min(s.quizzes_asked)) / asked;
        let right = f64::from(s.quizzes_right.min(s.quizzes_answered).min(s.quizzes_asked)) / asked;
        let quick = (s.answer_speed.max(0.0) / asked).min(answered);
        (0.5 * answered + 0.3 * right + 0.2 * quick).clamp(0.0, 1.0)
    });
    Parts {
        attendance: ratio(s.active_ms, s.class_ms),
        camera: ratio(s.camera_ms, s.present_ms.max(1)),
        quiz,
        chat: 1.0 - (-f64::from(s.chat_messages) / CHAT_SCALE).exp(),
        board: 1.0 - (-f64::from(s.board_items) / BOARD_SCALE).exp(),
    }
}

/// The score, 0 to 100. With no quiz asked yet the quiz weight is left out and the others
/// share the whole, so nobody loses points for a quiz that never came.
pub fn score(s: &Signals) -> u8 {
    let p = parts(s);
    let mut sum = WEIGHT_ATTENDANCE * p.attendance
        + WEIGHT_CAMERA * p.camera
        + WEIGHT_CHAT * p.chat
        + WEIGHT_BOARD * p.board;
    let mut weights = WEIGHT_ATTENDANCE + WEIGHT_CAMERA + WEIGHT_CHAT + WEIGHT_BOARD;
    if let Some(q) = p.quiz {
        sum += WEIGHT_QUIZ * q;
        weights += WEIGHT_QUIZ;
    }
    (100.0 * sum / weights).round().clamp(0.0, 100.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of docs/ENGAGEMENT.md.
    #[test]
    fn the_documented_example() {
        let s = Signals {
            class_ms: 40 * 60_000,
            present_ms: 36 * 60_000,
            active_ms: 30 * 60_000,
            camera_ms: 18 * 60_000,
            quizzes_asked: 2,
            quizzes_answered: 2,
            quizzes_right: 1,
            answer_speed: speed(6_000) + speed(15_000),
            chat_messages: 2,
            board_items: 0,
        };
        let p = parts(&s);
        assert!((p.attendance - 0.75).abs() < 1e-9);
        assert!((p.camera - 0.5).abs() < 1e-9);
        assert!((p.quiz.unwrap() - 0.78).abs() < 1e-9);
        assert!((p.chat - 0.4866).abs() < 1e-3);
        assert_eq!(p.board, 0.0);
        assert_eq!(score(&s), 57);
    }

    #[test]
    fn nothing_scores_zero_and_everything_scores_one_hundred() {
        assert_eq!(score(&Signals::default()), 0);
        let all = Signals {
            class_ms: 1000,
            present_ms: 1000,
            active_ms: 1000,
            camera_ms: 1000,
            quizzes_asked: 3,
            quizzes_answered: 3,
            quizzes_right: 3,
            answer_speed: 3.0,
            chat_messages: 1000,
            board_items: 1000,
        };
        assert_eq!(score(&all), 100);
    }
}
