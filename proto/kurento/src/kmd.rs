//! The KMD (Kurento module descriptor) model: what a `*.kmd.json` file declares, and several
//! modules merged into the one namespace a server sees. Read by the generators (ours) and the
//! conformance check (ours and upstream 7.3.0).
//!
//! Upstream files are not strict JSON (raw newlines in strings, `//` comments), hence
//! [`parse_lenient`]; our own descriptors are strict JSON and go through the same function.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// One `*.kmd.json` file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Module {
    /// Absent in upstream's per-class `elements.<Class>.kmd.json` files.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub remote_classes: Vec<RemoteClass>,
    #[serde(default)]
    pub complex_types: Vec<ComplexType>,
    #[serde(default)]
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteClass {
    pub name: String,
    #[serde(default)]
    pub doc: String,
    pub extends: Option<String>,
    #[serde(default, rename = "abstract")]
    pub is_abstract: bool,
    pub constructor: Option<Constructor>,
    #[serde(default)]
    pub properties: Vec<Member>,
    #[serde(default)]
    pub methods: Vec<Method>,
    /// Names of the events this class raises (subclasses inherit them).
    #[serde(default)]
    pub events: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Constructor {
    #[serde(default)]
    pub params: Vec<Member>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Method {
    pub name: String,
    #[serde(default)]
    pub doc: String,
    #[serde(default)]
    pub params: Vec<Member>,
    #[serde(rename = "return")]
    pub returns: Option<Return>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Return {
    #[serde(rename = "type")]
    pub type_name: String,
}

/// A parameter, a class property, a complex-type property or an event property: they share
/// one shape in KMD, each kind using a subset of the flags.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    #[serde(default)]
    pub doc: String,
    #[serde(default)]
    pub optional: bool,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default, rename = "final")]
    pub is_final: bool,
    pub default_value: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComplexType {
    pub name: String,
    #[serde(default)]
    pub doc: String,
    /// `ENUM` or `REGISTER`.
    pub type_format: String,
    pub extends: Option<String>,
    #[serde(default)]
    pub values: Vec<String>,
    #[serde(default)]
    pub properties: Vec<Member>,
}

impl ComplexType {
    pub fn is_enum(&self) -> bool {
        self.type_format == "ENUM"
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    pub name: String,
    #[serde(default)]
    pub doc: String,
    pub extends: Option<String>,
    #[serde(default)]
    pub properties: Vec<Member>,
}

/// A KMD type expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeRef<'a> {
    /// `String`, `boolean`, `int`, `int64`, `float`, `double`, or a class/complex type name.
    Named(&'a str),
    /// `T[]`
    Array(Box<TypeRef<'a>>),
    /// `T<>`: a JSON object with string keys.
    Map(Box<TypeRef<'a>>),
}

impl<'a> TypeRef<'a> {
    pub fn parse(text: &'a str) -> Self {
        if let Some(inner) = text.strip_suffix("[]") {
            TypeRef::Array(Box::new(TypeRef::parse(inner)))
        } else if let Some(inner) = text.strip_suffix("<>") {
            TypeRef::Map(Box::new(TypeRef::parse(inner)))
        } else {
            TypeRef::Named(text)
        }
    }

    /// The class or complex type name at the bottom of the expression.
    pub fn leaf(&self) -> &'a str {
        match self {
            TypeRef::Named(n) => n,
            TypeRef::Array(t) | TypeRef::Map(t) => t.leaf(),
        }
    }
}

pub const PRIMITIVES: &[&str] = &["String", "boolean", "int", "int64", "float", "double"];

/// The Rust type of a KMD primitive (one of [`PRIMITIVES`]), for both generators.
pub fn primitive_rust_type(name: &str) -> Option<&'static str> {
    Some(match name {
        "String" => "String",
        "boolean" => "bool",
        "int" => "i32",
        "int64" => "i64",
        "float" => "f32",
        "double" => "f64",
        _ => return None,
    })
}

/// Several modules merged into one namespace, as the server sees them.
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub classes: BTreeMap<String, RemoteClass>,
    pub complex_types: BTreeMap<String, ComplexType>,
    pub events: BTreeMap<String, Event>,
}

impl Model {
    /// Merges modules; a name declared twice is an error (it would be ambiguous on the wire).
    pub fn merge(modules: Vec<Module>) -> Result<Self, String> {
        let mut model = Model::default();
        for module in modules {
            for c in module.remote_classes {
                insert_unique(&mut model.classes, c.name.clone(), c, &module.name)?;
            }
            for t in module.complex_types {
                insert_unique(&mut model.complex_types, t.name.clone(), t, &module.name)?;
            }
            for e in module.events {
                insert_unique(&mut model.events, e.name.clone(), e, &module.name)?;
            }
        }
        Ok(model)
    }

    /// `name` followed by its ancestors, nearest first. Stops at a cycle or unknown parent.
    pub fn class_chain<'m>(&'m self, name: &str) -> Vec<&'m RemoteClass> {
        let mut chain: Vec<&RemoteClass> = Vec::new();
        let mut next = self.classes.get(name);
        while let Some(class) = next {
            if chain.iter().any(|c| c.name == class.name) {
                break;
            }
            chain.push(class);
            next = class.extends.as_deref().and_then(|p| self.classes.get(p));
        }
        chain
    }

    /// Properties of an event or REGISTER type including inherited ones, base first.
    pub fn event_properties<'m>(&'m self, name: &str) -> Vec<&'m Member> {
        let chain = ancestry(name, |n| self.events.get(n).map(|e| (&e.properties, e.extends.as_deref())));
        flatten_members(chain)
    }

    pub fn register_properties<'m>(&'m self, name: &str) -> Vec<&'m Member> {
        let chain = ancestry(name, |n| self.complex_types.get(n).map(|t| (&t.properties, t.extends.as_deref())));
        flatten_members(chain)
    }

    /// Whether `name` is `ancestor` or derives from it (REGISTER types).
    pub fn register_derives_from(&self, name: &str, ancestor: &str) -> bool {
        let mut next = Some(name);
        let mut hops = 0;
        while let Some(n) = next {
            if n == ancestor {
                return true;
            }
            hops += 1;
            if hops > self.complex_types.len() {
                return false;
            }
            next = self.complex_types.get(n).and_then(|t| t.extends.as_deref());
        }
        false
    }
}

fn insert_unique<T>(map: &mut BTreeMap<String, T>, key: String, value: T, module: &str) -> Result<(), String> {
    if map.contains_key(&key) {
        return Err(format!("`{key}` is declared twice (again in module `{module}`)"));
    }
    map.insert(key, value);
    Ok(())
}

type Level<'m> = (&'m Vec<Member>, Option<&'m str>);

/// Walks `extends` links; returns member lists nearest first, cycle-safe.
fn ancestry<'m>(name: &str, lookup: impl Fn(&str) -> Option<Level<'m>>) -> Vec<&'m Vec<Member>> {
    let mut seen: Vec<String> = Vec::new();
    let mut levels = Vec::new();
    let mut next = Some(name.to_owned());
    while let Some(n) = next {
        if seen.contains(&n) {
            break;
        }
        match lookup(&n) {
            Some((members, parent)) => {
                levels.push(members);
                next = parent.map(str::to_owned);
                seen.push(n);
            }
            None => break,
        }
    }
    levels
}

/// Base members first; a redeclared name keeps the base position with the derived type.
fn flatten_members(levels_nearest_first: Vec<&Vec<Member>>) -> Vec<&Member> {
    let mut out: Vec<&Member> = Vec::new();
    for level in levels_nearest_first.into_iter().rev() {
        for m in level {
            match out.iter().position(|o| o.name == m.name) {
                Some(i) => out[i] = m,
                None => out.push(m),
            }
        }
    }
    out
}

/// Parses KMD text, tolerating what upstream files contain beyond JSON.
pub fn parse_lenient(text: &str) -> Result<Module, String> {
    serde_json::from_str(&to_strict_json(text)).map_err(|e| e.to_string())
}

/// Strips `//` comments outside strings and escapes raw control characters inside strings.
pub fn to_strict_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            match c {
                '\\' => {
                    out.push(c);
                    if let Some(escaped) = chars.next() {
                        out.push(escaped);
                    }
                }
                '"' => {
                    in_string = false;
                    out.push(c);
                }
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        } else if c == '/' && chars.peek() == Some(&'/') {
            for skipped in chars.by_ref() {
                if skipped == '\n' {
                    out.push('\n');
                    break;
                }
            }
        } else {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

/// Reads and merges every `*.kmd.json` in `dir` (not recursive) whose file name passes `keep`.
/// Returns the model and the files read, sorted by name.
pub fn load_dir(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<(Model, Vec<std::path::PathBuf>), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".kmd.json") && keep(n)))
        .collect();
    files.sort();
    let mut modules = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        modules.push(parse_lenient(&text).map_err(|e| format!("{}: {e}", file.display()))?);
    }
    Ok((Model::merge(modules)?, files))
}
