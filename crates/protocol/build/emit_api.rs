//! Emits the per-API tables: the `ApiKey` enum, the version facts of each API, and the
//! `Request` and `Response` enums that dispatch decode and encode by API key.

use std::fmt::Write as _;

use crate::emit::snake;
use crate::parse::ApiDef;

/// Generates `apis.rs`.
pub fn emit(apis: &[ApiDef]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "/// The Kafka APIs this crate has message definitions for."
    );
    let _ = writeln!(
        o,
        "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]"
    );
    let _ = writeln!(o, "#[repr(i16)]\npub enum ApiKey {{");
    for a in apis {
        let _ = writeln!(
            o,
            "    /// `{}`, API key {}.\n    {} = {},",
            a.name, a.key, a.name, a.key
        );
    }
    let _ = writeln!(o, "}}\n");

    let _ = writeln!(o, "impl ApiKey {{");
    let _ = writeln!(o, "    /// Every API key, in numeric order.");
    let list: Vec<String> = apis.iter().map(|a| format!("ApiKey::{}", a.name)).collect();
    let _ = writeln!(
        o,
        "    pub const ALL: &'static [ApiKey] = &[{}];\n",
        list.join(", ")
    );
    let _ = writeln!(o, "    /// The API with numeric key `key`, if we know it.");
    let _ = writeln!(
        o,
        "    pub fn from_i16(key: i16) -> Option<ApiKey> {{\n        match key {{"
    );
    for a in apis {
        let _ = writeln!(o, "            {} => Some(ApiKey::{}),", a.key, a.name);
    }
    let _ = writeln!(o, "            _ => None,\n        }}\n    }}\n");
    let _ = writeln!(o, "    /// The API's name as the protocol guide spells it.");
    let _ = writeln!(
        o,
        "    pub fn name(self) -> &'static str {{\n        match self {{"
    );
    for a in apis {
        let _ = writeln!(o, "            ApiKey::{} => {:?},", a.name, a.name);
    }
    let _ = writeln!(o, "        }}\n    }}\n");
    let _ = writeln!(o, "    /// The versions this crate decodes and encodes.");
    let _ = writeln!(
        o,
        "    pub fn supported(self) -> VersionRange {{\n        match self {{"
    );
    for a in apis {
        let _ = writeln!(
            o,
            "            ApiKey::{} => VersionRange {{ min: {}, max: {} }},",
            a.name, a.supported.lo, a.supported.hi
        );
    }
    let _ = writeln!(o, "        }}\n    }}\n");
    let _ = writeln!(o, "    /// The first flexible version, if any.");
    let _ = writeln!(
        o,
        "    pub fn flexible_from(self) -> Option<i16> {{\n        match self {{"
    );
    for a in apis {
        let v = if a.flexible.is_empty() {
            "None".to_string()
        } else {
            format!("Some({})", a.flexible.lo)
        };
        let _ = writeln!(o, "            ApiKey::{} => {v},", a.name);
    }
    let _ = writeln!(o, "        }}\n    }}\n}}\n");

    let _ = writeln!(
        o,
        "/// Every API and the versions of it we decode and encode, in API key order."
    );
    let _ = writeln!(
        o,
        "pub static SUPPORTED_VERSIONS: &[(ApiKey, VersionRange)] = &["
    );
    for a in apis {
        let _ = writeln!(
            o,
            "    (ApiKey::{}, VersionRange {{ min: {}, max: {} }}),",
            a.name, a.supported.lo, a.supported.hi
        );
    }
    let _ = writeln!(o, "];\n");

    for (kind, field) in [("Request", "request"), ("Response", "response")] {
        let _ = writeln!(o, "/// A decoded {field} body of any supported API.");
        let _ = writeln!(o, "#[derive(Debug, Clone, PartialEq)]\npub enum {kind} {{");
        for a in apis {
            let m = if kind == "Request" {
                &a.request
            } else {
                &a.response
            };
            let _ = writeln!(
                o,
                "    /// A `{}` {field}.\n    {}(crate::messages::{}::{}),",
                a.name,
                a.name,
                snake(&m.name),
                m.name
            );
        }
        let _ = writeln!(o, "}}\n");
        let _ = writeln!(o, "impl {kind} {{");
        let _ = writeln!(o, "    /// The API this {field} belongs to.");
        let _ = writeln!(
            o,
            "    pub fn api_key(&self) -> ApiKey {{\n        match self {{"
        );
        for a in apis {
            let _ = writeln!(
                o,
                "            {kind}::{}(_) => ApiKey::{},",
                a.name, a.name
            );
        }
        let _ = writeln!(o, "        }}\n    }}\n");
        let _ = writeln!(
            o,
            "    /// Decodes a {field} body of `api` at `version`; byte fields share `buf`'s memory."
        );
        let _ = writeln!(
            o,
            "    pub fn decode(api: ApiKey, version: i16, buf: &mut bytes::Bytes) -> Result<Self, crate::DecodeError> {{\n        Ok(match api {{"
        );
        for a in apis {
            let _ = writeln!(
                o,
                "            ApiKey::{n} => {kind}::{n}(crate::Message::decode(buf, version)?),",
                n = a.name
            );
        }
        let _ = writeln!(o, "        }})\n    }}\n");
        let _ = writeln!(o, "    /// Encodes this {field} body at `version`.");
        let _ = writeln!(
            o,
            "    pub fn encode(&self, out: &mut crate::Output, version: i16) -> Result<(), crate::EncodeError> {{\n        match self {{"
        );
        for a in apis {
            let _ = writeln!(
                o,
                "            {kind}::{}(m) => crate::Message::encode(m, out, version),",
                a.name
            );
        }
        let _ = writeln!(o, "        }}\n    }}\n");
        let _ = writeln!(
            o,
            "    /// Calls `f` with every `error_code` of this {field}, nested ones included."
        );
        let _ = writeln!(
            o,
            "    pub fn visit_error_codes(&self, f: &mut dyn FnMut(i16)) {{\n        match self {{"
        );
        for a in apis {
            let _ = writeln!(
                o,
                "            {kind}::{}(m) => m.visit_error_codes(f),",
                a.name
            );
        }
        let _ = writeln!(o, "        }}\n    }}\n}}\n");
    }
    o
}
