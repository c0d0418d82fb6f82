//! Parser for the message definition format in `crates/protocol/messages/*.sb`.
//!
//! One file describes one API. The first non-comment line is the API header:
//!
//! ```text
//! api Produce key=0 valid=0-12 flexible=9+ supported=3-9
//! ```
//!
//! followed by a `request` and a `response` section. Every field is one line, indented by
//! two spaces per nesting level:
//!
//! ```text
//! <snake_name> <type> <versions> [null=<versions>] [tag=<n>@<versions>] [default=<value>]
//! ```
//!
//! Types are `int8 int16 uint16 int32 int64 float64 bool string bytes records uuid`, a
//! struct name in CamelCase (its fields follow, indented one level deeper), or `[]T` for an
//! array of either. Versions are `N`, `N+`, `N-M` or `none`. `#` starts a comment line.

use std::fmt;

/// An inclusive range of versions, possibly empty (`none`) or open-ended (`N+`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Versions {
    pub lo: i16,
    pub hi: i16,
}

impl Versions {
    pub const NONE: Versions = Versions { lo: 1, hi: 0 };

    pub fn parse(s: &str) -> Result<Self, String> {
        let num = |t: &str| {
            t.parse::<i16>()
                .map_err(|e| format!("bad version `{t}`: {e}"))
        };
        if s == "none" {
            Ok(Self::NONE)
        } else if let Some(lo) = s.strip_suffix('+') {
            Ok(Versions {
                lo: num(lo)?,
                hi: i16::MAX,
            })
        } else if let Some((lo, hi)) = s.split_once('-') {
            Ok(Versions {
                lo: num(lo)?,
                hi: num(hi)?,
            })
        } else {
            let v = num(s)?;
            Ok(Versions { lo: v, hi: v })
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lo > self.hi
    }

    pub fn intersect(&self, other: &Versions) -> Versions {
        Versions {
            lo: self.lo.max(other.lo),
            hi: self.hi.min(other.hi),
        }
    }

    /// A Rust boolean expression over `version` that is true inside this range, given that
    /// `version` is known to lie within `within`.
    pub fn condition(&self, within: &Versions) -> String {
        let r = self.intersect(within);
        if r.is_empty() {
            return "false".into();
        }
        match (r.lo > within.lo, r.hi < within.hi) {
            (false, false) => "true".into(),
            (true, false) => format!("version >= {}", r.lo),
            (false, true) => format!("version <= {}", r.hi),
            (true, true) if r.lo == r.hi => format!("version == {}", r.lo),
            (true, true) => format!("version >= {} && version <= {}", r.lo, r.hi),
        }
    }
}

impl fmt::Display for Versions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            write!(f, "none")
        } else if self.hi == i16::MAX {
            write!(f, "{}+", self.lo)
        } else if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

/// A field's wire type.
#[derive(Clone, Debug, PartialEq)]
pub enum Ty {
    Int8,
    Int16,
    Uint16,
    Int32,
    Int64,
    Float64,
    Bool,
    String,
    Bytes,
    Records,
    Uuid,
    Struct(String),
    Array(Box<Ty>),
}

impl Ty {
    fn parse(s: &str) -> Result<Self, String> {
        if let Some(inner) = s.strip_prefix("[]") {
            let inner = Ty::parse(inner)?;
            if matches!(inner, Ty::Array(_) | Ty::Records | Ty::Bytes) {
                return Err(format!("unsupported array element type in `{s}`"));
            }
            return Ok(Ty::Array(Box::new(inner)));
        }
        Ok(match s {
            "int8" => Ty::Int8,
            "int16" => Ty::Int16,
            "uint16" => Ty::Uint16,
            "int32" => Ty::Int32,
            "int64" => Ty::Int64,
            "float64" => Ty::Float64,
            "bool" => Ty::Bool,
            "string" => Ty::String,
            "bytes" => Ty::Bytes,
            "records" => Ty::Records,
            "uuid" => Ty::Uuid,
            other if other.starts_with(|c: char| c.is_ascii_uppercase()) => {
                Ty::Struct(other.to_string())
            }
            other => return Err(format!("unknown type `{other}`")),
        })
    }

    /// The struct this type names, directly or as an array element.
    pub fn struct_name(&self) -> Option<&str> {
        match self {
            Ty::Struct(n) => Some(n),
            Ty::Array(inner) => inner.struct_name(),
            _ => None,
        }
    }
}

/// One field of a struct.
#[derive(Clone, Debug)]
pub struct Field {
    pub name: String,
    pub ty: Ty,
    pub versions: Versions,
    pub nullable: Versions,
    pub tag: Option<(u32, Versions)>,
    pub default: Option<String>,
}

/// A struct: the message itself or a nested struct of it.
#[derive(Clone, Debug)]
pub struct StructDef {
    pub name: String,
    pub fields: Vec<Field>,
}

/// A request or response message: its top-level struct first, then nested structs.
#[derive(Clone, Debug)]
pub struct MessageDef {
    pub name: String,
    pub structs: Vec<StructDef>,
}

/// One API: header facts plus its two messages.
#[derive(Clone, Debug)]
pub struct ApiDef {
    pub name: String,
    pub key: i16,
    pub valid: Versions,
    pub flexible: Versions,
    pub supported: Versions,
    pub request: MessageDef,
    pub response: MessageDef,
}

struct Line<'a> {
    no: usize,
    indent: usize,
    text: &'a str,
}

/// Parses one definition file.
pub fn parse_api(src: &str) -> Result<ApiDef, String> {
    let mut lines = Vec::new();
    for (i, raw) in src.lines().enumerate() {
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = raw.len() - trimmed.len();
        if indent % 2 != 0 {
            return Err(format!(
                "line {}: indentation must be a multiple of two",
                i + 1
            ));
        }
        lines.push(Line {
            no: i + 1,
            indent: indent / 2,
            text: trimmed.trim_end(),
        });
    }
    let mut it = lines.iter().peekable();
    let header = it.next().ok_or("empty definition")?;
    let mut tokens = header.text.split_whitespace();
    if tokens.next() != Some("api") {
        return Err(format!("line {}: expected `api <Name> key=..`", header.no));
    }
    let name = tokens.next().ok_or("api name missing")?.to_string();
    let (mut key, mut valid, mut flexible, mut supported) = (None, None, None, None);
    for t in tokens {
        let (k, v) = t
            .split_once('=')
            .ok_or_else(|| format!("bad token `{t}`"))?;
        match k {
            "key" => key = Some(v.parse::<i16>().map_err(|e| e.to_string())?),
            "valid" => valid = Some(Versions::parse(v)?),
            "flexible" => flexible = Some(Versions::parse(v)?),
            "supported" => supported = Some(Versions::parse(v)?),
            _ => return Err(format!("line {}: unknown key `{k}`", header.no)),
        }
    }
    let valid = valid.ok_or("valid= missing")?;
    let supported = supported.ok_or("supported= missing")?;
    if supported.intersect(&valid) != supported {
        return Err(format!(
            "{name}: supported {supported} outside valid {valid}"
        ));
    }
    let mut messages = Vec::new();
    while let Some(line) = it.next() {
        let kind = match (line.indent, line.text) {
            (0, "request") => "Request",
            (0, "response") => "Response",
            _ => {
                return Err(format!(
                    "line {}: expected `request` or `response`",
                    line.no
                ));
            }
        };
        let mut body = Vec::new();
        while let Some(l) = it.peek() {
            if l.indent == 0 {
                break;
            }
            body.push(it.next().ok_or("unreachable")?);
        }
        let msg_name = format!("{name}{kind}");
        let mut structs = Vec::new();
        let mut pos = 0;
        let fields = parse_fields(&body, &mut pos, 1, &mut structs)?;
        structs.insert(
            0,
            StructDef {
                name: msg_name.clone(),
                fields,
            },
        );
        check_unique(&structs)?;
        messages.push(MessageDef {
            name: msg_name,
            structs,
        });
    }
    let [request, response]: [MessageDef; 2] = messages
        .try_into()
        .map_err(|_| format!("{name}: need one request and one response"))?;
    Ok(ApiDef {
        name,
        key: key.ok_or("key= missing")?,
        valid,
        flexible: flexible.unwrap_or(Versions::NONE),
        supported,
        request,
        response,
    })
}

fn parse_fields(
    body: &[&Line<'_>],
    pos: &mut usize,
    depth: usize,
    structs: &mut Vec<StructDef>,
) -> Result<Vec<Field>, String> {
    let mut fields = Vec::new();
    while let Some(line) = body.get(*pos) {
        if line.indent < depth {
            break;
        }
        if line.indent > depth {
            return Err(format!("line {}: unexpected indentation", line.no));
        }
        *pos += 1;
        let field = parse_field(line)?;
        if let Some(struct_name) = field.ty.struct_name() {
            let children = parse_fields(body, pos, depth + 1, structs)?;
            if children.is_empty() {
                return Err(format!(
                    "line {}: struct `{struct_name}` has no fields",
                    line.no
                ));
            }
            structs.push(StructDef {
                name: struct_name.to_string(),
                fields: children,
            });
        }
        fields.push(field);
    }
    Ok(fields)
}

fn parse_field(line: &Line<'_>) -> Result<Field, String> {
    let err = |m: String| format!("line {}: {m}", line.no);
    let mut tokens = line.text.split_whitespace();
    let name = tokens
        .next()
        .ok_or_else(|| err("field name missing".into()))?;
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(err(format!("field name `{name}` must be snake_case")));
    }
    let ty = Ty::parse(tokens.next().ok_or_else(|| err("type missing".into()))?).map_err(err)?;
    let versions = Versions::parse(
        tokens
            .next()
            .ok_or_else(|| err("versions missing".into()))?,
    )
    .map_err(err)?;
    let mut field = Field {
        name: name.to_string(),
        ty,
        versions,
        nullable: Versions::NONE,
        tag: None,
        default: None,
    };
    for t in tokens {
        let (k, v) = t
            .split_once('=')
            .ok_or_else(|| err(format!("bad token `{t}`")))?;
        match k {
            "null" => field.nullable = Versions::parse(v).map_err(err)?.intersect(&versions),
            "tag" => {
                let (n, vs) = v
                    .split_once('@')
                    .ok_or_else(|| err("tag=<n>@<versions>".into()))?;
                let n = n.parse::<u32>().map_err(|e| err(e.to_string()))?;
                field.tag = Some((n, Versions::parse(vs).map_err(err)?));
            }
            "default" => field.default = Some(v.to_string()),
            _ => return Err(err(format!("unknown attribute `{k}`"))),
        }
    }
    let nullable_ty = matches!(
        field.ty,
        Ty::String | Ty::Bytes | Ty::Records | Ty::Array(_)
    );
    if !field.nullable.is_empty() && !nullable_ty {
        return Err(err(format!("`{name}`: type cannot be nullable")));
    }
    if matches!(field.ty, Ty::Records) && field.nullable.is_empty() {
        return Err(err(format!("`{name}`: records fields must be nullable")));
    }
    Ok(field)
}

fn check_unique(structs: &[StructDef]) -> Result<(), String> {
    for (i, s) in structs.iter().enumerate() {
        if structs[..i].iter().any(|o| o.name == s.name) {
            return Err(format!("struct `{}` defined twice", s.name));
        }
        let mut tags: Vec<u32> = s.fields.iter().filter_map(|f| f.tag.map(|t| t.0)).collect();
        tags.sort_unstable();
        if tags.windows(2).any(|w| w[0] == w[1]) {
            return Err(format!("struct `{}` repeats a tag", s.name));
        }
    }
    Ok(())
}
