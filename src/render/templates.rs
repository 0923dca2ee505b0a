//! Tera set-up for one campaign: the shared layouts, the campaign's own templates and the subject,
//! HTML autoescaping on for the HTML template, and strict variables (Tera's default: an undefined
//! variable is an error). Also turns Tera's nested errors into one sentence naming the template,
//! the variable and the CSV line.

use std::path::{Path, PathBuf};

use tera::{Context, Tera};

use crate::campaign::Campaign;
use crate::error::Result;
use crate::invalid;

/// The Tera name of the subject template.
pub const SUBJECT: &str = "subject";

/// Every template a campaign can render or extend, and where their files are (for messages).
pub struct TemplateSet {
    tera: Tera,
    dir: PathBuf,
    layouts: Option<PathBuf>,
}

/// Builds the Tera instance holding every template the campaign can render or extend.
pub fn load(campaign: &Campaign) -> Result<TemplateSet> {
    let mut files: Vec<(PathBuf, Option<String>)> = Vec::new();
    if let Some(layouts) = &campaign.layouts {
        collect(layouts, layouts, &mut files)?;
    }
    // The campaign's own top-level templates (partials included), then the configured ones, which
    // win over a layout of the same name.
    if let Ok(entries) = std::fs::read_dir(&campaign.dir) {
        let mut own: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && is_template(p))
            .collect();
        own.sort();
        for path in own {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            files.push((path, Some(name)));
        }
    }
    files.push((campaign.html.path.clone(), Some(campaign.html.name.clone())));
    if let Some(text) = &campaign.text {
        files.push((text.path.clone(), Some(text.name.clone())));
    }

    let mut set = TemplateSet {
        tera: Tera::default(),
        dir: campaign.dir.clone(),
        layouts: campaign.layouts.clone(),
    };
    let tera = &mut set.tera;
    // Autoescape the HTML template whatever its extension; the text template and subject are not HTML.
    let html_name: &'static str = Box::leak(campaign.html.name.clone().into_boxed_str());
    tera.autoescape_on(vec![".html", ".htm", ".xml", html_name]);
    if let Err(e) = tera.add_template_files(files) {
        return Err(invalid!("{}", set.describe(&e, None)));
    }
    tera.add_raw_template(SUBJECT, &campaign.subject)
        .map_err(|e| {
            invalid!(
                "{}: subject: {}",
                campaign.dir.join("campaign.toml").display(),
                chain(&e)
            )
        })?;
    if let Some(url) = campaign.unsubscribe.as_ref().and_then(|u| u.url.as_deref()) {
        set.tera
            .add_raw_template(super::unsubscribe::TEMPLATE, url)
            .map_err(|e| {
                invalid!(
                    "{}: [unsubscribe] url: {}",
                    campaign.dir.join("campaign.toml").display(),
                    chain(&e)
                )
            })?;
    }
    Ok(set)
}

fn is_template(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("html" | "htm" | "txt" | "xml")
    )
}

/// Adds every template under `dir`, named by its path relative to `root` with `/` separators; a
/// FIFO or device among them is refused (Tera would block reading it).
fn collect(root: &Path, dir: &Path, files: &mut Vec<(PathBuf, Option<String>)>) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            collect(root, &path, files)?;
        } else if is_template(&path) {
            crate::campaign::paths::regular_file(&path)
                .map_err(|why| invalid!("the layouts folder's template {why}"))?;
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            files.push((path, Some(name)));
        }
    }
    Ok(())
}

impl TemplateSet {
    /// Renders `name` with `context`, describing a failure in the user's terms.
    pub fn render(
        &self,
        name: &str,
        context: &Context,
        csv_line: u64,
    ) -> std::result::Result<String, String> {
        self.tera
            .render(name, context)
            .map_err(|e| self.describe(&e, Some(csv_line)))
    }

    /// The file behind a template name: the campaign's own, else the layout's.
    fn file(&self, name: &str) -> String {
        if name == SUBJECT {
            return format!("{} (subject)", self.dir.join("campaign.toml").display());
        }
        if name == super::unsubscribe::TEMPLATE {
            return format!(
                "{} ([unsubscribe] url)",
                self.dir.join("campaign.toml").display()
            );
        }
        let own = self.dir.join(name);
        match &self.layouts {
            Some(layouts) if !own.exists() => layouts.join(name).display().to_string(),
            _ => own.display().to_string(),
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
        if let Some(var) = between(&text, "Variable `", "` not found") {
            return format!(
                "{file}: undefined variable `{var}`{row}: add a `{var}` column to the recipients \
                 CSV, set it under [vars] in campaign.toml, or guard it with {{% if {var} is defined %}}"
            );
        }
        if text.contains("not found") && text.contains("Template") && self.layouts.is_none() {
            return format!(
                "{file}: {text}; no shared templates/ folder was found above the campaign \
                 directory: set `templates` in campaign.toml or CAMPAIGN_TEMPLATES"
            );
        }
        format!("{file}{row}: {text}")
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

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}
