//! Template recursion, found at load. A template that includes itself (directly or through other
//! templates), a layout that includes the template extending it, or a macro that calls itself
//! (directly or through other macros) makes Tera recurse until the stack overflows, which aborts
//! the process (SIGABRT, exit 134), mid-send, with messages delivered but not logged. Tera itself
//! only refuses `{% extends %}` cycles. So the loaded templates are read as a graph (a template
//! or macro → what it includes, extends or calls) and any cycle reachable from the templates a
//! campaign renders is refused with the cycle named. Recursive macros are refused even when a
//! condition would end them: whether it does depends on the data, and one recipient's data must
//! not be able to end the run.

use std::collections::{BTreeMap, BTreeSet};

use tera::Tera;
use tera::ast::{ExprVal, Node};

use super::tera_ast::{self, Visit};

/// A template, or a macro in a template file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Vertex {
    Template(String),
    Macro { file: String, name: String },
}

impl Vertex {
    fn file(&self) -> &str {
        match self {
            Vertex::Template(name) | Vertex::Macro { file: name, .. } => name,
        }
    }

    fn label(&self) -> String {
        match self {
            Vertex::Template(name) => name.clone(),
            Vertex::Macro { file, name } => format!("{name} (macro in {file})"),
        }
    }
}

/// What one template or macro body refers to, as written.
enum Reference {
    Include(Vec<String>),
    Call { namespace: String, name: String },
}

/// The first `{% extends %}` cycle among `files` (Tera's names, later files replacing earlier
/// ones of the same name), as [`find`] gives it. It must be found before the files are given to
/// Tera: tera 1.20's own check only notices a cycle through the template it starts from, and from
/// a template that extends into a cycle (`email.html` → `a.html` ⇄ `b.html`) it recurses until the
/// stack overflows. Files that cannot be read or parsed are left for Tera to report.
pub fn extends_cycle(files: &[(std::path::PathBuf, Option<String>)]) -> Option<(String, String)> {
    let mut parents: BTreeMap<String, String> = BTreeMap::new();
    for (path, name) in files {
        let Some(name) = name else { continue };
        let parent = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| tera::Template::new(name, None, &text).ok())
            .and_then(|t| t.parent);
        match parent {
            Some(parent) => parents.insert(name.clone(), parent),
            None => parents.remove(name),
        };
    }
    let edges: BTreeMap<Vertex, BTreeSet<Vertex>> = parents
        .into_iter()
        .map(|(name, parent)| {
            let to = BTreeSet::from([Vertex::Template(parent)]);
            (Vertex::Template(name), to)
        })
        .collect();
    let mut done = BTreeSet::new();
    for start in edges.keys() {
        if let Some(cycle) = visit(&edges, start.clone(), &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

/// The first cycle reachable from `roots`: the template file it starts in, and the cycle as
/// `a.html → b.html → a.html`.
pub fn find(tera: &mut Tera, roots: &[&str]) -> Option<(String, String)> {
    let references = references(tera);
    let mut edges: BTreeMap<Vertex, BTreeSet<Vertex>> = BTreeMap::new();
    for (from, refs) in references {
        let file = from.file().to_string();
        let targets = edges.entry(from).or_default();
        for reference in refs {
            targets.extend(resolve(tera, &file, reference));
        }
    }
    for (name, template) in &tera.templates {
        if let Some(parent) = &template.parent {
            let from = Vertex::Template(name.clone());
            edges
                .entry(from)
                .or_default()
                .insert(Vertex::Template(parent.clone()));
        }
    }
    let mut done = BTreeSet::new();
    for root in roots {
        let mut path = Vec::new();
        if let Some(cycle) = visit(
            &edges,
            Vertex::Template(root.to_string()),
            &mut path,
            &mut done,
        ) {
            return Some(cycle);
        }
    }
    None
}

/// Depth-first search; `path` holds the vertices being visited.
fn visit(
    edges: &BTreeMap<Vertex, BTreeSet<Vertex>>,
    vertex: Vertex,
    path: &mut Vec<Vertex>,
    done: &mut BTreeSet<Vertex>,
) -> Option<(String, String)> {
    if let Some(start) = path.iter().position(|v| *v == vertex) {
        let mut cycle: Vec<String> = path[start..].iter().map(Vertex::label).collect();
        cycle.push(vertex.label());
        return Some((vertex.file().to_string(), cycle.join(" → ")));
    }
    if done.contains(&vertex) {
        return None;
    }
    path.push(vertex.clone());
    for next in edges.get(&vertex).into_iter().flatten() {
        if let Some(cycle) = visit(edges, next.clone(), path, done) {
            return Some(cycle);
        }
    }
    path.pop();
    done.insert(vertex);
    None
}

/// The includes and macro calls of every template body and macro, as written.
fn references(tera: &mut Tera) -> Vec<(Vertex, Vec<Reference>)> {
    let mut found = Vec::new();
    for (name, template) in tera.templates.iter_mut() {
        let mut refs = Vec::new();
        for node in &mut template.ast {
            // A macro's body runs only when it is called: it is a vertex of its own.
            if !matches!(node, Node::MacroDefinition(..)) {
                tera_ast::node(node, &mut |v| collect(v, &mut refs));
            }
        }
        found.push((Vertex::Template(name.clone()), refs));
        for (macro_name, definition) in &mut template.macros {
            let mut refs = Vec::new();
            tera_ast::macro_definition(definition, &mut |v| collect(v, &mut refs));
            let vertex = Vertex::Macro {
                file: name.clone(),
                name: macro_name.clone(),
            };
            found.push((vertex, refs));
        }
    }
    found
}

fn collect(visit: Visit<'_>, refs: &mut Vec<Reference>) {
    match visit {
        Visit::Include(names) => refs.push(Reference::Include(names.to_vec())),
        Visit::Expr(ExprVal::MacroCall(call)) => refs.push(Reference::Call {
            namespace: call.namespace.clone(),
            name: call.name.clone(),
        }),
        Visit::Expr(_) => {}
    }
}

/// The vertices a reference written in `file` leads to: every included template that exists, and
/// the macro a call names (`self::` is `file`, another namespace one of its imports or its
/// parents' imports).
fn resolve(tera: &Tera, file: &str, reference: Reference) -> Vec<Vertex> {
    match reference {
        Reference::Include(names) => names
            .into_iter()
            .filter(|n| tera.templates.contains_key(n))
            .map(Vertex::Template)
            .collect(),
        Reference::Call { namespace, name } => {
            let Some(template) = tera.templates.get(file) else {
                return Vec::new();
            };
            let target = if namespace == "self" {
                Some(file.to_string())
            } else {
                std::iter::once(template)
                    .chain(
                        template
                            .parents
                            .iter()
                            .filter_map(|p| tera.templates.get(p)),
                    )
                    .flat_map(|t| &t.imported_macro_files)
                    .find(|(_, ns)| *ns == namespace)
                    .map(|(f, _)| f.clone())
            };
            target
                .filter(|f| {
                    tera.templates
                        .get(f)
                        .is_some_and(|t| t.macros.contains_key(&name))
                })
                .map(|file| Vertex::Macro { file, name })
                .into_iter()
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cycle(templates: &[(&str, &str)]) -> Option<String> {
        let mut tera = Tera::default();
        tera.add_raw_templates(templates.to_vec()).unwrap();
        find(&mut tera, &[templates[0].0]).map(|(_, cycle)| cycle)
    }

    #[test]
    fn finds_includes_and_macro_calls_that_loop() {
        assert_eq!(
            cycle(&[("e", "{% include \"e\" %}")]).as_deref(),
            Some("e → e")
        );
        assert_eq!(
            cycle(&[("e", "{% include \"a\" %}"), ("a", "{% include \"e\" %}")]).as_deref(),
            Some("e → a → e")
        );
        let recursive = "{% macro m() %}{{ self::m() }}{% endmacro %}{{ self::m() }}";
        assert_eq!(
            cycle(&[("e", recursive)]).as_deref(),
            Some("m (macro in e) → m (macro in e)")
        );
    }

    #[test]
    fn finds_an_extends_cycle_that_tera_would_recurse_into() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for (name, text) in [("e", "e"), ("a", "b"), ("b", "a")] {
            let path = dir.path().join(name);
            std::fs::write(&path, format!("{{% extends \"{text}\" %}}")).unwrap();
            files.push((path, Some(name.to_string())));
        }
        files[0].1 = Some("email".into());
        let (_, cycle) = extends_cycle(&files).unwrap();
        assert_eq!(cycle, "a → b → a");
    }

    #[test]
    fn a_shared_partial_and_an_unused_loop_are_fine() {
        let ok = [
            (
                "e",
                "{% import \"m\" as m %}{% include \"p\" %}{% include \"p\" %}{{ m::a() }}",
            ),
            ("p", "partial"),
            (
                "m",
                "{% macro a() %}{{ self::b() }}{% endmacro %}{% macro b() %}b{% endmacro %}",
            ),
            ("unused", "{% include \"unused\" %}"),
        ];
        assert_eq!(cycle(&ok), None);
    }
}
