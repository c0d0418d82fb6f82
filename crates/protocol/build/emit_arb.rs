//! Emits proptest strategies (test builds only) that generate values valid for a given
//! version: fields absent in that version keep their defaults, and `None` is generated only
//! where the version allows null.

use std::fmt::Write as _;

use crate::emit::{field_default, field_ty, ident, snake};
use crate::parse::{ApiDef, Field, MessageDef, StructDef, Ty, Versions};

fn strategy(ty: &Ty, module: &str) -> String {
    match ty {
        Ty::Int8 => "any::<i8>().boxed()".into(),
        Ty::Int16 => "any::<i16>().boxed()".into(),
        Ty::Uint16 => "any::<u16>().boxed()".into(),
        Ty::Int32 => "any::<i32>().boxed()".into(),
        Ty::Int64 => "any::<i64>().boxed()".into(),
        Ty::Float64 => "(-1.0e9f64..1.0e9f64).boxed()".into(),
        Ty::Bool => "any::<bool>().boxed()".into(),
        Ty::Uuid => "any::<[u8; 16]>().boxed()".into(),
        Ty::String => "\"[a-z0-9._-]{0,8}\".boxed()".into(),
        Ty::Bytes | Ty::Records => "vec(any::<u8>(), 0..16).prop_map(Bytes::from).boxed()".into(),
        Ty::Struct(n) => format!("{}(version)", fn_name(module, n)),
        Ty::Array(inner) => format!("vec({}, 0..3).boxed()", strategy(inner, module)),
    }
}

fn field_strategy(f: &Field, within: &Versions, module: &str) -> String {
    let present = f.versions.condition(within);
    let value = if f.nullable.is_empty() {
        strategy(&f.ty, module)
    } else {
        let nullable = f.nullable.condition(within);
        format!(
            "if {nullable} {{ option::of({s}).boxed() }} else {{ {s}.prop_map(Some).boxed() }}",
            s = strategy(&f.ty, module)
        )
    };
    format!(
        "if {present} {{ {value} }} else {{ Just::<{}>({}).boxed() }}",
        field_ty(f),
        field_default(f)
    )
}

fn emit_struct(out: &mut String, api: &ApiDef, module: &str, s: &StructDef) {
    let ty = format!("crate::messages::{module}::{}", s.name);
    let _ = writeln!(
        out,
        "pub(crate) fn {}(version: i16) -> BoxedStrategy<{ty}> {{",
        fn_name(module, &s.name)
    );
    let _ = writeln!(out, "    use crate::messages::{module}::*;");
    let chunks: Vec<&[Field]> = s.fields.chunks(8).collect();
    let mut tuple = Vec::new();
    let mut pattern = Vec::new();
    for chunk in &chunks {
        let strategies: Vec<String> = chunk
            .iter()
            .map(|f| field_strategy(f, &api.valid, module))
            .collect();
        tuple.push(format!("({},)", strategies.join(", ")));
        let names: Vec<String> = chunk.iter().map(|f| ident(&f.name)).collect();
        pattern.push(format!("({},)", names.join(", ")));
    }
    let names: Vec<String> = s.fields.iter().map(|f| ident(&f.name)).collect();
    let _ = writeln!(
        out,
        "    ({},).prop_map(move |({},)| {} {{ {} }}).boxed()\n}}\n",
        tuple.join(", "),
        pattern.join(", "),
        s.name,
        names.join(", ")
    );
}

/// The strategy function for struct `name` of message module `module`.
fn fn_name(module: &str, name: &str) -> String {
    let s = snake(name);
    if s == module {
        format!("arb_{module}")
    } else {
        format!("arb_{module}_{s}")
    }
}

/// Emits strategies for every struct of a message.
pub fn emit_message(out: &mut String, api: &ApiDef, msg: &MessageDef) {
    let module = snake(&msg.name);
    for s in &msg.structs {
        emit_struct(out, api, &module, s);
    }
}
