//! Build script: parses the message definitions in `messages/` and generates the codec
//! (`messages.rs`), the API tables and enums (`apis.rs`) and test strategies
//! (`arbitrary.rs`) into `OUT_DIR`.

mod emit;
mod emit_api;
mod emit_arb;
mod parse;

use std::path::PathBuf;
use std::{env, fs};

fn main() {
    if let Err(e) = run() {
        eprintln!("streambus-protocol build: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?).join("messages");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sb"))
        .collect();
    paths.sort();
    let mut apis = Vec::new();
    for path in &paths {
        println!("cargo:rerun-if-changed={}", path.display());
        let src = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        apis.push(parse::parse_api(&src).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    apis.sort_by_key(|a| a.key);

    let mut messages = String::new();
    let mut arbitrary = String::new();
    for api in &apis {
        for msg in [&api.request, &api.response] {
            emit::emit_message(&mut messages, api, msg);
            emit_arb::emit_message(&mut arbitrary, api, msg);
        }
    }
    let out = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?);
    let write = |name: &str, text: &str| {
        fs::write(out.join(name), text).map_err(|e| format!("{name}: {e}"))
    };
    arbitrary.push_str("/// Calls `$m!(module, Type, strategy_fn)` for every message.\n");
    arbitrary.push_str("macro_rules! for_each_message {\n    ($m:ident) => {\n");
    for api in &apis {
        for msg in [&api.request, &api.response] {
            let module = emit::snake(&msg.name);
            arbitrary.push_str(&format!(
                "        $m!({module}, {}, arb_{module});\n",
                msg.name
            ));
        }
    }
    arbitrary.push_str("    };\n}\n");
    write("messages.rs", &messages)?;
    write("arbitrary.rs", &arbitrary)?;
    write("apis.rs", &emit_api::emit(&apis))?;
    Ok(())
}
