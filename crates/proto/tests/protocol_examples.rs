//! PROTOCOL.md's inline MSG-frame example ("Frames on stream 0": the `ping`
//! request in its MSG frame, with its fields spelled out in parentheses) is read
//! from the document at test time and decoded with natter-proto's real frame
//! codec: every field the text names must be what the bytes decode to, the
//! frame must re-encode to the same bytes, and its data must be the `ping`
//! frame of the document's one-line chat examples (which
//! `crates/api/tests/protocol_doc.rs` checks against the chat codec).

use std::collections::BTreeSet;
use std::path::PathBuf;

use natter_proto::frame::{self, Frame, MsgFrame};

/// Where the example sits: the text just before its backquoted hex.
const ANCHOR: &str = "travels in this MSG frame: `";
/// The chat example whose bytes the MSG frame carries.
const PING_LINE: &str = r#"ClientFrame {"request":{"id":4,"body":"ping"}}"#;

fn read_doc() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../PROTOCOL.md");
    std::fs::read_to_string(path).expect("reading PROTOCOL.md")
}

/// The document with every run of whitespace made one space (the example is
/// wrapped across lines).
fn flat(doc: &str) -> String {
    doc.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The example's hex and the text of its parenthesised description.
fn msg_example(flat_doc: &str) -> (String, String) {
    let start = flat_doc
        .find(ANCHOR)
        .expect("PROTOCOL.md lost the MSG-frame example of `ping`")
        + ANCHOR.len();
    let rest = &flat_doc[start..];
    let end = rest.find('`').expect("the example's closing backquote");
    let after = rest[end + 1..].trim_start();
    let described = after
        .strip_prefix('(')
        .and_then(|d| d.split_once(')'))
        .map(|(inside, _)| inside)
        .expect("a parenthesised description follows the example");
    (rest[..end].to_owned(), described.to_owned())
}

fn parse_hex(hex: &str) -> Result<Vec<u8>, String> {
    hex.split_whitespace()
        .map(|pair| match pair.len() {
            2 => u8::from_str_radix(pair, 16).map_err(|e| format!("`{pair}`: {e}")),
            _ => Err(format!("`{pair}` is not a hex byte")),
        })
        .collect()
}

/// The bytes of the document's one-line example `PING_LINE = HEX`.
fn ping_bytes(doc: &str) -> Vec<u8> {
    let line = doc
        .lines()
        .find(|l| l.starts_with(PING_LINE))
        .expect("PROTOCOL.md lost the one-line `ping` example");
    let (_, hex) = line.rsplit_once(" = ").expect("`TYPE JSON = HEX`");
    parse_hex(hex).expect("the ping example's hex")
}

/// Checks `hex` against the description `described` ("type MSG, stream 0, …,
/// len 3, then the frame") and the frame bytes `payload`.
fn check(hex: &str, described: &str, payload: &[u8]) -> Result<(), String> {
    let bytes = parse_hex(hex)?;
    let frames: Vec<_> = frame::iter(&bytes).collect();
    let msg = match frames.as_slice() {
        [Ok(Frame::Msg(msg))] => msg.clone(),
        other => return Err(format!("want exactly one MSG frame, decoded {other:?}")),
    };
    // Distinct names: a field named twice must not stand in for one missing.
    let mut named = BTreeSet::new();
    for part in described.split(", ") {
        let (name, value) = part
            .split_once(' ')
            .ok_or_else(|| format!("`{part}`: want `NAME VALUE`"))?;
        let decoded = match name {
            "type" => {
                if value != "MSG" {
                    return Err(format!("documented type {value}, decoded MSG"));
                }
                named.insert(name);
                continue;
            }
            "then" => continue,
            "stream" => msg.stream,
            "msg_id" => msg.msg_id,
            "conn_offset" => msg.conn_offset,
            "total_len" => msg.total_len,
            "offset" => msg.offset,
            "len" => msg.data.len() as u64,
            _ => return Err(format!("unknown field `{name}` in `{described}`")),
        };
        let value: u64 = value
            .parse()
            .map_err(|e| format!("`{part}`: the value is not a number: {e}"))?;
        if value != decoded {
            return Err(format!("documented {name} {value}, decoded {decoded}"));
        }
        named.insert(name);
    }
    if named.len() != 7 {
        return Err(format!(
            "want all 7 fields named, `{described}` names {named:?}"
        ));
    }
    if msg.data != payload {
        return Err(format!(
            "the data is {:02x?}, the documented frame {payload:02x?}",
            msg.data
        ));
    }
    let mut again = Vec::new();
    frame::encode_msg(&mut again, &msg);
    if again != bytes {
        return Err(format!("re-encodes to {again:02x?}, not {bytes:02x?}"));
    }
    Ok(())
}

#[test]
fn the_msg_frame_example_decodes_as_documented() {
    let doc = read_doc();
    let (hex, described) = msg_example(&flat(&doc));
    let ping = ping_bytes(&doc);
    if let Err(e) = check(&hex, &described, &ping) {
        panic!("PROTOCOL.md's MSG-frame example `{hex}` ({described}): {e}");
    }
    // The first message of a connection: stream 0, msg_id 0, conn_offset 0,
    // and the whole message in this one fragment.
    let bytes = parse_hex(&hex).expect("hex");
    let Some(Ok(Frame::Msg(msg))) = frame::iter(&bytes).next() else {
        panic!("not a MSG frame");
    };
    let whole = MsgFrame {
        stream: 0,
        msg_id: 0,
        conn_offset: 0,
        total_len: ping.len() as u64,
        offset: 0,
        data: &ping,
    };
    assert_eq!(msg, whole);
}

#[test]
fn a_wrong_example_is_caught() {
    let desc =
        "type MSG, stream 0, msg_id 0, conn_offset 0, total_len 3, offset 0, len 3, then the frame";
    let ping = [0x00, 0x04, 0x0a];
    assert_eq!(check("03 00 00 00 03 00 03 00 04 0a", desc, &ping), Ok(()));
    // total_len 4 in the bytes, 3 in the text.
    assert!(check("03 00 00 00 04 00 03 00 04 0a", desc, &ping).is_err());
    // Another stream in the text.
    let other = desc.replace("stream 0", "stream 1");
    assert!(check("03 00 00 00 03 00 03 00 04 0a", &other, &ping).is_err());
    // A field left out of the text.
    let short = desc.replace(", offset 0,", ",");
    assert!(check("03 00 00 00 03 00 03 00 04 0a", &short, &ping).is_err());
    // A field named twice in place of one left out.
    let twice = desc.replace(", offset 0,", ", stream 0,");
    let named_twice = check("03 00 00 00 03 00 03 00 04 0a", &twice, &ping);
    assert!(
        named_twice
            .as_ref()
            .is_err_and(|e| e.contains("want all 7 fields")),
        "a repeated field stood in for a missing one: {named_twice:?}"
    );
    // Other frame bytes.
    assert!(check("03 00 00 00 03 00 03 00 04 0b", desc, &ping).is_err());
    // Trailing bytes (a second frame).
    assert!(check("03 00 00 00 03 00 03 00 04 0a 01", desc, &ping).is_err());
    // Not a MSG frame.
    assert!(check("01", desc, &ping).is_err());
}
