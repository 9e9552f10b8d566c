//! Conformance of a model with Kurento 7.3.0's own descriptors: every class, method, parameter,
//! property, event and complex type we declare exists upstream with the same name, type,
//! hierarchy and flags. Both ends are generated from our one model, so checking it checks both.
//!
//! Where the reference lives: `../shared/kurento/kmd/` next to the repository checkout (the
//! upstream `core.kmd.json` and `elements*.kmd.json`; the `6.18.0/` subfolder is not read). It is
//! reference data CI always has beside the checkout; the repository keeps only our descriptors.

use crate::kmd::{self, Member, Model};
use std::path::PathBuf;

/// `../shared/kurento/kmd` relative to the repository root (this crate is `proto/kurento`).
pub fn reference_dir() -> PathBuf {
    crate::descriptors_dir().join("../../../shared/kurento/kmd")
}

/// Upstream 7.3.0: `core.kmd.json` and `elements*.kmd.json` at the top of [`reference_dir`].
pub fn reference_model() -> Result<Model, String> {
    let dir = reference_dir();
    if !dir.join("core.kmd.json").is_file() {
        return Err(format!(
            "the reference Kurento descriptors are missing: expected {}/core.kmd.json (the shared/ folder next to the checkout)",
            dir.display()
        ));
    }
    let keep = |name: &str| name == "core.kmd.json" || name.starts_with("elements");
    Ok(kmd::load_dir(&dir, keep)?.0)
}

/// Every way `ours` departs from `reference`, as readable lines.
pub fn problems(ours: &Model, reference: &Model) -> Vec<String> {
    let mut problems = Vec::new();
    for class in ours.classes.values() {
        let Some(upstream) = reference.classes.get(&class.name) else {
            problems.push(format!("class {} does not exist upstream", class.name));
            continue;
        };
        let at = |what: &str| format!("{}.{what}", class.name);
        if class.extends != upstream.extends {
            problems.push(format!("class {} extends {:?}, upstream {:?}", class.name, class.extends, upstream.extends));
        }
        if class.is_abstract != upstream.is_abstract {
            problems.push(format!(
                "class {} abstract={}, upstream {}",
                class.name, class.is_abstract, upstream.is_abstract
            ));
        }
        match (&class.constructor, &upstream.constructor) {
            (Some(ctor), Some(up)) => compare_params(&at("constructor"), &ctor.params, &up.params, &mut problems),
            (Some(_), None) => problems.push(format!("class {} has no constructor upstream", class.name)),
            (None, _) => {}
        }
        for method in &class.methods {
            let Some(up) = upstream.methods.iter().find(|m| m.name == method.name) else {
                problems.push(format!("method {} does not exist upstream", at(&method.name)));
                continue;
            };
            compare_params(&at(&method.name), &method.params, &up.params, &mut problems);
            let (ret, up_ret) =
                (method.returns.as_ref().map(|r| &r.type_name), up.returns.as_ref().map(|r| &r.type_name));
            if ret != up_ret {
                problems.push(format!("method {} returns {ret:?}, upstream {up_ret:?}", at(&method.name)));
            }
        }
        for property in &class.properties {
            let Some(up) = upstream.properties.iter().find(|p| p.name == property.name) else {
                problems.push(format!("property {} does not exist upstream", at(&property.name)));
                continue;
            };
            compare_type(&at(&property.name), property, up, &mut problems);
            if (up.read_only || up.is_final) && !(property.read_only || property.is_final) {
                problems
                    .push(format!("property {} is read-only upstream; a setter would be rejected", at(&property.name)));
            }
        }
        for event in &class.events {
            if !upstream.events.contains(event) {
                problems.push(format!("class {} does not raise {event} upstream", class.name));
            }
        }
    }
    for ty in ours.complex_types.values() {
        let Some(up) = reference.complex_types.get(&ty.name) else {
            problems.push(format!("complex type {} does not exist upstream", ty.name));
            continue;
        };
        if ty.type_format != up.type_format || ty.extends != up.extends {
            problems.push(format!(
                "complex type {} is {} extends {:?}, upstream {} extends {:?}",
                ty.name, ty.type_format, ty.extends, up.type_format, up.extends
            ));
        }
        if ty.is_enum() && ty.values != up.values {
            problems.push(format!("enum {} has values {:?}, upstream {:?}", ty.name, ty.values, up.values));
        }
        compare_members(&format!("complex type {}", ty.name), &ty.properties, &up.properties, &mut problems);
    }
    for event in ours.events.values() {
        let Some(up) = reference.events.get(&event.name) else {
            problems.push(format!("event {} does not exist upstream", event.name));
            continue;
        };
        if event.extends != up.extends {
            problems.push(format!("event {} extends {:?}, upstream {:?}", event.name, event.extends, up.extends));
        }
        compare_members(&format!("event {}", event.name), &event.properties, &up.properties, &mut problems);
    }
    problems
}

/// Our parameters exist upstream with the same type, and every parameter upstream requires
/// is declared by us (otherwise the generated call could never succeed).
fn compare_params(at: &str, ours: &[Member], upstream: &[Member], problems: &mut Vec<String>) {
    compare_members(at, ours, upstream, problems);
    for up in upstream.iter().filter(|p| !p.optional) {
        match ours.iter().find(|p| p.name == up.name) {
            None => problems.push(format!("{at}: required upstream parameter {} is missing", up.name)),
            Some(p) if p.optional => problems.push(format!("{at}: parameter {} is required upstream", up.name)),
            Some(_) => {}
        }
    }
}

fn compare_members(at: &str, ours: &[Member], upstream: &[Member], problems: &mut Vec<String>) {
    for member in ours {
        match upstream.iter().find(|u| u.name == member.name) {
            None => problems.push(format!("{at}: {} does not exist upstream", member.name)),
            Some(up) => compare_type(&format!("{at}: {}", member.name), member, up, problems),
        }
    }
}

fn compare_type(at: &str, ours: &Member, upstream: &Member, problems: &mut Vec<String>) {
    if ours.type_name != upstream.type_name {
        problems.push(format!("{at} has type {}, upstream {}", ours.type_name, upstream.type_name));
    }
}
