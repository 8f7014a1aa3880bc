//! Text in any script for the PDF reports. The 14 standard PDF fonts only know Latin-1,
//! and students are named in every script a school has. With a TrueType font given,
//! each glyph the report uses is drawn from the font's outline into a Type 3 font
//! (at most 256 glyphs per font object, as many objects as needed), with a ToUnicode
//! map so the text can still be searched, copied and read back by `pdftotext`. Only the
//! glyphs used are written: a report stays a few tens of KiB whatever the font's size.
//! Characters the font lacks are drawn as its "missing" box and still read back right.

use std::collections::HashMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use ttf_parser::{Face, GlyphId, OutlineBuilder};

/// Where Debian (package fonts-dejavu-core) and most Linux systems keep DejaVu Sans.
const SYSTEM_FONTS: &[(&str, &str)] = &[
    (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    ),
    (
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum FontError {
    #[error("cannot read the font {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0} is not a TrueType/OpenType font: {1}")]
    Parse(String, ttf_parser::FaceParsingError),
}

/// A regular and a bold face for the reports, checked to parse.
pub struct ReportFonts {
    regular: Vec<u8>,
    bold: Vec<u8>,
}

impl ReportFonts {
    pub fn from_bytes(regular: Vec<u8>, bold: Vec<u8>) -> Result<Self, FontError> {
        Face::parse(&regular, 0).map_err(|e| FontError::Parse("the regular face".into(), e))?;
        Face::parse(&bold, 0).map_err(|e| FontError::Parse("the bold face".into(), e))?;
        Ok(ReportFonts { regular, bold })
    }

    pub fn load(regular: &Path, bold: &Path) -> Result<Self, FontError> {
        let read = |p: &Path| std::fs::read(p).map_err(|e| FontError::Read(p.to_owned(), e));
        let (r, b) = (read(regular)?, read(bold)?);
        Face::parse(&r, 0).map_err(|e| FontError::Parse(regular.display().to_string(), e))?;
        Face::parse(&b, 0).map_err(|e| FontError::Parse(bold.display().to_string(), e))?;
        Ok(ReportFonts {
            regular: r,
            bold: b,
        })
    }

    /// DejaVu Sans from the system's usual places, if it is installed.
    pub fn system() -> Option<Self> {
        SYSTEM_FONTS
            .iter()
            .find_map(|(r, b)| Self::load(Path::new(r), Path::new(b)).ok())
    }
}

/// The fonts one PDF is written with.
pub(crate) enum Fonts<'a> {
    /// Helvetica in WinAnsi: Latin-1 only, other characters become `?`.
    Standard,
    Embedded {
        regular: Box<Type3Set<'a>>,
        bold: Box<Type3Set<'a>>,
    },
}

impl<'a> Fonts<'a> {
    pub(crate) fn new(fonts: Option<&'a ReportFonts>) -> Self {
        match fonts.and_then(|f| {
            Some((
                Face::parse(&f.regular, 0).ok()?,
                Face::parse(&f.bold, 0).ok()?,
            ))
        }) {
            Some((r, b)) => Fonts::Embedded {
                regular: Box::new(Type3Set::new(r, "R")),
                bold: Box::new(Type3Set::new(b, "B")),
            },
            None => Fonts::Standard,
        }
    }

    /// The operators that show `s` at (x, y) in points.
    pub(crate) fn show(&mut self, x: f64, y: f64, size: f64, bold: bool, s: &str) -> Vec<u8> {
        let mut out = format!("BT {x:.1} {y:.1} Td ").into_bytes();
        match self {
            Fonts::Standard => {
                let font = if bold { "F2" } else { "F1" };
                out.extend_from_slice(format!("/{font} {size} Tf (").as_bytes());
                out.extend_from_slice(&latin1(s));
                out.extend_from_slice(b") Tj");
            }
            Fonts::Embedded { regular, bold: b } => {
                let set = if bold { b } else { regular };
                for (font, codes) in set.encode(&visual_order(s)) {
                    let hex: String = codes.iter().map(|c| format!("{c:02x}")).collect();
                    out.extend_from_slice(
                        format!("/{}{font} {size} Tf <{hex}> Tj ", set.prefix).as_bytes(),
                    );
                }
            }
        }
        out.extend_from_slice(b" ET\n");
        out
    }

    /// `/Name n 0 R` entries for the pages' font resources, given the object number the
    /// first embedded font object will have.
    pub(crate) fn resources(&self, first_obj: usize) -> String {
        let mut out = String::from("/F1 3 0 R /F2 4 0 R");
        if let Fonts::Embedded { regular, bold } = self {
            let mut n = first_obj;
            for set in [regular.as_ref(), bold.as_ref()] {
                for (i, glyphs) in set.fonts.iter().enumerate() {
                    let _ = write!(out, " /{}{i} {n} 0 R", set.prefix);
                    n += 2 + glyphs.len();
                }
            }
        }
        out
    }

    /// The embedded fonts' objects, in the order `resources` numbered them: for each
    /// font, its dictionary, its ToUnicode map, then one drawing per glyph.
    pub(crate) fn objects(&self, first_obj: usize) -> Vec<Vec<u8>> {
        let Fonts::Embedded { regular, bold } = self else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut n = first_obj;
        for set in [regular, bold] {
            for glyphs in &set.fonts {
                out.extend(set.font_objects(glyphs, n));
                n += 2 + glyphs.len();
            }
        }
        out
    }
}

/// The characters in the order they are drawn, left to right: Hebrew and Arabic runs
/// reversed by the Unicode bidirectional algorithm, so "דנה" is not shown as "הנד".
/// (Arabic letters are drawn in their isolated forms: no shaping.)
fn visual_order(s: &str) -> String {
    let info = unicode_bidi::BidiInfo::new(s, None);
    if !info.has_rtl() {
        return s.to_owned();
    }
    info.paragraphs
        .iter()
        .map(|p| info.reorder_line(p, p.range.clone()).into_owned())
        .collect()
}

/// Text for a PDF string in WinAnsi (Latin-1 here): other characters become `?`, and
/// the string's delimiters are escaped.
pub(crate) fn latin1(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        let b = match c as u32 {
            0x20..=0x7E | 0xA0..=0xFF => c as u32 as u8,
            _ => b'?',
        };
        if matches!(b, b'(' | b')' | b'\\') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// The glyphs of one face used so far, spread over Type 3 fonts of 256 codes each.
pub(crate) struct Type3Set<'a> {
    face: Face<'a>,
    prefix: &'static str,
    /// By glyph; characters the face lacks share its glyph 0, so they go by character,
    /// to read back as themselves.
    codes: HashMap<(u16, Option<char>), (usize, u8)>,
    /// Per font, by code: the glyph and the character it stands for.
    fonts: Vec<Vec<(GlyphId, char)>>,
}

impl<'a> Type3Set<'a> {
    fn new(face: Face<'a>, prefix: &'static str) -> Self {
        Type3Set {
            face,
            prefix,
            codes: HashMap::new(),
            fonts: Vec::new(),
        }
    }

    /// Runs of (font, codes) that show `s`.
    fn encode(&mut self, s: &str) -> Vec<(usize, Vec<u8>)> {
        let mut runs: Vec<(usize, Vec<u8>)> = Vec::new();
        for c in s.chars().filter(|c| !c.is_control()) {
            // Glyph 0 is the font's "missing" box.
            let gid = self.face.glyph_index(c).unwrap_or(GlyphId(0));
            let key = (gid.0, (gid.0 == 0).then_some(c));
            let (font, code) = match self.codes.get(&key) {
                Some(&fc) => fc,
                None => {
                    if self.fonts.last().is_none_or(|f| f.len() == 256) {
                        self.fonts.push(Vec::new());
                    }
                    let font = self.fonts.len() - 1;
                    let glyphs = &mut self.fonts[font];
                    glyphs.push((gid, c));
                    let fc = (font, (glyphs.len() - 1) as u8);
                    self.codes.insert(key, fc);
                    fc
                }
            };
            match runs.last_mut() {
                Some((f, codes)) if *f == font => codes.push(code),
                _ => runs.push((font, vec![code])),
            }
        }
        runs
    }

    fn font_objects(&self, glyphs: &[(GlyphId, char)], first: usize) -> Vec<Vec<u8>> {
        let upem = f64::from(self.face.units_per_em());
        let bbox = self.face.global_bounding_box();
        let advance = |g: GlyphId| self.face.glyph_hor_advance(g).unwrap_or(0);
        let procs: String = (0..glyphs.len())
            .map(|i| format!("/g{i} {} 0 R", first + 2 + i))
            .collect::<Vec<_>>()
            .join(" ");
        let names: String = (0..glyphs.len())
            .map(|i| format!("/g{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        let widths: String = glyphs
            .iter()
            .map(|(g, _)| advance(*g).to_string())
            .collect::<Vec<_>>()
            .join(" ");
        let dict = format!(
            "<< /Type /Font /Subtype /Type3 /FontBBox [{} {} {} {}] /FontMatrix [{s} 0 0 {s} 0 0] /CharProcs << {procs} >> /Encoding << /Type /Encoding /Differences [0 {names}] >> /FirstChar 0 /LastChar {} /Widths [{widths}] /ToUnicode {} 0 R /Resources << >> >>",
            bbox.x_min,
            bbox.y_min,
            bbox.x_max,
            bbox.y_max,
            glyphs.len() - 1,
            first + 1,
            s = 1.0 / upem,
        );
        let mut out = vec![dict.into_bytes(), stream(to_unicode(glyphs).as_bytes())];
        for (g, _) in glyphs {
            let mut path = Path2::default();
            let b = self.face.outline_glyph(*g, &mut path);
            let head = match b {
                Some(r) => format!(
                    "{} 0 {} {} {} {} d1\n",
                    advance(*g),
                    r.x_min,
                    r.y_min,
                    r.x_max,
                    r.y_max
                ),
                None => format!("{} 0 0 0 0 0 d1\n", advance(*g)),
            };
            let body = if b.is_some() {
                path.ops + "f\n"
            } else {
                String::new()
            };
            out.push(stream((head + &body).as_bytes()));
        }
        out
    }
}

/// A deflated stream object: report text and glyph outlines shrink about fivefold.
pub(crate) fn stream(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let packed = std::io::Write::write_all(&mut z, data)
        .and_then(|()| z.finish())
        .unwrap_or_default();
    let mut out = format!(
        "<< /Length {} /Filter /FlateDecode >>\nstream\n",
        packed.len()
    )
    .into_bytes();
    out.extend_from_slice(&packed);
    out.extend_from_slice(b"\nendstream");
    out
}

/// Code → Unicode, so the text reads back as the characters it shows.
fn to_unicode(glyphs: &[(GlyphId, char)]) -> String {
    let mut out = String::from(
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n/CMapName /Adobe-Identity-UCS def /CMapType 2 def\n1 begincodespacerange <00> <ff> endcodespacerange\n",
    );
    for (block, chunk) in glyphs.chunks(100).enumerate() {
        let _ = writeln!(out, "{} beginbfchar", chunk.len());
        for (i, (_, c)) in chunk.iter().enumerate() {
            let mut units = [0u16; 2];
            let hex: String = c
                .encode_utf16(&mut units)
                .iter()
                .map(|u| format!("{u:04x}"))
                .collect();
            let _ = writeln!(out, "<{:02x}> <{hex}>", block * 100 + i);
        }
        out.push_str("endbfchar\n");
    }
    out.push_str("endcmap CMapName currentdict /CMap defineresource pop end end\n");
    out
}

/// A glyph outline as PDF path operators, in font units. TrueType's quadratic curves
/// become the equivalent cubic ones.
#[derive(Default)]
struct Path2 {
    ops: String,
    last: (f32, f32),
}

impl OutlineBuilder for Path2 {
    fn move_to(&mut self, x: f32, y: f32) {
        let _ = writeln!(self.ops, "{x} {y} m");
        self.last = (x, y);
    }

    fn line_to(&mut self, x: f32, y: f32) {
        let _ = writeln!(self.ops, "{x} {y} l");
        self.last = (x, y);
    }

    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        let (x0, y0) = self.last;
        let c1 = (x0 + 2.0 / 3.0 * (x1 - x0), y0 + 2.0 / 3.0 * (y1 - y0));
        let c2 = (x + 2.0 / 3.0 * (x1 - x), y + 2.0 / 3.0 * (y1 - y));
        let _ = writeln!(
            self.ops,
            "{:.1} {:.1} {:.1} {:.1} {x} {y} c",
            c1.0, c1.1, c2.0, c2.1
        );
        self.last = (x, y);
    }

    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        let _ = writeln!(self.ops, "{x1} {y1} {x2} {y2} {x} {y} c");
        self.last = (x, y);
    }

    fn close(&mut self) {
        self.ops.push_str("h\n");
    }
}
