//! Emits the Rust codec for parsed message definitions: one module per message, holding a
//! struct per (nested) struct with `Default`, `read` and `write`, plus the public
//! version-checked `decode` and `encode` on the message itself.

use std::fmt::Write as _;

use crate::parse::{ApiDef, Field, MessageDef, StructDef, Ty, Versions};

/// `ProduceRequest` -> `produce_request`.
pub fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A field name usable as a Rust identifier.
pub fn ident(name: &str) -> String {
    const KEYWORDS: &[&str] = &["type", "match", "ref", "mod", "fn", "self", "struct", "use"];
    if KEYWORDS.contains(&name) {
        format!("r#{name}")
    } else {
        name.to_string()
    }
}

/// The Rust type of a non-nullable value of `ty`.
pub fn base_ty(ty: &Ty) -> String {
    match ty {
        Ty::Int8 => "i8".into(),
        Ty::Int16 => "i16".into(),
        Ty::Uint16 => "u16".into(),
        Ty::Int32 => "i32".into(),
        Ty::Int64 => "i64".into(),
        Ty::Float64 => "f64".into(),
        Ty::Bool => "bool".into(),
        Ty::String => "String".into(),
        Ty::Bytes | Ty::Records => "Bytes".into(),
        Ty::Uuid => "crate::Uuid".into(),
        Ty::Struct(n) => n.clone(),
        Ty::Array(inner) => format!("Vec<{}>", base_ty(inner)),
    }
}

/// The Rust type of a field: `Option<_>` if it is nullable in any version.
pub fn field_ty(f: &Field) -> String {
    if f.nullable.is_empty() {
        base_ty(&f.ty)
    } else {
        format!("Option<{}>", base_ty(&f.ty))
    }
}

/// The default value of a non-null `ty`, honouring an explicit default.
fn base_default(ty: &Ty, default: Option<&str>) -> String {
    match (ty, default) {
        (Ty::Bool, Some(d)) => d.to_string(),
        (Ty::Float64, Some(d)) => format!("{d}_f64"),
        (Ty::Int8 | Ty::Int16 | Ty::Uint16 | Ty::Int32 | Ty::Int64, Some(d)) => {
            format!("{d}_{}", base_ty(ty))
        }
        (Ty::String, Some(d)) if !d.is_empty() => format!("String::from({d:?})"),
        (Ty::Float64, None) => "0.0".into(),
        (Ty::Bool, None) => "false".into(),
        (Ty::Int8 | Ty::Int16 | Ty::Uint16 | Ty::Int32 | Ty::Int64, None) => "0".into(),
        (Ty::String, _) => "String::new()".into(),
        (Ty::Bytes | Ty::Records, _) => "Bytes::new()".into(),
        (Ty::Uuid, _) => "[0u8; 16]".into(),
        (Ty::Struct(n), _) => format!("{n}::default()"),
        (Ty::Array(_), _) => "Vec::new()".into(),
    }
}

/// The default value of a field, as Kafka defines it: `null` only when asked for (or for
/// records), otherwise the type's empty value.
pub fn field_default(f: &Field) -> String {
    let d = f.default.as_deref();
    if f.nullable.is_empty() {
        return base_default(&f.ty, d);
    }
    if d == Some("null") || matches!(f.ty, Ty::Records) {
        "None".into()
    } else {
        format!("Some({})", base_default(&f.ty, d))
    }
}

/// Smallest wire size of one array element, used to bound array counts before reserving.
fn min_size(ty: &Ty) -> usize {
    match ty {
        Ty::Int8 | Ty::Bool => 1,
        Ty::Int16 | Ty::Uint16 => 2,
        Ty::Int32 => 4,
        Ty::Int64 | Ty::Float64 => 8,
        Ty::Uuid => 16,
        _ => 1,
    }
}

/// An expression of type `Result<T, DecodeError>` reading a non-null `ty` from `buf`.
fn read_expr(ty: &Ty) -> String {
    match ty {
        Ty::Int8 => "codec::get_i8(buf)".into(),
        Ty::Int16 => "codec::get_i16(buf)".into(),
        Ty::Uint16 => "codec::get_u16(buf)".into(),
        Ty::Int32 => "codec::get_i32(buf)".into(),
        Ty::Int64 => "codec::get_i64(buf)".into(),
        Ty::Float64 => "codec::get_f64(buf)".into(),
        Ty::Bool => "codec::get_bool(buf)".into(),
        Ty::Uuid => "codec::get_uuid(buf)".into(),
        Ty::String => "codec::get_string(buf, flexible)".into(),
        Ty::Bytes | Ty::Records => "codec::get_bytes(buf, flexible)".into(),
        Ty::Struct(n) => format!("{n}::read(buf, version)"),
        Ty::Array(inner) => format!(
            "codec::get_array(buf, flexible, {}, |buf| {})",
            min_size(inner),
            read_expr(inner)
        ),
    }
}

/// Like [`read_expr`] but for the nullable encoding, yielding `Option<T>`.
fn read_nullable_expr(ty: &Ty) -> String {
    match ty {
        Ty::String => "codec::get_nullable_string(buf, flexible)".into(),
        Ty::Bytes | Ty::Records => "codec::get_nullable_bytes(buf, flexible)".into(),
        Ty::Array(inner) => format!(
            "codec::get_nullable_array(buf, flexible, {}, |buf| {})",
            min_size(inner),
            read_expr(inner)
        ),
        _ => unreachable!("checked by the parser"),
    }
}

fn field_read_expr(f: &Field, within: &Versions) -> String {
    if f.nullable.is_empty() {
        return read_expr(&f.ty);
    }
    match f.nullable.condition(&f.versions.intersect(within)).as_str() {
        "true" => read_nullable_expr(&f.ty),
        "false" => format!("{}.map(Some)", read_expr(&f.ty)),
        cond => format!(
            "if {cond} {{ {} }} else {{ {}.map(Some) }}",
            read_nullable_expr(&f.ty),
            read_expr(&f.ty)
        ),
    }
}

/// The place `v` (an expression of type `&T`) refers to: `&self.x` -> `self.x`, `e` -> `*e`.
fn place(v: &str) -> String {
    match v.strip_prefix('&') {
        Some(p) => p.to_string(),
        None => format!("*{v}"),
    }
}

/// A statement writing the non-null value `v` (an expression of type `&T`) of `ty`.
fn write_stmt(ty: &Ty, v: &str) -> String {
    let p = place(v);
    match ty {
        Ty::Int8 => format!("codec::put_i8(out, {p});"),
        Ty::Int16 => format!("codec::put_i16(out, {p});"),
        Ty::Uint16 => format!("codec::put_u16(out, {p});"),
        Ty::Int32 => format!("codec::put_i32(out, {p});"),
        Ty::Int64 => format!("codec::put_i64(out, {p});"),
        Ty::Float64 => format!("codec::put_f64(out, {p});"),
        Ty::Bool => format!("codec::put_bool(out, {p});"),
        Ty::Uuid => format!("codec::put_uuid(out, {v});"),
        Ty::String => format!("codec::put_string(out, {v}, flexible)?;"),
        Ty::Bytes | Ty::Records => format!("codec::put_bytes(out, {v}, flexible)?;"),
        Ty::Struct(_) => format!("{}.write(out, version)?;", v.strip_prefix('&').unwrap_or(v)),
        Ty::Array(inner) => format!(
            "codec::put_array(out, {v}, flexible, |out, e| {{ {} Ok(()) }})?;",
            write_stmt(inner, "e")
        ),
    }
}

fn write_nullable_stmt(ty: &Ty, v: &str) -> String {
    match ty {
        Ty::String => format!("codec::put_nullable_string(out, {v}.as_deref(), flexible)?;"),
        Ty::Bytes => format!("codec::put_nullable_bytes(out, {v}.as_deref(), flexible)?;"),
        Ty::Records => format!("codec::put_nullable_records(out, {v}.as_ref(), flexible)?;"),
        Ty::Array(inner) => format!(
            "codec::put_nullable_array(out, {v}.as_deref(), flexible, |out, e| {{ {} Ok(()) }})?;",
            write_stmt(inner, "e")
        ),
        _ => unreachable!("checked by the parser"),
    }
}

fn field_write_stmt(f: &Field, within: &Versions) -> String {
    let v = format!("self.{}", ident(&f.name));
    if f.nullable.is_empty() {
        return write_stmt(&f.ty, &format!("&{v}"));
    }
    let non_null = format!(
        "let v = {v}.as_ref().ok_or(EncodeError::NullNotAllowed {{ field: {:?}, version }})?; {}",
        f.name,
        write_stmt(&f.ty, "v")
    );
    match f.nullable.condition(&f.versions.intersect(within)).as_str() {
        "true" => write_nullable_stmt(&f.ty, &v),
        "false" => non_null,
        cond => format!(
            "if {cond} {{ {} }} else {{ {non_null} }}",
            write_nullable_stmt(&f.ty, &v)
        ),
    }
}

fn doc_for(f: &Field) -> String {
    let mut d = format!("Versions {}", f.versions);
    if !f.nullable.is_empty() {
        let _ = write!(d, ", nullable in {}", f.nullable);
    }
    if let Some((tag, tv)) = f.tag {
        let _ = write!(d, ", tagged field {tag} in {tv}");
    }
    if let Some(def) = &f.default {
        let _ = write!(d, ", default {def}");
    }
    d.push('.');
    d
}

/// Emits one struct: definition, `Default`, `read` and `write`.
fn emit_struct(out: &mut String, api: &ApiDef, s: &StructDef, top: bool) {
    let within = api.valid;
    let flex = api.flexible.condition(&within);
    if top {
        let _ = writeln!(
            out,
            "/// The `{}` message of API key {} (`{}`), valid versions {}, flexible {}.",
            s.name, api.key, api.name, api.valid, api.flexible
        );
    } else {
        let _ = writeln!(out, "/// The `{}` struct, nested in this message.", s.name);
    }
    let _ = writeln!(out, "#[derive(Debug, Clone, PartialEq)]");
    let _ = writeln!(out, "pub struct {} {{", s.name);
    for f in &s.fields {
        let _ = writeln!(out, "    /// {}", doc_for(f));
        let _ = writeln!(out, "    pub {}: {},", ident(&f.name), field_ty(f));
    }
    let _ = writeln!(out, "}}\n");

    emit_error_visitor(out, s);
    let _ = writeln!(
        out,
        "impl Default for {} {{\n    fn default() -> Self {{\n        Self {{",
        s.name
    );
    for f in &s.fields {
        let _ = writeln!(out, "            {}: {},", ident(&f.name), field_default(f));
    }
    let _ = writeln!(out, "        }}\n    }}\n}}\n");

    let mut tagged: Vec<&Field> = s.fields.iter().filter(|f| f.tag.is_some()).collect();
    tagged.sort_by_key(|f| f.tag.map(|t| t.0));

    // read
    let _ = writeln!(out, "impl {} {{", s.name);
    let _ = writeln!(
        out,
        "    pub(crate) fn read(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError> {{"
    );
    let _ = writeln!(out, "        let flexible = {flex};");
    let _ = writeln!(out, "        let mut this = Self::default();");
    for f in &s.fields {
        let cond = regular_condition(f, &api.flexible, &within);
        if cond == "false" {
            continue;
        }
        let stmt = format!(
            "this.{} = codec::field({:?}, {})?;",
            ident(&f.name),
            f.name,
            field_read_expr(f, &within)
        );
        let _ = writeln!(out, "        {}", guarded(&cond, &stmt));
    }
    let _ = writeln!(out, "        if flexible {{");
    if tagged.is_empty() {
        let _ = writeln!(out, "            codec::skip_tagged_fields(buf)?;");
    } else {
        let _ = writeln!(out, "            let count = codec::get_uvarint(buf)?;");
        let _ = writeln!(out, "            for _ in 0..count {{");
        let _ = writeln!(out, "                let tag = codec::get_uvarint(buf)?;");
        let _ = writeln!(
            out,
            "                let size = codec::get_uvarint(buf)? as usize;"
        );
        let _ = writeln!(
            out,
            "                let mut data = codec::take(buf, size)?;"
        );
        let _ = writeln!(out, "                match tag {{");
        for f in &tagged {
            let (tag, tv) = f.tag.unwrap_or((0, Versions::NONE));
            let cond = tv.intersect(&f.versions).condition(&within);
            let _ = writeln!(
                out,
                "                    {tag} if {cond} => {{ let buf = &mut data; this.{} = codec::field({:?}, {})?; }}",
                ident(&f.name),
                f.name,
                field_read_expr(f, &within)
            );
        }
        let _ = writeln!(out, "                    _ => {{}}");
        let _ = writeln!(out, "                }}\n            }}");
    }
    let _ = writeln!(out, "        }}\n        Ok(this)\n    }}\n");

    // write
    let _ = writeln!(
        out,
        "    pub(crate) fn write(&self, out: &mut crate::Output, version: i16) -> Result<(), EncodeError> {{"
    );
    let _ = writeln!(out, "        let flexible = {flex};");
    for f in &s.fields {
        let cond = regular_condition(f, &api.flexible, &within);
        if cond == "false" {
            continue;
        }
        let _ = writeln!(
            out,
            "        {}",
            guarded(&cond, &field_write_stmt(f, &within))
        );
    }
    let _ = writeln!(out, "        if flexible {{");
    if tagged.is_empty() {
        let _ = writeln!(out, "            codec::put_uvarint(out, 0);");
    } else {
        let present: Vec<String> = tagged
            .iter()
            .map(|f| {
                let (_, tv) = f.tag.unwrap_or((0, Versions::NONE));
                format!(
                    "({}) && self.{} != {}",
                    tv.intersect(&f.versions).condition(&within),
                    ident(&f.name),
                    field_default(f)
                )
            })
            .collect();
        for (i, p) in present.iter().enumerate() {
            let _ = writeln!(out, "            let present_{i} = {p};");
        }
        let sum: Vec<String> = (0..present.len())
            .map(|i| format!("u32::from(present_{i})"))
            .collect();
        let _ = writeln!(
            out,
            "            codec::put_uvarint(out, {});",
            sum.join(" + ")
        );
        for (i, f) in tagged.iter().enumerate() {
            let (tag, _) = f.tag.unwrap_or((0, Versions::NONE));
            let _ = writeln!(out, "            if present_{i} {{");
            let _ = writeln!(out, "                let mut tmp = crate::Output::new();");
            let _ = writeln!(
                out,
                "                {{ let out = &mut tmp; {} }}",
                field_write_stmt(f, &within)
            );
            let _ = writeln!(
                out,
                "                codec::put_tagged(out, {tag}, tmp.in_place())?;"
            );
            let _ = writeln!(out, "            }}");
        }
    }
    let _ = writeln!(out, "        }}\n        Ok(())\n    }}\n}}\n");
}

/// `visit_error_codes`: every `error_code` of the struct and of the structs nested in it,
/// so the broker can count errors by code without knowing each response's shape.
fn emit_error_visitor(out: &mut String, s: &StructDef) {
    let mut body = Vec::new();
    for f in &s.fields {
        let name = ident(&f.name);
        let nullable = !f.nullable.is_empty();
        let stmt = match (&f.ty, f.name.as_str()) {
            (Ty::Int16, "error_code") => format!("f(self.{name});"),
            (Ty::Struct(_), _) => "x.visit_error_codes(f);".to_string(),
            (Ty::Array(inner), _) if matches!(**inner, Ty::Struct(_)) => {
                "for x in x { x.visit_error_codes(f); }".to_string()
            }
            _ => continue,
        };
        if stmt.starts_with("f(") {
            body.push(stmt);
        } else if nullable {
            body.push(format!("if let Some(x) = &self.{name} {{ {stmt} }}"));
        } else {
            body.push(format!("{{ let x = &self.{name}; {stmt} }}"));
        }
    }
    if body.is_empty() {
        body.push("let _ = f;".to_string());
    }
    let _ = writeln!(out, "impl {} {{", s.name);
    let _ = writeln!(
        out,
        "    /// Calls `f` with every `error_code` here and in the structs nested in this one."
    );
    let _ = writeln!(
        out,
        "    pub fn visit_error_codes(&self, f: &mut dyn FnMut(i16)) {{\n        {}\n    }}\n}}\n",
        body.join("\n        ")
    );
}

/// `stmt`, run only when `cond` holds.
fn guarded(cond: &str, stmt: &str) -> String {
    if cond == "true" {
        stmt.to_string()
    } else {
        format!("if {cond} {{ {stmt} }}")
    }
}

/// The condition under which `f` is a regular (non-tagged) field of the body.
fn regular_condition(f: &Field, flexible: &Versions, within: &Versions) -> String {
    let present = f.versions.condition(within);
    match f.tag {
        None => present,
        Some((_, tv)) => {
            // Tagged in flexible versions within `tv`; regular elsewhere in `versions`.
            let tagged = tv.intersect(flexible);
            if tagged.intersect(&f.versions).intersect(within) == f.versions.intersect(within) {
                "false".into()
            } else {
                format!("({present}) && !({})", tagged.condition(within))
            }
        }
    }
}

/// Emits the module for one message.
pub fn emit_message(out: &mut String, api: &ApiDef, msg: &MessageDef) {
    let module = snake(&msg.name);
    let _ = writeln!(
        out,
        "/// The `{}` message and its nested structs.",
        msg.name
    );
    let _ = writeln!(out, "pub mod {module} {{");
    let _ = writeln!(out, "use bytes::Bytes;");
    let _ = writeln!(out, "use crate::codec;");
    let _ = writeln!(out, "use crate::error::{{DecodeError, EncodeError}};\n");
    for (i, s) in msg.structs.iter().enumerate() {
        emit_struct(out, api, s, i == 0);
    }
    let sup = api.supported;
    let _ = writeln!(
        out,
        "impl crate::Message for {name} {{
    const API_KEY: crate::ApiKey = crate::ApiKey::{api};
    const VERSIONS: crate::VersionRange = crate::VersionRange {{ min: {lo}, max: {hi} }};
    fn decode(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError> {{
        if !<Self as crate::Message>::VERSIONS.contains(version) {{
            return Err(DecodeError::UnsupportedVersion {{ message: {name:?}, version }});
        }}
        Self::read(buf, version)
    }}
    fn encode(&self, out: &mut crate::Output, version: i16) -> Result<(), EncodeError> {{
        if !<Self as crate::Message>::VERSIONS.contains(version) {{
            return Err(EncodeError::UnsupportedVersion {{ message: {name:?}, version }});
        }}
        self.write(out, version)
    }}
}}",
        name = msg.name,
        api = api.name,
        lo = sup.lo,
        hi = sup.hi,
    );
    let _ = writeln!(out, "}}\n");
}
