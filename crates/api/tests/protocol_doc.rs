//! PROTOCOL.md's chat layer is checked against the real types and codec:
//!
//! - the generated block (one table per frame, request, response, event and
//!   record type) must equal what `schema::render` makes of the serde types
//!   today; `NATTER_BLESS=1 cargo test -p natter-api --test protocol_doc`
//!   rewrites it after a deliberate change;
//! - every worked example (a ```` ```hex TYPE NAME ```` block and its
//!   ```` ```json TYPE NAME ```` twin) must decode with `natter_api::decode`
//!   to the value its JSON describes and re-encode to the same bytes.

#[path = "protocol_doc/docs.rs"]
mod docs;
#[path = "protocol_doc/schema.rs"]
mod schema;

use std::collections::BTreeMap;
use std::path::PathBuf;

use natter_api::{ClientFrame, ServerFrame, decode, decode_json, encode, encode_json};
use serde::Serialize;
use serde::de::DeserializeOwned;

const BEGIN: &str = "<!-- BEGIN GENERATED chat-types: crates/api/tests/protocol_doc.rs, \
                     NATTER_BLESS=1 to rewrite -->\n";
const END: &str = "<!-- END GENERATED chat-types -->\n";

fn protocol_md() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../PROTOCOL.md")
}

fn read_doc() -> String {
    std::fs::read_to_string(protocol_md()).expect("reading PROTOCOL.md")
}

/// The text between the markers, and where it sits in `doc`.
fn generated_span(doc: &str) -> std::ops::Range<usize> {
    let start = doc
        .find(BEGIN)
        .expect("PROTOCOL.md lacks the BEGIN GENERATED marker")
        + BEGIN.len();
    let len = doc[start..]
        .find(END)
        .expect("PROTOCOL.md lacks the END GENERATED marker");
    start..start + len
}

#[test]
fn generated_type_tables_match_the_types() {
    let rendered = schema::render(&schema::registry(), &docs::Docs::load());
    let doc = read_doc();
    let span = generated_span(&doc);
    if doc[span.clone()] == rendered {
        return;
    }
    if std::env::var_os("NATTER_BLESS").is_some_and(|v| v == "1") {
        let mut blessed = doc.clone();
        blessed.replace_range(span, &rendered);
        std::fs::write(protocol_md(), blessed).expect("writing PROTOCOL.md");
        return;
    }
    let first_diff = doc[span]
        .lines()
        .zip(rendered.lines())
        .find(|(a, b)| a != b)
        .map_or_else(
            || "one is a prefix of the other".to_owned(),
            |(a, b)| format!("document: {a}\ntypes:    {b}"),
        );
    panic!(
        "PROTOCOL.md's generated chat-type tables differ from crates/api. If the change \
         is deliberate (variants and fields only appended), run \
         `NATTER_BLESS=1 cargo test -p natter-api --test protocol_doc`.\n{first_diff}"
    );
}

/// One fenced block: its info string's words after the language, its text.
#[derive(Debug)]
struct Block {
    lang: String,
    ty: String,
    name: String,
    text: String,
}

/// Every fenced block whose info string is `LANG TYPE NAME`.
fn example_blocks(doc: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let body: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.starts_with("```"))
            .collect();
        let words: Vec<&str> = info.split_whitespace().collect();
        if let [lang @ ("hex" | "json"), ty, name] = words[..] {
            blocks.push(Block {
                lang: lang.to_owned(),
                ty: ty.to_owned(),
                name: name.to_owned(),
                text: body.join("\n"),
            });
        }
    }
    blocks
}

/// The bytes of an annotated hex block: on each line, the hex pairs before
/// an optional `#` comment.
fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    for line in text.lines() {
        let data = line.split('#').next().unwrap_or_default();
        for pair in data.split_whitespace() {
            let byte = u8::from_str_radix(pair, 16)
                .ok()
                .filter(|_| pair.len() == 2)
                .ok_or_else(|| format!("`{pair}` is not a hex byte (line `{line}`)"))?;
            bytes.push(byte);
        }
    }
    Ok(bytes)
}

/// Decodes both forms of one example, checks they agree and re-encode to
/// exactly the documented text.
fn check_pair<T>(name: &str, hex: &str, json: &str) -> Result<(), String>
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = parse_hex(hex)?;
    let from_bytes: T = decode(&bytes).map_err(|e| format!("{name}: postcard: {e}"))?;
    let from_json: T = decode_json(json).map_err(|e| format!("{name}: json: {e}"))?;
    if from_bytes != from_json {
        return Err(format!(
            "{name}: hex is {from_bytes:?}\n but json is {from_json:?}"
        ));
    }
    let again = encode(&from_json).map_err(|e| e.to_string())?;
    if again != bytes {
        return Err(format!("{name}: re-encoded as {}", hex_string(&again)));
    }
    let json_again = encode_json(&from_json).map_err(|e| e.to_string())?;
    if json_again != json.trim() {
        return Err(format!("{name}: json re-encoded as {json_again}"));
    }
    Ok(())
}

fn hex_string(bytes: &[u8]) -> String {
    let parts: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(" ")
}

/// Dispatches on the TYPE word of an example's info string.
fn check_example(ty: &str, name: &str, hex: &str, json: &str) -> Result<(), String> {
    match ty {
        "ClientFrame" => check_pair::<ClientFrame>(name, hex, json),
        "ServerFrame" => check_pair::<ServerFrame>(name, hex, json),
        "u64" => check_pair::<u64>(name, hex, json),
        "string" => check_pair::<String>(name, hex, json),
        "option-u64" => check_pair::<Option<u64>>(name, hex, json),
        "vec-string" => check_pair::<Vec<String>>(name, hex, json),
        "uuid" => check_pair::<uuid::Uuid>(name, hex, json),
        other => Err(format!("{name}: unknown example type `{other}`")),
    }
}

#[test]
fn documented_examples_decode_with_the_real_codec() {
    let doc = read_doc();
    let mut pairs: BTreeMap<(String, String), [Option<String>; 2]> = BTreeMap::new();
    for b in example_blocks(&doc) {
        let slot = usize::from(b.lang == "json");
        let entry = pairs.entry((b.ty, b.name.clone())).or_default();
        assert!(
            entry[slot].is_none(),
            "two `{} … {}` blocks",
            b.lang,
            b.name
        );
        entry[slot] = Some(b.text);
    }
    let mut failures = Vec::new();
    for ((ty, name), [hex, json]) in &pairs {
        let (Some(hex), Some(json)) = (hex, json) else {
            failures.push(format!("{name}: needs both a hex and a json block"));
            continue;
        };
        if let Err(e) = check_example(ty, name, hex, json) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let names: Vec<&str> = pairs.keys().map(|(_, n)| n.as_str()).collect();
    for wanted in ["login", "send", "sent", "message-event", "error"] {
        assert!(
            names.contains(&wanted),
            "PROTOCOL.md lost the `{wanted}` example"
        );
    }
}

/// The lines of every ```` ```examples ```` block: `TYPE JSON = HEX`.
fn example_lines(doc: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        if line.trim_end() == "```examples" {
            let body = lines.by_ref().take_while(|l| !l.starts_with("```"));
            out.extend(body.filter(|l| !l.trim().is_empty()).map(String::from));
        }
    }
    out
}

fn check_line(line: &str) -> Result<(), String> {
    let (ty, rest) = line
        .split_once(char::is_whitespace)
        .ok_or_else(|| format!("`{line}`: want `TYPE JSON = HEX`"))?;
    let (json, hex) = rest
        .rsplit_once(" = ")
        .ok_or_else(|| format!("`{line}`: want `TYPE JSON = HEX`"))?;
    check_example(ty, line, hex, json.trim())
}

#[test]
fn one_line_examples_decode_with_the_real_codec() {
    let lines = example_lines(&read_doc());
    assert!(lines.len() >= 5, "PROTOCOL.md lost its one-line examples");
    let failures: Vec<String> = lines.iter().filter_map(|l| check_line(l).err()).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_wrong_example_is_caught() {
    assert!(check_line("u64 300 = ac 03").is_err());
    assert!(check_line("u64 300 = 2c").is_err());
    assert!(check_line("u64 301 = ac 02").is_err());
    assert!(check_line(r#"ClientFrame {"request":{"id":4,"body":"ping"}} = 00 04 0b"#).is_err());
    assert!(check_line("u64 300 = ac 02 00").is_err(), "trailing bytes");
    assert!(check_line("u64 300 = ac 02").is_ok());
}

#[test]
fn hex_parser_reads_annotated_lines() {
    assert_eq!(
        parse_hex("00 ff   # a comment\n\n7f # x 12"),
        Ok(vec![0, 0xff, 0x7f])
    );
    assert!(parse_hex("0g").is_err());
    assert!(parse_hex("123").is_err());
}
