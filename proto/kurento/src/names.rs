//! Naming and formatting rules shared by the generators.

pub fn doc_comment(doc: &str, indent: &str) -> String {
    doc.lines().filter(|l| !l.trim().is_empty()).map(|l| format!("{indent}/// {}\n", l.trim())).collect()
}

pub fn indent(code: &str) -> String {
    code.lines().map(|l| if l.is_empty() { "\n".to_string() } else { format!("    {l}\n") }).collect()
}

pub fn capitalise(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// camelCase (with acronyms such as `ICE`, `E2E`, `IPv4`) to snake_case.
pub fn snake(name: &str) -> String {
    let name = name.replace("IPv", "Ipv");
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || ((prev.is_uppercase() || prev.is_ascii_digit()) && next_lower) {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// Struct field / argument name: snake case, `type` becomes `kind` as in `camview_proto`.
pub fn field_ident(name: &str) -> String {
    match snake(name).as_str() {
        "type" => "kind".into(),
        s @ ("abstract" | "final" | "move" | "ref" | "self" | "match" | "mod" | "loop" | "in" | "fn" | "use"
        | "where") => format!("r#{s}"),
        s => s.into(),
    }
}

/// `NOT_FLOWING` -> `NotFlowing`, `inboundrtp` -> `Inboundrtp`.
pub fn variant_ident(value: &str) -> String {
    value.split(['_', '-', '.']).filter(|p| !p.is_empty()).map(|p| capitalise(&p.to_lowercase())).collect()
}

/// The Rust enum of a KMD enum type with its `ALL` list and `as_str` (the wire strings), as
/// both generators write it; `derives` and, when `serde`, a rename per variant, are theirs.
pub fn enum_with_wire_names(t: &crate::kmd::ComplexType, derives: &str, serde: bool) -> String {
    use std::fmt::Write;
    let name = &t.name;
    let variants: Vec<(String, &String)> = t.values.iter().map(|v| (variant_ident(v), v)).collect();
    let mut s = doc_comment(&t.doc, "");
    let _ = writeln!(s, "#[derive({derives})]");
    let _ = writeln!(s, "pub enum {name} {{");
    for (ident, wire) in &variants {
        if serde {
            let _ = writeln!(s, "    #[serde(rename = {wire:?})]");
        }
        let _ = writeln!(s, "    {ident},");
    }
    let _ = writeln!(s, "}}\n\nimpl {name} {{");
    let all: Vec<String> = variants.iter().map(|(i, _)| format!("{name}::{i}")).collect();
    let _ = writeln!(s, "    pub const ALL: &'static [{name}] = &[{}];\n", all.join(", "));
    s += "    /// The wire string.\n    pub const fn as_str(self) -> &'static str {\n        match self {\n";
    for (ident, wire) in &variants {
        let _ = writeln!(s, "            {name}::{ident} => {wire:?},");
    }
    s += "        }\n    }\n}\n\n";
    s
}
