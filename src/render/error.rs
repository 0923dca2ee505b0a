//! Why one recipient's message was not rendered: the step that failed and one sentence naming the
//! template or file and the CSV line. The run goes on without that recipient (the dry run lists
//! it, a send logs it `failed` with `not rendered: …`, `check` reports it). What kind of failure
//! it is, is asked with predicates, as for the crate's [`crate::Error`].

/// The step of a recipient's render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The CSV row itself (too large, an address that does not parse).
    Row,
    /// Tera: the subject, HTML, text and unsubscribe templates.
    Template,
    Css,
    Images,
    /// The attachments (a per-recipient file missing, refused or too large).
    Attachments,
    Text,
    Mime,
    Signing,
}

impl Step {
    /// The step in the words a message uses.
    fn name(self) -> &'static str {
        match self {
            Step::Row => "the CSV row",
            Step::Template => "Tera",
            Step::Css => "css-inline",
            Step::Images => "the images",
            Step::Attachments => "the attachments",
            Step::Text => "the text part",
            Step::Mime => "MIME (lettre)",
            Step::Signing => "DKIM signing",
        }
    }
}

/// One recipient's render failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    step: Step,
    /// A panic in a dependency (a bug), not a property of the data or the template.
    internal: bool,
    message: String,
    /// For a per-recipient attachment whose file is missing: its template, for `check` to count
    /// the recipients who lack their file.
    pub(super) missing_attachment: Option<String>,
}

impl RenderError {
    pub(super) fn new(step: Step, message: impl Into<String>) -> RenderError {
        RenderError {
            step,
            internal: false,
            message: message.into(),
            missing_attachment: None,
        }
    }

    /// A template failed on this recipient's data.
    pub(super) fn template(message: impl Into<String>) -> RenderError {
        RenderError::new(Step::Template, message)
    }

    /// A panic in `step` on this recipient's data, with the panic's own words.
    pub(super) fn internal(step: Step, why: &str) -> RenderError {
        RenderError {
            step,
            internal: true,
            message: format!(
                "internal error in {} (a bug; please report it): {why}",
                step.name()
            ),
            missing_attachment: None,
        }
    }

    pub fn step(&self) -> Step {
        self.step
    }

    /// A template failed on this recipient's data (an undefined variable, a filter on an empty
    /// value, a division by zero, a size limit): the data or the template needs fixing, and
    /// sending again as they are fails again.
    pub fn is_template(&self) -> bool {
        self.step == Step::Template && !self.internal
    }

    /// An image the page names may not be embedded or cannot be read.
    pub fn is_image(&self) -> bool {
        self.step == Step::Images && !self.internal
    }

    /// The row itself cannot be rendered (too large, an address that does not parse).
    pub fn is_row(&self) -> bool {
        self.step == Step::Row
    }

    /// The template of the per-recipient attachment whose file this recipient lacks.
    pub fn missing_attachment(&self) -> Option<&str> {
        self.missing_attachment.as_deref()
    }

    /// A bug: a dependency panicked on this recipient's data.
    pub fn is_internal(&self) -> bool {
        self.internal
    }
}

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RenderError {}
