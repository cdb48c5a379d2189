//! Renders the chat layer's wire schema (every frame, request, response,
//! event and record, traced from the real serde types) as Markdown tables.

use std::collections::{BTreeSet, VecDeque};

use crate::docs::Docs;
use natter_api::{
    Anchor, ApiError, ClientFrame, ConversationKind, ErrorCode, Event, Order, Request, Response,
    Role, ServerFrame, Target,
};
use serde_reflection::{
    ContainerFormat, Format, Named, Registry, Tracer, TracerConfig, VariantFormat,
};

/// Every type reachable from the two frames, traced through serde exactly as
/// postcard sees it (not human-readable: a UUID is bytes).
pub(crate) fn registry() -> Registry {
    // A UUID refuses any length but 16 when the tracer hands it bytes.
    let config = TracerConfig::default().default_borrowed_bytes_value(&[0; 16]);
    let mut tracer = Tracer::new(config);
    trace_all(&mut tracer).expect("tracing the chat types");
    tracer.registry().expect(
        "an enum reachable from the frames is not traced in protocol_doc/schema.rs \
         trace_all: add it there",
    )
}

/// Traces every enum on its own (the tracer must see each variant of each).
fn trace_all(t: &mut Tracer) -> serde_reflection::Result<()> {
    t.trace_simple_type::<ClientFrame>()?;
    t.trace_simple_type::<ServerFrame>()?;
    t.trace_simple_type::<Request>()?;
    t.trace_simple_type::<Response>()?;
    t.trace_simple_type::<Event>()?;
    t.trace_simple_type::<Result<Response, ApiError>>()?;
    t.trace_simple_type::<ErrorCode>()?;
    t.trace_simple_type::<Target>()?;
    t.trace_simple_type::<Anchor>()?;
    t.trace_simple_type::<Order>()?;
    t.trace_simple_type::<ConversationKind>()?;
    t.trace_simple_type::<Role>()?;
    t.trace_simple_type::<natter_api::AdminRequest>()?;
    t.trace_simple_type::<natter_api::AdminResponse>()?;
    t.trace_simple_type::<natter_api::MessageAction>()?;
    t.trace_simple_type::<natter_api::ModAction>()?;
    t.trace_simple_type::<natter_api::Removal>()?;
    t.trace_simple_type::<natter_api::FileState>()?;
    Ok(())
}

/// The Markdown of every type, the frames first, then each type in the order
/// it is first referenced.
pub(crate) fn render(registry: &Registry, docs: &Docs) -> String {
    let mut out = String::new();
    for name in reachable_order(registry) {
        render_container(&mut out, registry, docs, &name);
    }
    out
}

/// Breadth-first from the two frames, in field order.
fn reachable_order(registry: &Registry) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    let mut queue: VecDeque<String> = ["ClientFrame", "ServerFrame"].map(String::from).into();
    while let Some(name) = queue.pop_front() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let mut refs = Vec::new();
        container_refs(&registry[&name], &mut refs);
        queue.extend(refs);
        order.push(name);
    }
    assert_eq!(order.len(), registry.len(), "unreachable types were traced");
    order
}

fn container_refs(c: &ContainerFormat, out: &mut Vec<String>) {
    match c {
        ContainerFormat::UnitStruct => {}
        ContainerFormat::NewTypeStruct(f) => format_refs(f, out),
        ContainerFormat::TupleStruct(fs) => fs.iter().for_each(|f| format_refs(f, out)),
        ContainerFormat::Struct(fs) => fs.iter().for_each(|f| format_refs(&f.value, out)),
        ContainerFormat::Enum(vs) => vs.values().for_each(|v| variant_refs(&v.value, out)),
    }
}

fn variant_refs(v: &VariantFormat, out: &mut Vec<String>) {
    match v {
        VariantFormat::Variable(_) | VariantFormat::Unit => {}
        VariantFormat::NewType(f) => format_refs(f, out),
        VariantFormat::Tuple(fs) => fs.iter().for_each(|f| format_refs(f, out)),
        VariantFormat::Struct(fs) => fs.iter().for_each(|f| format_refs(&f.value, out)),
    }
}

fn format_refs(f: &Format, out: &mut Vec<String>) {
    match f {
        Format::TypeName(name) => out.push(name.clone()),
        Format::Option(inner) | Format::Seq(inner) => format_refs(inner, out),
        Format::TupleArray { content, .. } => format_refs(content, out),
        Format::Map { key, value } => {
            format_refs(key, out);
            format_refs(value, out);
        }
        Format::Tuple(fs) => fs.iter().for_each(|f| format_refs(f, out)),
        _ => {}
    }
}

fn render_container(out: &mut String, reg: &Registry, docs: &Docs, name: &str) {
    match &reg[name] {
        ContainerFormat::Enum(variants) => {
            out.push_str(&format!("#### `{name}` (enum)\n\n"));
            out.push_str("| index | variant | fields, in order | meaning |\n|---|---|---|---|\n");
            for (index, v) in variants {
                let fields = variant_fields(reg, &v.value);
                let doc = docs.get(name, &v.name);
                out.push_str(&format!("| {index} | `{}` | {fields} | {doc} |\n", v.name));
            }
        }
        ContainerFormat::Struct(fields) => {
            out.push_str(&format!("#### `{name}` (struct)\n\n"));
            out.push_str("| # | field | type | meaning |\n|---|---|---|---|\n");
            for (i, f) in fields.iter().enumerate() {
                let ty = type_name(reg, &f.value);
                let doc = docs.get(name, &f.name);
                out.push_str(&format!("| {} | `{}` | {ty} | {doc} |\n", i + 1, f.name));
            }
        }
        other => panic!("{name}: no rendering for {other:?} (add one in protocol_doc/schema.rs)"),
    }
    out.push('\n');
}

fn variant_fields(reg: &Registry, v: &VariantFormat) -> String {
    match v {
        VariantFormat::Unit => "none".into(),
        VariantFormat::NewType(f) => type_name(reg, f),
        VariantFormat::Tuple(fs) => {
            let parts: Vec<_> = fs.iter().map(|f| type_name(reg, f)).collect();
            parts.join(", ")
        }
        VariantFormat::Struct(fs) => named_fields(reg, fs),
        VariantFormat::Variable(_) => panic!("variant format left unknown by the tracer"),
    }
}

fn named_fields(reg: &Registry, fs: &[Named<Format>]) -> String {
    let parts: Vec<_> = fs
        .iter()
        .map(|f| format!("`{}`: {}", f.name, type_name(reg, &f.value)))
        .collect();
    parts.join(", ")
}

/// The wire type of `f` as PROTOCOL.md names it ("Conventions" of the chat
/// layer), with a link to a named type's table.
fn type_name(reg: &Registry, f: &Format) -> String {
    match f {
        Format::TypeName(name) => {
            let kind = match reg.get(name) {
                Some(ContainerFormat::Enum(_)) => "enum",
                _ => "struct",
            };
            format!("[`{name}`](#{}-{kind})", name.to_lowercase())
        }
        Format::Bool => "`bool`".into(),
        Format::U8 => "`u8`".into(),
        Format::U32 => "`u32`".into(),
        Format::U64 => "`u64`".into(),
        Format::Str => "`string`".into(),
        Format::Bytes => "`bytes`".into(),
        Format::Option(inner) => format!("option of {}", type_name(reg, inner)),
        Format::Seq(inner) => format!("vec of {}", type_name(reg, inner)),
        other => panic!(
            "no wire-type name for {other:?}: add one in protocol_doc/schema.rs and \
             describe its encoding in PROTOCOL.md (chat layer, conventions)"
        ),
    }
}
