//! Display names as members may carry them. A name is what every screen shows beside a
//! tile and a chat line, so it must read as what it is: no invisible or direction-
//! changing characters, and no student dressed up as the staff.

use aula_proto::Role;

pub const MAX_NAME_CHARS: usize = 64;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum NameError {
    #[error("a name is 1 to 64 visible characters")]
    Length,
    #[error("a student's name may not look like a teacher's or the staff's")]
    Impersonation,
}

/// Characters that draw nothing or reorder what follows: controls, bidirectional
/// overrides and isolates, zero-width joiners and spaces, fillers, variation selectors
/// and tags. (Unicode's Cc and Cf, plus the fillers that render blank.)
fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c as u32,
            0x00AD | 0x034F | 0x061C | 0x070F | 0x115F | 0x1160 | 0x17B4 | 0x17B5
            | 0x180B..=0x180F | 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x206F
            | 0x3164 | 0xFE00..=0xFE0F | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFFB
            | 0x1D173..=0x1D17A | 0xE0000..=0xE0FFF)
}

/// A name as people type it, made safe to show: invisible characters dropped, runs of
/// any kind of space made one space, trimmed; 1 to 64 characters left. A student's name
/// may not read as a staff title (in a few languages, through look-alike letters too).
pub fn display_name(raw: &str, role: Role) -> Result<String, NameError> {
    let mut name = String::with_capacity(raw.len().min(4 * MAX_NAME_CHARS));
    let mut space = false;
    for c in raw.chars().filter(|c| !invisible(*c)) {
        if c.is_whitespace() {
            space = !name.is_empty();
            continue;
        }
        if space {
            name.push(' ');
            space = false;
        }
        name.push(c);
        if name.len() > 8 * MAX_NAME_CHARS {
            return Err(NameError::Length);
        }
    }
    let count = name.chars().count();
    if !(1..=MAX_NAME_CHARS).contains(&count) {
        return Err(NameError::Length);
    }
    if role == Role::Student && looks_like_staff(&name) {
        return Err(NameError::Impersonation);
    }
    Ok(name)
}

/// Titles a student may not take, matched anywhere in the folded name.
const TITLES: &[&str] = &[
    "teacher",
    "moderator",
    "admin",
    "operator",
    "professor",
    "profesor",
    "professeur",
    "docente",
    "instructor",
];
/// Words a student may not take as its whole name.
const WHOLE: &[&str] = &["host", "aula", "system", "server", "staff", "tutor"];

/// The name as letters only, lower case, with digits and look-alike letters from other
/// scripts folded to the Latin letter they pass for.
fn skeleton(name: &str) -> String {
    name.chars()
        .flat_map(char::to_lowercase)
        .filter_map(|c| {
            Some(match c {
                '0' | 'о' | 'ο' | 'օ' => 'o',
                '1' | '!' | '|' | 'і' | 'ı' | 'ι' | 'ӏ' => 'i',
                '3' | 'е' | 'ε' | 'ё' => 'e',
                '4' | '@' | 'а' | 'α' => 'a',
                '5' | '$' | 'ѕ' => 's',
                '7' | 'т' | 'τ' => 't',
                'с' | 'ϲ' => 'c',
                'һ' | 'н' => 'h',
                'р' | 'ρ' => 'p',
                'х' | 'χ' => 'x',
                'у' | 'γ' => 'y',
                'к' | 'κ' => 'k',
                'м' => 'm',
                'ν' => 'v',
                'ԁ' => 'd',
                'ѵ' => 'v',
                'ɡ' => 'g',
                c if c.is_alphabetic() => c,
                _ => return None,
            })
        })
        .collect()
}

fn looks_like_staff(name: &str) -> bool {
    let s = skeleton(name);
    // A lower-case `l` passes for a capital `I` ("ADMlN").
    let s = s.replace('l', "i");
    TITLES.iter().any(|t| s.contains(t)) || WHOLE.iter().any(|w| w.replace('l', "i") == s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn student(s: &str) -> Result<String, NameError> {
        display_name(s, Role::Student)
    }

    #[test]
    fn names_are_trimmed_and_spaces_collapsed() {
        assert_eq!(student("  Ana \n María ").unwrap(), "Ana María");
        assert_eq!(student("Zoë\u{7}").unwrap(), "Zoë");
        assert_eq!(student("   "), Err(NameError::Length));
        assert_eq!(student(&"x".repeat(65)), Err(NameError::Length));
        assert_eq!(student("\u{200B}\u{202E}"), Err(NameError::Length));
    }

    #[test]
    fn invisible_and_reordering_characters_are_dropped() {
        assert_eq!(student("Bea\u{202E}trix").unwrap(), "Beatrix");
        assert_eq!(student("B\u{200D}o\u{FEFF}b\u{2066}").unwrap(), "Bob");
    }

    #[test]
    fn students_cannot_pass_for_the_teacher() {
        for fake in [
            "Teacher",
            "teacher ",
            "T e a c h e r",
            "Te\u{200B}acher",
            "Tеacher",
            "TEACHER (real)",
            "Mr Teacher",
            "T3acher",
            "Admin",
            "Profesor García",
            "host",
            "Au1a",
        ] {
            assert_eq!(student(fake), Err(NameError::Impersonation), "{fake:?}");
        }
        for fine in [
            "Ana",
            "Hosteen",
            "Aulani",
            "Theo",
            "Stafford",
            "\u{202E}rehcaeT",
        ] {
            assert!(student(fine).is_ok(), "{fine:?}");
        }
    }

    #[test]
    fn teachers_may_call_themselves_anything() {
        assert_eq!(display_name("Teacher", Role::Teacher).unwrap(), "Teacher");
    }
}
