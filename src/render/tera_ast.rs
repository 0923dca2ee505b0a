//! A walk over the templates Tera has parsed. tera 1 exposes them (`Tera::templates`,
//! `Template::{ast, macros, blocks, blocks_definitions}`, `tera::ast`), and two checks need to see
//! every include and every expression: the recursion check ([`super::cycles`]) and the template
//! guards ([`super::tera_safety`]), which rewrite `/` and `%` into calls that refuse zero.

use tera::Template;
use tera::ast::{Expr, ExprVal, MacroDefinition, Node};

/// What the walk meets, in source order; an expression after its operands.
pub enum Visit<'a> {
    /// `{% include %}` and the template names it tries.
    Include(&'a [String]),
    Expr(&'a mut ExprVal),
}

/// Everything in a template: its body, its macros and its blocks (Tera keeps copies of the
/// blocks and macros apart from the body, and renders from those copies).
pub fn template(t: &mut Template, f: &mut dyn FnMut(Visit<'_>)) {
    nodes(&mut t.ast, f);
    for definition in t.macros.values_mut() {
        macro_definition(definition, f);
    }
    for block in t.blocks.values_mut() {
        nodes(&mut block.body, f);
    }
    for definitions in t.blocks_definitions.values_mut() {
        for (_, block) in definitions {
            nodes(&mut block.body, f);
        }
    }
}

pub fn nodes(nodes: &mut [Node], f: &mut dyn FnMut(Visit<'_>)) {
    for n in nodes {
        node(n, f);
    }
}

pub fn node(node: &mut Node, f: &mut dyn FnMut(Visit<'_>)) {
    match node {
        Node::VariableBlock(_, e) => expr(e, f),
        Node::MacroDefinition(_, definition, _) => macro_definition(definition, f),
        Node::Include(_, names, _) => f(Visit::Include(names)),
        Node::Set(_, set) => expr(&mut set.value, f),
        Node::FilterSection(_, section, _) => {
            for arg in section.filter.args.values_mut() {
                expr(arg, f);
            }
            nodes(&mut section.body, f);
        }
        Node::Block(_, block, _) => nodes(&mut block.body, f),
        Node::Forloop(_, forloop, _) => {
            expr(&mut forloop.container, f);
            nodes(&mut forloop.body, f);
            if let Some(empty) = &mut forloop.empty_body {
                nodes(empty, f);
            }
        }
        Node::If(branches, _) => {
            for (_, condition, body) in &mut branches.conditions {
                expr(condition, f);
                nodes(body, f);
            }
            if let Some((_, body)) = &mut branches.otherwise {
                nodes(body, f);
            }
        }
        Node::Super
        | Node::Text(_)
        | Node::Extends(..)
        | Node::ImportMacro(..)
        | Node::Raw(..)
        | Node::Break(_)
        | Node::Continue(_)
        | Node::Comment(..) => {}
    }
}

pub fn macro_definition(definition: &mut MacroDefinition, f: &mut dyn FnMut(Visit<'_>)) {
    for default in definition.args.values_mut().flatten() {
        expr(default, f);
    }
    nodes(&mut definition.body, f);
}

fn expr(e: &mut Expr, f: &mut dyn FnMut(Visit<'_>)) {
    for filter in &mut e.filters {
        for arg in filter.args.values_mut() {
            expr(arg, f);
        }
    }
    value(&mut e.val, f);
}

fn value(v: &mut ExprVal, f: &mut dyn FnMut(Visit<'_>)) {
    match v {
        ExprVal::Math(m) => {
            expr(&mut m.lhs, f);
            expr(&mut m.rhs, f);
        }
        ExprVal::Logic(l) => {
            expr(&mut l.lhs, f);
            expr(&mut l.rhs, f);
        }
        ExprVal::In(i) => {
            expr(&mut i.lhs, f);
            expr(&mut i.rhs, f);
        }
        ExprVal::Test(t) => t.args.iter_mut().for_each(|a| expr(a, f)),
        ExprVal::MacroCall(c) => c.args.values_mut().for_each(|a| expr(a, f)),
        ExprVal::FunctionCall(c) => c.args.values_mut().for_each(|a| expr(a, f)),
        ExprVal::Array(items) => items.iter_mut().for_each(|a| expr(a, f)),
        ExprVal::StringConcat(c) => c.values.iter_mut().for_each(|v| value(v, f)),
        ExprVal::String(_)
        | ExprVal::Int(_)
        | ExprVal::Float(_)
        | ExprVal::Bool(_)
        | ExprVal::Ident(_) => {}
    }
    f(Visit::Expr(v));
}
