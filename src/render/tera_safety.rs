//! What a template may do, and what one recipient's render may cost. Tera's defaults let a
//! template read any environment variable (`get_env(name="CAMPAIGN_SMTP_PASSWORD")` would put the
//! password in every message), build a list as long as a CSV value asks (`range(end=n)` with
//! n = 3e9 took 9 GB), render output without limit, and print `NaN` for `1/0`. So:
//!
//! * `get_env` sees only variables named `CAMPAIGN_VAR_*`, read once at load;
//! * `range` makes at most [`MAX_RANGE`] items, else that recipient fails;
//! * a rendered template stops at [`MAX_RENDERED_BYTES`] ([`Capped`]), and a recipient's CSV row
//!   may hold at most [`MAX_ROW_BYTES`]: either fails that recipient;
//! * `/` and `%` are rewritten (in Tera's parsed templates) into calls that fail on zero with
//!   "division by zero" instead of rendering `NaN` or Tera's internal dump of the expression.

use std::collections::{BTreeMap, HashMap};

use tera::ast::{ExprVal, FunctionCall, MathExpr, MathOperator};
use tera::{Tera, Value};

use super::tera_ast::{self, Visit};

/// The prefix of the environment variables templates may read with `get_env`.
pub const ENV_PREFIX: &str = "CAMPAIGN_VAR_";
/// The most items one `range(…)` may make.
pub const MAX_RANGE: u64 = 10_000;
/// The most bytes one rendered template (subject, HTML, text) may have: 10 MiB.
pub const MAX_RENDERED_BYTES: usize = 10 * 1024 * 1024;
/// The most bytes the fields of one CSV row may hold together: 1 MiB.
pub const MAX_ROW_BYTES: usize = 1024 * 1024;

/// A limit one recipient's render ran into. It travels in Tera's error chain as a typed source, so
/// [`super::templates`] tells it by type, not by words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `/` or `%` by zero.
    DivisionByZero,
    /// The output passed [`MAX_RENDERED_BYTES`] ([`Capped`]).
    TooLong,
}

impl Limit {
    /// The limit somewhere in `e`'s chain of sources, if any (also inside an I/O error, which is
    /// how Tera carries a failed write to [`Capped`]).
    pub fn of(e: &tera::Error) -> Option<Limit> {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(error) = source {
            let inner = error
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .and_then(|e| e.downcast_ref::<Limit>());
            if let Some(&limit) = error.downcast_ref::<Limit>().or(inner) {
                return Some(limit);
            }
            source = error.source();
        }
        None
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Limit::DivisionByZero => "division by zero",
            Limit::TooLong => "the rendered message is over 10 MiB",
        })
    }
}

impl std::error::Error for Limit {}

const DIVIDE: &str = "__campaign_divide";
const MODULO: &str = "__campaign_modulo";

/// A template that asks `get_env` for a variable outside [`ENV_PREFIX`] by a literal name.
#[derive(Debug)]
pub struct HiddenVariable {
    /// The template's Tera name.
    pub template: String,
    pub variable: String,
}

impl std::fmt::Display for HiddenVariable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "get_env(name=\"{}\"): templates see only environment variables named \
             {ENV_PREFIX}* (so that no secret can reach a message): rename it {ENV_PREFIX}…",
            self.variable
        )
    }
}

/// Replaces Tera's `get_env` and `range`, adds the zero-checking division, and rewrites every `/`
/// and `%` of the loaded templates to use it. Fails when a template asks `get_env` for a variable
/// it may not see by a literal name.
pub fn install(tera: &mut Tera) -> Result<(), HiddenVariable> {
    let visible: BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect();
    tera.register_function("get_env", move |args: &HashMap<String, Value>| {
        get_env(&visible, args).map_err(tera::Error::msg)
    });
    tera.register_function("range", |args: &HashMap<String, Value>| {
        range(args).map_err(tera::Error::msg)
    });
    tera.register_function(DIVIDE, |args: &HashMap<String, Value>| {
        arithmetic(MathOperator::Div, args)
    });
    tera.register_function(MODULO, |args: &HashMap<String, Value>| {
        arithmetic(MathOperator::Modulo, args)
    });
    let mut refused = None;
    for (name, template) in tera.templates.iter_mut() {
        tera_ast::template(template, &mut |visit| {
            if let Visit::Expr(value) = visit {
                if let Some(variable) = hidden_env_name(value) {
                    refused.get_or_insert_with(|| HiddenVariable {
                        template: name.clone(),
                        variable,
                    });
                }
                rewrite_division(value);
            }
        });
    }
    refused.map_or(Ok(()), Err)
}

/// The variable a `get_env` call names literally, when templates may not see it.
fn hidden_env_name(value: &ExprVal) -> Option<String> {
    let ExprVal::FunctionCall(call) = value else {
        return None;
    };
    match call.args.get("name").map(|e| &e.val) {
        Some(ExprVal::String(name)) if call.name == "get_env" && !name.starts_with(ENV_PREFIX) => {
            Some(name.clone())
        }
        _ => None,
    }
}

/// `a / b` → `__campaign_divide(lhs=a, rhs=b)`, and `%` likewise.
fn rewrite_division(value: &mut ExprVal) {
    let ExprVal::Math(MathExpr { operator, .. }) = value else {
        return;
    };
    let name = match operator {
        MathOperator::Div => DIVIDE,
        MathOperator::Modulo => MODULO,
        _ => return,
    };
    let placeholder = ExprVal::Bool(false);
    let ExprVal::Math(math) = std::mem::replace(value, placeholder) else {
        unreachable!("matched above");
    };
    let args = HashMap::from([
        ("lhs".to_string(), *math.lhs),
        ("rhs".to_string(), *math.rhs),
    ]);
    *value = ExprVal::FunctionCall(FunctionCall {
        name: name.to_string(),
        args,
    });
}

fn get_env(
    visible: &BTreeMap<String, String>,
    args: &HashMap<String, Value>,
) -> Result<Value, String> {
    let Some(Value::String(name)) = args.get("name") else {
        return Err("get_env needs name=\"CAMPAIGN_VAR_…\"".into());
    };
    if !name.starts_with(ENV_PREFIX) {
        let hidden = HiddenVariable {
            template: String::new(),
            variable: name.clone(),
        };
        return Err(hidden.to_string());
    }
    match (visible.get(name), args.get("default")) {
        (Some(value), _) => Ok(Value::String(value.clone())),
        (None, Some(default)) => Ok(default.clone()),
        (None, None) => Err(format!(
            "get_env: the environment variable {name} is not set (set it, or give a default=)"
        )),
    }
}

/// Tera's `range(end, start=0, step_by=1)`, refusing more than [`MAX_RANGE`] items.
fn range(args: &HashMap<String, Value>) -> Result<Value, String> {
    let number = |key: &str, default: Option<u64>| match args.get(key) {
        Some(v) => v
            .as_u64()
            .ok_or_else(|| format!("range: {key}={v} is not a whole number ≥ 0")),
        None => default.ok_or_else(|| format!("range needs {key}=")),
    };
    let (start, end, step) = (
        number("start", Some(0))?,
        number("end", None)?,
        number("step_by", Some(1))?,
    );
    if step == 0 {
        return Err("range: step_by=0 would never end".into());
    }
    let items = end.saturating_sub(start).div_ceil(step);
    if items > MAX_RANGE {
        return Err(format!(
            "range(start={start}, end={end}, step_by={step}) would make {} items; a range may \
             make at most {} (a limit on what one recipient's data can cost)",
            crate::campaign::recipients::thousands(items),
            crate::campaign::recipients::thousands(MAX_RANGE)
        ));
    }
    Ok(Value::from(
        (start..end).step_by(step as usize).collect::<Vec<u64>>(),
    ))
}

/// `lhs / rhs` or `lhs % rhs` as Tera computes them, failing on a zero divisor.
fn arithmetic(operator: MathOperator, args: &HashMap<String, Value>) -> tera::Result<Value> {
    let operand = |key: &str| match args.get(key) {
        Some(Value::Number(n)) => Ok(n.clone()),
        other => Err(tera::Error::msg(format!(
            "tried to do math with {}, which is not a number",
            other.map_or("nothing".to_string(), Value::to_string)
        ))),
    };
    let (l, r) = (operand("lhs")?, operand("rhs")?);
    if r.as_f64() == Some(0.0) {
        let zero = Limit::DivisionByZero;
        return Err(tera::Error::chain(zero, zero));
    }
    if operator == MathOperator::Modulo {
        if let (Some(l), Some(r)) = (l.as_i64(), r.as_i64()) {
            return Ok(Value::from(l.wrapping_rem(r)));
        }
        if let (Some(l), Some(r)) = (l.as_u64(), r.as_u64()) {
            return Ok(Value::from(l % r));
        }
    }
    let (l, r) = (
        l.as_f64().unwrap_or(f64::NAN),
        r.as_f64().unwrap_or(f64::NAN),
    );
    let result = if operator == MathOperator::Div {
        l / r
    } else {
        l % r
    };
    if !result.is_finite() {
        return Err(tera::Error::msg(format!(
            "{l} {operator} {r} is not a finite number"
        )));
    }
    if operator == MathOperator::Div && result.fract() == 0.0 && result.abs() < 9.0e15 {
        return Ok(Value::from(result as i64));
    }
    Ok(Value::from(result))
}

/// A rendering target that refuses to grow past [`MAX_RENDERED_BYTES`], so a loop over large data
/// fails its recipient instead of filling memory.
#[derive(Default)]
pub struct Capped(pub Vec<u8>);

impl std::io::Write for Capped {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + bytes.len() > MAX_RENDERED_BYTES {
            return Err(std::io::Error::other(Limit::TooLong));
        }
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str, context: &tera::Context) -> Result<String, String> {
        let mut tera = Tera::default();
        tera.add_raw_template("t", template).unwrap();
        install(&mut tera).map_err(|e| e.to_string())?;
        tera.render("t", context).map_err(|e| {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text += &format!(": {s}");
                source = s.source();
            }
            text
        })
    }

    #[test]
    fn division_keeps_tera_results_and_refuses_zero() {
        let c = tera::Context::new();
        assert_eq!(
            render("{{ 7 / 2 }} {{ 6 / 3 }} {{ 7 % 3 }} {{ 1 + 8 / 4 }}", &c).unwrap(),
            "3.5 2 1 3"
        );
        for zero in [
            "{{ 1 / 0 }}",
            "{{ 5 % 0 }}",
            "{{ 1.5 % 0 }}",
            "{{ 0 / 0.0 }}",
        ] {
            let mut tera = Tera::default();
            tera.add_raw_template("t", zero).unwrap();
            install(&mut tera).unwrap();
            let e = tera.render("t", &c).unwrap_err();
            assert_eq!(Limit::of(&e), Some(Limit::DivisionByZero), "{zero}: {e:?}");
        }
    }

    #[test]
    fn range_is_capped_and_get_env_sees_only_campaign_vars() {
        let c = tera::Context::new();
        assert_eq!(
            render("{% for i in range(end=3) %}{{ i }}{% endfor %}", &c).unwrap(),
            "012"
        );
        let e = render("{{ range(end=3000000000) | length }}", &c).unwrap_err();
        assert!(e.contains("10,000"), "{e}");
        let e = render("{{ get_env(name=\"HOME\") }}", &c).unwrap_err();
        assert!(e.contains("CAMPAIGN_VAR_"), "{e}");
    }
}
