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
