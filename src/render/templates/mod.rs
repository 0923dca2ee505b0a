//! Tera set-up for one campaign: the shared layouts, the campaign's own templates and the subject,
//! HTML autoescaping on for the HTML template, and strict variables (Tera's default: an undefined
//! variable is an error). Also turns Tera's nested errors into one sentence naming the template,
//! the variable and the CSV line.
//!
//! Only files inside their folder are read ([`files`]): a template in the campaign directory, or a
//! layout in the layouts folder, that is a symlink leading out of it is refused, and so is a
//! layouts folder too large or deep to be one ([`MAX_LAYOUT_ENTRIES`], [`MAX_LAYOUT_DEPTH`]); a
//! folder reached twice through symlinks (a loop) is read once. Loaded templates are checked for recursion
//! ([`super::cycles`]) and get the guards of [`super::tera_safety`].
//!
//! When no layouts folder is found, the layouts of this repository's `templates/` folder, built
//! into the binary ([`BUILT_IN_LAYOUTS`]), stand in for it: a campaign made anywhere on disk (by
//! `campaign new`, say) can still extend `base.html`.

use std::path::PathBuf;

use tera::{Context, Tera};

mod files;

use files::{LayoutWalk, own_templates};

use super::error::RenderError;
use super::tera_safety::{self, Capped, Limit};
use crate::campaign::Campaign;
use crate::error::Result;
use crate::invalid;

/// The Tera name of the subject template.
pub const SUBJECT: &str = "subject";

/// The most entries (files and folders) read from a layouts folder.
pub const MAX_LAYOUT_ENTRIES: usize = 10_000;
/// The most folders nested in a layouts folder.
pub const MAX_LAYOUT_DEPTH: usize = 16;

/// The layouts used when no layouts folder is found: every file of the repository's `templates/`
/// folder, by the name a template extends or includes it with. A unit test checks the list
/// against the folder, so a layout added there and not here fails it.
pub const BUILT_IN_LAYOUTS: &[(&str, &str)] = &[
    ("base.html", include_str!("../../../templates/base.html")),
    (
        "partials/button.html",
        include_str!("../../../templates/partials/button.html"),
    ),
];

/// Every template a campaign can render or extend, and where their files are (for messages).
pub struct TemplateSet {
    pub(super) tera: Tera,
    dir: PathBuf,
    layouts: Option<PathBuf>,
}

/// Builds the Tera instance holding every template the campaign can render or extend.
pub fn load(campaign: &Campaign) -> Result<TemplateSet> {
    let mut files: Vec<(PathBuf, Option<String>)> = Vec::new();
    if let Some(layouts) = &campaign.layouts {
        files = LayoutWalk::new(layouts).run()?;
    }
    // The campaign's own top-level templates (partials included), then the configured ones, which
    // win over a layout of the same name.
    files.extend(own_templates(&campaign.dir)?);
    files.push((campaign.html.path.clone(), Some(campaign.html.name.clone())));
    if let Some(text) = &campaign.text {
        files.push((text.path.clone(), Some(text.name.clone())));
    }

    let mut set = TemplateSet {
        tera: Tera::default(),
        dir: campaign.dir.clone(),
        layouts: campaign.layouts.clone(),
    };
    // Autoescape the HTML template whatever its extension; the text template and subject are not HTML.
    let html_name: &'static str = Box::leak(campaign.html.name.clone().into_boxed_str());
    set.tera
        .autoescape_on(vec![".html", ".htm", ".xml", html_name]);
    if let Some((first, cycle)) = super::cycles::extends_cycle(&files) {
        return Err(set.recursion(&first, &cycle));
    }
    if campaign.layouts.is_none() {
        // Added first, so that the campaign's own file of the same name replaces one.
        set.tera
            .add_raw_templates(BUILT_IN_LAYOUTS.iter().copied())
            .map_err(|e| invalid!("the built-in layouts: {}", chain(&e)))?;
    }
    if let Err(e) = set.tera.add_template_files(files) {
        return Err(invalid!("{}", set.describe(&e, None)));
    }
    let toml = campaign.dir.join("campaign.toml");
    if let Some(layout) = &campaign.markdown {
        super::markdown::install(&mut set, layout)?;
    }
    set.tera
        .add_raw_template(SUBJECT, &campaign.subject)
        .map_err(|e| invalid!("{}: subject: {}", toml.display(), chain(&e)))?;
    let mut roots = vec![SUBJECT, campaign.html.name.as_str()];
    roots.extend(campaign.markdown.as_ref().map(|_| super::markdown::WRAPPER));
    roots.extend(campaign.text.as_ref().map(|t| t.name.as_str()));
    if let Some(url) = campaign.unsubscribe.as_ref().and_then(|u| u.url.as_deref()) {
        set.tera
            .add_raw_template(super::unsubscribe::TEMPLATE, url)
            .map_err(|e| invalid!("{}: [unsubscribe] url: {}", toml.display(), chain(&e)))?;
        roots.push(super::unsubscribe::TEMPLATE);
    }
    set.guard(&roots)?;
    Ok(set)
}

impl TemplateSet {
    fn recursion(&self, first: &str, cycle: &str) -> crate::Error {
        invalid!(
            "{}: the templates recurse without end: {cycle}; remove the extends, include or \
             macro call that closes the loop (a template may not include or extend itself, and \
             macros may not call themselves, directly or through others)",
            self.file(first)
        )
    }

    /// Refuses recursion reachable from `roots` and installs the guards on every template.
    fn guard(&mut self, roots: &[&str]) -> Result<()> {
        if let Some((first, cycle)) = super::cycles::find(&mut self.tera, roots) {
            return Err(self.recursion(&first, &cycle));
        }
        tera_safety::install(&mut self.tera)
            .map_err(|hidden| invalid!("{}: {hidden}", self.file(&hidden.template)))
    }
}

impl TemplateSet {
    /// The campaign directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Renders `name` with `context`, describing a failure in the user's terms.
    pub fn render(
        &self,
        name: &str,
        context: &Context,
        csv_line: u64,
    ) -> std::result::Result<String, RenderError> {
        let mut out = Capped::default();
        self.tera
            .render_to(name, context, &mut out)
            .map_err(|e| RenderError::template(self.describe(&e, Some(csv_line))))?;
        String::from_utf8(out.0)
            .map_err(|e| RenderError::template(format!("{}: {e}", self.file(name))))
    }

    /// The file behind a template name: the campaign's own, else the layout's.
    fn file(&self, name: &str) -> String {
        if name == SUBJECT {
            return format!("{} (subject)", self.dir.join("campaign.toml").display());
        }
        if name == super::markdown::WRAPPER {
            return format!("{} (layout)", self.dir.join("campaign.toml").display());
        }
        if name == super::unsubscribe::TEMPLATE {
            return format!(
                "{} ([unsubscribe] url)",
                self.dir.join("campaign.toml").display()
            );
        }
        let own = self.dir.join(name);
        match &self.layouts {
            _ if own.exists() => own.display().to_string(),
            Some(layouts) => layouts.join(name).display().to_string(),
            None if BUILT_IN_LAYOUTS.iter().any(|(n, _)| *n == name) => {
                format!("the built-in layout {name}")
            }
            None => own.display().to_string(),
        }
    }

    /// One sentence for a Tera error: the template file, the undefined variable if that is the
    /// problem, the CSV line when rendering for a recipient, and what to do.
    pub fn describe(&self, e: &tera::Error, csv_line: Option<u64>) -> String {
        let text = chain(e);
        // Tera names a file that does not parse by its path in double quotes, an undefined
        // variable by the template being rendered (an included partial, say) after "while
        // rendering", and anything else by the first name in single quotes or backticks.
        let file = match between(&text, "Failed to parse \"", "\"") {
            Some(path) => path.to_string(),
            None => between(&text, "while rendering '", "'")
                .or_else(|| between(&text, "'", "'"))
                .or_else(|| between(&text, "Template `", "`"))
                .map_or_else(|| self.dir.display().to_string(), |name| self.file(name)),
        };
        let row = csv_line.map_or(String::new(), |l| format!(" (recipients line {l})"));
        match Limit::of(e) {
            Some(zero @ Limit::DivisionByZero) => {
                return format!(
                    "{zero} in {file}{row}: check the numbers this recipient's data gives the \
                     template"
                );
            }
            Some(long @ Limit::TooLong) => {
                return format!(
                    "{file}{row}: {long} (the most one message may have): check the loops over \
                     this recipient's data"
                );
            }
            None => {}
        }
        if let Some(var) = between(&text, "Variable `", "` not found") {
            return format!(
                "{file}: undefined variable `{var}`{row}: add a `{var}` column to the recipients \
                 CSV, set it under [vars] in campaign.toml, or guard it with {{% if {var} is defined %}}"
            );
        }
        if is_missing_template(e) {
            return format!(
                "{file}{row}: {}; {}",
                text.trim_end_matches('.'),
                self.where_layouts_come_from()
            );
        }
        format!("{file}{row}: {text}")
    }
}

impl TemplateSet {
    /// For a template that is not found: which layouts were searched, and how to use others.
    fn where_layouts_come_from(&self) -> String {
        match &self.layouts {
            Some(folder) => format!(
                "the layouts come from {}, which replaces the built-in ones: add the file there, \
                 or point `templates` in campaign.toml (or CAMPAIGN_TEMPLATES) at the folder that \
                 holds it",
                folder.display()
            ),
            None => {
                let built_in: Vec<&str> = BUILT_IN_LAYOUTS.iter().map(|(n, _)| *n).collect();
                format!(
                    "no shared templates/ folder was found above the campaign directory, and the \
                     built-in layouts are {}: set `templates` in campaign.toml or \
                     CAMPAIGN_TEMPLATES",
                    built_in.join(" and ")
                )
            }
        }
    }
}

/// Every message in a Tera error's source chain, joined.
fn chain(e: &tera::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.join(": ")
}

/// Whether `e` says a template (an include, an extends' parent) is not loaded, by Tera's kinds.
fn is_missing_template(e: &tera::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(error) = source {
        let kind = error.downcast_ref::<tera::Error>().map(|e| &e.kind);
        if matches!(
            kind,
            Some(tera::ErrorKind::TemplateNotFound(_) | tera::ErrorKind::MissingParent { .. })
        ) {
            return true;
        }
        source = error.source();
    }
    false
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

#[cfg(test)]
mod tests {
    use super::BUILT_IN_LAYOUTS;

    /// Every file of the repository's `templates/` is built in, under its relative path.
    #[test]
    fn every_layout_of_the_templates_folder_is_built_in() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut on_disk = Vec::new();
        let mut folders = vec![root.clone()];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                } else {
                    let rel = path.strip_prefix(&root).unwrap();
                    let text = std::fs::read_to_string(&path).unwrap();
                    on_disk.push((rel.to_string_lossy().into_owned(), text));
                }
            }
        }
        on_disk.sort();
        let mut built_in: Vec<(String, String)> = BUILT_IN_LAYOUTS
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        built_in.sort();
        assert_eq!(built_in, on_disk);
    }
}
