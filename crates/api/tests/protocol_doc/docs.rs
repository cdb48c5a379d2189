//! The first sentence of each variant's and field's doc comment in
//! `crates/api/src`, for the "meaning" column of the generated tables.
//!
//! A deliberately small reader of our own source layout (rustfmt output):
//! a type starts with `pub enum Name` or `pub struct Name` at column 0 and
//! ends at a `}` line; its variants and fields sit at four spaces, each
//! after its `///` lines (attributes in between are skipped).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// (type name, serde name of the variant or field) → one-line summary.
pub(crate) struct Docs(HashMap<(String, String), String>);

impl Docs {
    /// Reads every `.rs` file under natter-api's `src/`.
    pub(crate) fn load() -> Self {
        let mut files = Vec::new();
        rust_files(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        files.sort();
        let mut map = HashMap::new();
        for path in files {
            let text = std::fs::read_to_string(&path).expect("reading an api source file");
            read_file(&text, &mut map);
        }
        Self(map)
    }

    /// The summary of `member` of `container`, or an empty string.
    pub(crate) fn get(&self, container: &str, member: &str) -> String {
        match (container, member) {
            // std's `Result`, which has no source here.
            ("Result", "Ok") => return "The request succeeded.".into(),
            ("Result", "Err") => return "The request failed.".into(),
            _ => {}
        }
        let key = (container.to_owned(), member.to_owned());
        self.0.get(&key).cloned().unwrap_or_default()
    }
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("listing crates/api/src") {
        let path = entry.expect("listing crates/api/src").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

fn read_file(text: &str, map: &mut HashMap<(String, String), String>) {
    let mut container: Option<String> = None;
    let mut doc: Vec<&str> = Vec::new();
    for line in text.lines() {
        if let Some(name) = type_start(line) {
            // A one-line type (`pub struct Id(pub u64);`) has no members.
            container = (!line.ends_with(';')).then_some(name);
            doc.clear();
            continue;
        }
        let Some(current) = &container else { continue };
        if line == "}" {
            container = None;
        } else if let Some(d) = line.strip_prefix("    /// ") {
            doc.push(d);
        } else if line == "    ///" {
            doc.push("");
        } else if line.starts_with("    #[") {
            // An attribute between the doc and its item.
        } else if let Some(member) = member_name(line) {
            map.insert((current.clone(), member), summary(&doc));
            doc.clear();
        } else if !line.starts_with("        ") {
            doc.clear();
        }
    }
}

/// `pub enum Name …` / `pub struct Name …` at column 0.
fn type_start(line: &str) -> Option<String> {
    let rest = line
        .strip_prefix("pub enum ")
        .or_else(|| line.strip_prefix("pub struct "))?;
    let name: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    Some(name)
}

/// The serde name of a variant (`    Name {`, `    Name(`, `    Name,`) or a
/// field (`    pub name: T,`) at four spaces.
fn member_name(line: &str) -> Option<String> {
    let rest = line.strip_prefix("    ")?;
    if rest.starts_with(' ') {
        return None;
    }
    let rest = rest.strip_prefix("pub ").unwrap_or(rest);
    let ident: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    let after = rest[ident.len()..].chars().next();
    if ident.is_empty() || !matches!(after, Some(' ' | '(' | ',' | ':')) {
        return None;
    }
    Some(snake_case(&ident))
}

/// `ConversationsPage` → `conversations_page`; snake_case stays as it is.
fn snake_case(ident: &str) -> String {
    let mut out = String::new();
    for (i, c) in ident.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The first sentence, plus the response a request names (`→ X`) when that
/// comes later; intra-doc links become plain code spans.
fn summary(doc: &[&str]) -> String {
    let paragraph: Vec<&str> = doc.iter().copied().take_while(|l| !l.is_empty()).collect();
    let text = paragraph.join(" ");
    let mut first = match text.find(". ") {
        Some(end) => text[..=end].to_owned(),
        None => text.clone(),
    };
    if !first.contains('→')
        && let Some(arrow) = text.find("→ `")
    {
        let rest = &text[arrow + "→ `".len()..];
        let target = rest.split('`').next().unwrap_or_default();
        first.push_str(&format!(" → `{target}`."));
    }
    plain(&first)
}

fn plain(text: &str) -> String {
    text.replace("[`", "`")
        .replace("`]", "`")
        .replace("crate::", "")
        .replace('|', "\\|")
}

#[test]
fn reads_variants_fields_and_their_docs() {
    let src = "\
/// The type.
pub enum Thing {
    /// Make one. More text.
    /// → `Made`.
    MakeOne {
        /// Not a member of Thing.
        inner: u8,
    },
    /// Plain [`crate::Other`].
    #[serde(skip)]
    Unit,
}

pub struct Rec {
    /// Its id.
    pub id: u64,
}
";
    let mut map = HashMap::new();
    read_file(src, &mut map);
    let docs = Docs(map);
    assert_eq!(docs.get("Thing", "make_one"), "Make one. → `Made`.");
    assert_eq!(docs.get("Thing", "unit"), "Plain `Other`.");
    assert_eq!(docs.get("Rec", "id"), "Its id.");
    assert_eq!(docs.get("Thing", "inner"), "");
}
